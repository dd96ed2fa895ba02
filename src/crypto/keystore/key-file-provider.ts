// A master key kept in a file of its own (32 random bytes, base64 or hex), ideally on another disk
// than the data directory. The file is refused unless only its owner can use it: a key readable by
// other accounts on the machine is not a secret.

import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { CustosError, toBase64, utf8 } from "../../core/index.js";
import type { MasterKey, MasterKeyParams, MasterKeyProvider } from "./master-key-provider.js";
import { decodeMasterKey, MASTER_KEY_BYTES, MASTER_KEY_HELP } from "./master-key-provider.js";

// base64 of 32 bytes is 44 characters, hex 64; anything much longer is not a key file.
const MAX_KEY_FILE_BYTES = 1024;

function readKeyFile(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new CustosError(
      "KEY_MISSING",
      `cannot read the master key file ${path} (${code}); ${MASTER_KEY_HELP}`,
    );
  }
  const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
  try {
    // fstat the open descriptor, not the path, so the checked file is the one read.
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new CustosError("CONFIG", `the master key file ${path} is not a regular file`);
    }
    if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
      throw new CustosError(
        "CONFIG",
        `refusing the master key file ${path}: its mode ${mode} lets other users read or change it; run \`chmod 600 ${path}\``,
      );
    }
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_KEY_FILE_BYTES) {
        throw new CustosError("BAD_KEY", `the master key file ${path} is too large to be a key file`);
      }
    }
    return decodeMasterKey(buffer.toString("utf8", 0, length), `the master key file ${path}`);
  } finally {
    buffer.fill(0);
    closeSync(fd);
  }
}

/** A file holding the 32-byte master key in base64 or hex; refused if group or others have any access. */
export class KeyFileProvider implements MasterKeyProvider {
  readonly kind = "key-file";
  readonly path: string;

  constructor(path: string) {
    if (!path) throw new CustosError("CONFIG", "the master key file path is empty");
    this.path = path;
  }

  describe(): string {
    return `the key file ${this.path}`;
  }

  async getMasterKey(_params?: MasterKeyParams): Promise<MasterKey> {
    // The key lives in the file; the keystore records nothing about it (not even the path, which may move).
    return { key: readKeyFile(this.path), params: {} };
  }
}

/** Writes a new key file of 32 random bytes (base64) with mode 0600, durably; refuses to overwrite. */
export function createKeyFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new CustosError("STORE_EXISTS", `refusing to overwrite ${path}: a file is already there`);
    }
    throw error;
  }
  const key = new Uint8Array(randomBytes(MASTER_KEY_BYTES));
  const text = utf8(`${toBase64(key)}\n`);
  key.fill(0);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    text.fill(0);
    closeSync(fd);
  }
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
