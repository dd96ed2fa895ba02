// How the CLI fails: one line `error: <message>` on stderr and a non-zero exit, never a stack trace.

import { CustosError } from "../core/index.js";
import { diskFault } from "../ledger/index.js";

export const EXIT_OK = 0;
/** The command ran and found a problem (verify found tampering). */
export const EXIT_FINDINGS = 1;
/** The command could not run: bad arguments, missing store, missing key. */
export const EXIT_ERROR = 2;

export class UsageError extends CustosError {
  constructor(message: string) {
    super("BAD_ARGUMENT", message);
  }
}

export function describeError(error: unknown): string {
  if (error instanceof CustosError) return error.message;
  // A full or read-only disk under any file a command writes (keystore, state, exports), said plainly.
  const fault = diskFault(
    error,
    (error as { path?: unknown }).path === undefined ? "a file" : String((error as { path?: unknown }).path),
  );
  if (fault) return fault.message;
  if (error instanceof Error && "code" in error && typeof error.code === "string") {
    const code = error.code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR" || code === "ENOTDIR")
      return error.message;
  }
  return `unexpected failure (${error instanceof Error ? error.name : "unknown"}); run with CUSTOS_DEBUG=1 for details`;
}
