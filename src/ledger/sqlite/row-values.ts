// Values read back from SQLite, checked: a column of the wrong type (SQLite accepts any) is corruption,
// reported as STORE_CORRUPT rather than misread.

import { CustosError } from "../../core/index.js";
import type { StoredCheckpoint } from "../storage.js";

export type Row = Record<string, unknown>;

export function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
}

export function checkIndexes(indexes: readonly number[]): void {
  for (const index of indexes) {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new CustosError("BAD_ARGUMENT", `entry index ${index} is not a non-negative safe integer`);
    }
  }
}

export function integer(value: unknown): number {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "bigint" && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be an integer is not");
}

export function toCheckpoint(row: Row): StoredCheckpoint {
  return { size: integer(row.size), note: String(row.note), storedAt: integer(row.stored_at) };
}
