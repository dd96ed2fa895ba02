// Reads many rows as one: the rows' integers and blob lengths as text, and all their blobs back to back
// as one blob. better-sqlite3 gives every BLOB value an ArrayBuffer of its own (about 2 us and a
// tracked allocation each, then the collector's work): 7 ms for a 1,000-record history page with
// contents, 0.5 ms packed; a verify chunk's trail copies 3x faster. `||` and group_concat carry bytes
// as they are (the store conformance test's property test writes random bytes through them).
//
// The two aggregates see the rows in one order, but which order is SQLite's choice (an ORDER BY
// inside group_concat would sort twice more): a caller that needs an order sorts what it unpacks.

import { CustosError } from "../../core/index.js";

export interface Column {
  /** The column (or expression) of the inner query. */
  readonly name: string;
  readonly kind: "integer" | "blob";
}

/** A row's values: an integer column's number; a blob column's bytes (a view), undefined for NULL. */
export type PackedValue = number | Uint8Array | undefined;

/** A blob's length, -1 for NULL, -2 for a value that is not a blob (refused: STORE_CORRUPT). */
const blobLength = (column: string) =>
  `CASE typeof(${column}) WHEN 'blob' THEN length(${column}) WHEN 'null' THEN -1 ELSE -2 END`;

/**
 * The query that reads `inner`'s rows as one row of `meta` (each row's fields, space-separated) and
 * `data` (its blobs). `inner` must select the columns named (an ORDER BY ... LIMIT in it picks the
 * rows; it does not order the result).
 */
export function packedSelect(inner: string, columns: readonly Column[]): string {
  const fields = columns
    .map((c) => (c.kind === "integer" ? `ifnull(${c.name}, '?')` : blobLength(c.name)))
    .join(" || ' ' || ");
  const blobs = columns
    .filter((c) => c.kind === "blob")
    .map((c) => `coalesce(${c.name}, x'')`)
    .join(" || ");
  return `SELECT group_concat(${fields}, ' ') AS meta, CAST(group_concat(${blobs}, '') AS BLOB) AS data FROM (${inner})`;
}

/** The rows of a `packedSelect` reply, each as its columns' values; anything that does not add up is STORE_CORRUPT. */
export function unpackRows(reply: unknown, columns: readonly Column[]): PackedValue[][] {
  const corrupt = () => new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
  if (reply === undefined) return [];
  const { meta, data } = reply as { meta: unknown; data: unknown };
  if (meta === null) return [];
  if (typeof meta !== "string" || !(data === null || data instanceof Uint8Array)) throw corrupt();
  const all = data ?? new Uint8Array(0);
  const fields = meta.split(" ");
  const width = columns.length;
  if (fields.length % width !== 0) throw corrupt();
  const rows: PackedValue[][] = [];
  let offset = 0;
  for (let i = 0; i < fields.length; i += width) {
    const row: PackedValue[] = [];
    for (let c = 0; c < width; c++) {
      const field = fields[i + c]!;
      if (columns[c]!.kind === "integer") {
        if (!/^[0-9]{1,16}$/.test(field)) throw corrupt();
        const n = Number(field);
        if (!Number.isSafeInteger(n)) throw corrupt();
        row.push(n);
        continue;
      }
      const length = Number(field);
      if (length === -1) {
        row.push(undefined);
        continue;
      }
      if (!/^[0-9]{1,10}$/.test(field) || offset + length > all.byteLength) throw corrupt();
      row.push(new Uint8Array(all.buffer, all.byteOffset + offset, length));
      offset += length;
    }
    rows.push(row);
  }
  if (offset !== all.byteLength) throw corrupt();
  return rows;
}
