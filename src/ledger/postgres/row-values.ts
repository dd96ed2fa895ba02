// Values read back from PostgreSQL, checked (a bigint column arrives as text; anything but a safe
// non-negative integer is corruption), and values sent to it.

import { CustosError } from "../../core/index.js";
import type { StoredCheckpoint } from "../storage.js";

export type Row = Record<string, unknown>;

export function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
}

/** bigint columns arrive as decimal text; anything but a safe non-negative integer is corruption. */
export function toIndex(value: unknown): number {
  let n = Number.NaN;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^[0-9]{1,16}$/.test(value)) n = Number(value);
  else if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER))
    n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CustosError("STORE_CORRUPT", "a stored index or size is not a safe non-negative integer");
  }
  return n;
}

export function toCheckpoint(row: Row): StoredCheckpoint {
  return { size: toIndex(row.size), note: String(row.note), storedAt: toIndex(row.stored_at) };
}

export function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function checkIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CustosError("BAD_ARGUMENT", `${what} must be a non-negative safe integer`);
  }
}
