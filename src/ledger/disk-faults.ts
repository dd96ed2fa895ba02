// Disk faults said plainly: SQLite's and the file system's error codes for a full disk, a read-only
// mount and a failing device become STORE_BUSY errors (retryable: space can be freed, a mount made
// writable) that name the fault and what to do, never the data being written. Used by the SQLite store
// for its writes and by commands that write files beside the log (verify's state, the keystore).

import { accessSync, constants, statfsSync } from "node:fs";
import { CustosError } from "../core/index.js";

/** Below this much free space the store is not ready to take writes (a batch, its WAL, a checkpoint). */
export const MIN_FREE_BYTES = 1024 * 1024;

type Fault = "disk full" | "read-only file system" | "I/O error";

function faultOf(code: string): Fault | undefined {
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT") return "disk full";
  if (code.startsWith("SQLITE_READONLY") || code === "EROFS") return "read-only file system";
  if (code.startsWith("SQLITE_IOERR") || code === "EIO") return "I/O error";
  return undefined;
}

const ADVICE: Record<Fault, string> = {
  "disk full": "free space on it; writes resume by themselves",
  "read-only file system":
    "the file system was made read-only (by an operator or after a disk error): check it, then remount it read-write",
  "I/O error": "the disk failed a write: check the device and the system log",
};

/** A disk fault in `error` (by its code) as a STORE_BUSY CustosError, or undefined if it is none. */
export function diskFault(error: unknown, where: string): CustosError | undefined {
  if (error instanceof CustosError) return undefined;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string") return undefined;
  const fault = faultOf(code);
  if (fault === undefined) return undefined;
  return new CustosError("STORE_BUSY", `${fault} (${code}) writing ${where}: ${ADVICE[fault]}`, {
    cause: error,
  });
}

/** Throws `error` as a disk fault where it is one, else as it is. */
export function rethrowDiskFault(error: unknown, where: string): never {
  throw diskFault(error, where) ?? error;
}

/**
 * "ok" if `dir` can take a write now (writable mount and permissions, some free space), else the fault
 * in a few words. Writes nothing: access(2) answers EROFS for a read-only mount.
 */
export function directoryWriteReadiness(dir: string): string {
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    return faultOf(code) ?? (code === "EACCES" ? "no write permission" : `not writable (${code})`);
  }
  try {
    const stats = statfsSync(dir);
    if (stats.bavail * stats.bsize < MIN_FREE_BYTES) return "disk full";
  } catch {
    // statfs is informative only; the write itself reports a full disk.
  }
  return "ok";
}
