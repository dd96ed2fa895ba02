// Crash-safe replacement of a small file: write a temporary file beside the target (mode 0600),
// fsync it, move it into place and fsync the directory, so a reader or a crash sees either the
// old file or the new one, never a mix. A failed write removes its temporary file.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { CustosError } from "../core/index.js";

export interface AtomicWriteOptions {
  /** Refuse (STORE_EXISTS) if the target already exists, checked atomically where the file system can link. */
  readonly exclusive?: boolean;
  /** Default 0600. */
  readonly mode?: number;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or the directory vanished: nothing left to clean
  }
}

function placeExclusively(temp: string, path: string): void {
  try {
    linkSync(temp, path); // fails with EEXIST atomically, unlike exists-then-rename
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new CustosError("STORE_EXISTS", `refusing to overwrite ${path}: it already exists`);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw error;
    // A file system without hard links: fall back to a (racy) check before renaming.
    if (existsSync(path))
      throw new CustosError("STORE_EXISTS", `refusing to overwrite ${path}: it already exists`);
    renameSync(temp, path);
    return;
  }
  removeQuietly(temp);
}

export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(8).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", options.mode ?? 0o600);
  try {
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.exclusive) placeExclusively(temp, path);
    else renameSync(temp, path);
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
