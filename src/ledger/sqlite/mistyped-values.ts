// The values of a SQLite store that have the wrong SQL type (SQLite stores any type in any column, so an
// edit can put text where bytes belong): found by typeof() scans, so `custos verify` names each one
// where it is instead of stopping at the first read that meets it.

import type Database from "better-sqlite3";
import { CustosError } from "../../core/index.js";
import type { MistypedValue } from "../storage.js";

type Row = Record<string, unknown>;

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "a content hash read as binary is not");
}

/** Every mistyped value, from entry index `from` on (tiles and contents: all); `copies` when lookup rows hold trail copies. */
export function findMistypedValues(db: Database.Database, from: number, copies: boolean): MistypedValue[] {
  const found: MistypedValue[] = [];
  const all = (sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as Row[];
  const index = (value: unknown) =>
    typeof value === "number" && Number.isSafeInteger(value) ? { index: value } : {};
  for (const row of all(
    "SELECT idx, typeof(data) AS t FROM entries WHERE idx >= ? AND typeof(data) != 'blob'",
    from,
  ))
    found.push({ table: "entries", column: "data", sqlType: String(row.t), ...index(row.idx) });
  for (const row of all(
    "SELECT level, idx, typeof(hashes) AS t, typeof(level) AS tl, typeof(idx) AS ti FROM tiles WHERE typeof(hashes) != 'blob' OR typeof(level) != 'integer' OR typeof(idx) != 'integer'",
  )) {
    const column = row.t !== "blob" ? "hashes" : row.tl !== "integer" ? "level" : "idx";
    const sqlType = String(column === "hashes" ? row.t : column === "level" ? row.tl : row.ti);
    found.push({
      table: "tiles",
      column,
      sqlType,
      ...index(row.idx),
      ...(typeof row.level === "number" ? { level: row.level } : {}),
    });
  }
  for (const row of all(
    "SELECT CAST(hash AS BLOB) AS h, typeof(hash) AS th, typeof(data) AS td FROM contents WHERE typeof(hash) != 'blob' OR typeof(data) != 'blob'",
  )) {
    const column = row.th !== "blob" ? "hash" : "data";
    found.push({
      table: "contents",
      column,
      sqlType: String(column === "hash" ? row.th : row.td),
      hash: bytes(row.h),
    });
  }
  for (const table of ["lookup", "idempotency"] as const) {
    const columns = table === "lookup" && copies ? ["key", "idx", "entry", "content"] : ["key", "idx"];
    const types = columns.map((c) => `typeof(${c}) AS "${c}"`).join(", ");
    const wrong = columns
      .map((c) =>
        c === "idx"
          ? "typeof(idx) != 'integer'"
          : c === "key"
            ? "typeof(key) != 'blob'"
            : `typeof(${c}) NOT IN ('blob', 'null')`,
      )
      .join(" OR ");
    // An index stored as text sorts after every number: it is read here whatever `from` is.
    for (const row of all(
      `SELECT idx AS i, ${types} FROM ${table} WHERE (idx >= ? OR typeof(idx) != 'integer') AND (${wrong})`,
      from,
    )) {
      const column = columns.find(
        (c) =>
          row[c] !== (c === "idx" ? "integer" : "blob") && !(c !== "key" && c !== "idx" && row[c] === "null"),
      )!;
      found.push({ table, column, sqlType: String(row[column]), ...index(row.i) });
    }
  }
  return found;
}
