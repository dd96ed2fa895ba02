// Lookup reads that keep a join's semantics over the trail copies: a row whose entry the store no
// longer holds is left out and does not count toward the limit, so a caller that treats a short reply
// as the end of a key's history never stops early at a damaged row (the gap then reaches the client,
// whose hash chain fails, and verify names it).

import { CustosError } from "../core/errors.js";
import type { LookupQuery } from "./storage.js";

/** One read of up to `query.limit` lookup rows: the entries kept and the rows read. */
export interface LookupPage<T> {
  readonly kept: T[];
  readonly rowsRead: number;
  /** Index of the last row read (in the query's order). */
  readonly lastIndex: number;
}

/** Reads on past rows left out until `query.limit` entries are kept or the key's range ends. */
export async function readLookup<T>(
  query: LookupQuery,
  read: (query: LookupQuery) => Promise<LookupPage<T>>,
): Promise<T[]> {
  const kept: T[] = [];
  let next = query;
  for (;;) {
    const page = await read(next);
    kept.push(...page.kept);
    const remaining = query.limit - kept.length;
    if (page.rowsRead < next.limit || remaining <= 0) return kept;
    next = query.descending
      ? { ...query, toIndex: page.lastIndex, limit: remaining }
      : { ...query, fromIndex: page.lastIndex + 1, limit: remaining };
  }
}

/** One lookup row of a packed page. */
export interface PackedRow {
  readonly index: number;
  /** undefined: the row keeps no copy (read from the log's own tables). */
  readonly entry: Uint8Array | undefined;
  readonly content: Uint8Array | undefined;
}

/**
 * A page of lookup rows read as one row (the SQLite store; node-postgres reads a page faster as rows,
 * its one large bytea value costing more than the thousands of small ones): `meta` lists each row's
 * "index entryLength contentLength" (-1: NULL, -2: not binary), space-separated, and `data` holds the
 * rows' entries and contents, in the same row order, back to back (null: no bytes at all). The rows
 * come back in the query's order (descending or not) whatever order the database aggregated them in;
 * entries and contents are views into `data`. Anything that does not add up is STORE_CORRUPT.
 */
export function unpackPage(meta: unknown, data: unknown, descending: boolean): PackedRow[] {
  if (meta === null) return [];
  const corrupt = () => new CustosError("STORE_CORRUPT", "a stored trail copy is not binary");
  if (typeof meta !== "string" || !(data === null || data instanceof Uint8Array)) throw corrupt();
  const fields = meta.split(" ");
  const all = data ?? new Uint8Array(0);
  if (fields.length % 3 !== 0) throw corrupt();
  const view = (offset: number, length: number): Uint8Array | undefined => {
    if (length === -1) return undefined;
    if (!(Number.isSafeInteger(length) && length >= 0) || offset + length > all.byteLength) throw corrupt();
    return new Uint8Array(all.buffer, all.byteOffset + offset, length);
  };
  const rows: PackedRow[] = [];
  let offset = 0;
  let ordered = true;
  for (let i = 0; i < fields.length; i += 3) {
    const index = Number(fields[i]);
    if (!/^[0-9]{1,16}$/.test(fields[i]!) || !Number.isSafeInteger(index)) throw corrupt();
    const entryLength = Number(fields[i + 1]);
    const contentLength = Number(fields[i + 2]);
    const entry = view(offset, entryLength);
    offset += Math.max(entryLength, 0);
    const content = view(offset, contentLength);
    offset += Math.max(contentLength, 0);
    const last = rows[rows.length - 1];
    if (last !== undefined && (descending ? index > last.index : index < last.index)) ordered = false;
    rows.push({ index, entry, content });
  }
  if (offset !== all.byteLength) throw corrupt();
  if (!ordered) rows.sort((a, b) => (descending ? b.index - a.index : a.index - b.index));
  return rows;
}
