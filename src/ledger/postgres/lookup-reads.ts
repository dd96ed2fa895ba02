// Reading a PostgreSQL log by key: idempotency keys, and the lookup rows under which entries are
// filed (a patient's trail), read from the rows' trail copies as one index-only range scan.

import { toHex } from "../../core/index.js";
import { type LookupPage, readLookup } from "../lookup-pages.js";
import type { LookupCopy, LookupQuery, StoredEntry, StoredEntryWithContent } from "../storage.js";
import { buffer, type Row, toBytes, toIndex } from "./row-values.js";
import type { PostgresSession } from "./session.js";

/** Keys found, as a map from the key's lowercase hex to its entry index. */
export async function findIdempotencyKeys(
  session: PostgresSession,
  keys: readonly Uint8Array[],
): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const result = await session.query(
    `SELECT key, idx FROM ${session.table("idempotency")} WHERE key = ANY($1::bytea[])`,
    [keys.map(buffer)],
  );
  return new Map(result.rows.map((row) => [toHex(toBytes(row.key)), toIndex(row.idx)]));
}

export async function keysInRange(
  session: PostgresSession,
  table: "idempotency" | "lookup",
  start: number,
  end: number,
): Promise<{ key: Uint8Array; index: number }[]> {
  const result = await session.query(
    `SELECT key, idx FROM ${session.table(table)} WHERE idx >= $1 AND idx < $2 ORDER BY idx, key`,
    [start, end],
  );
  return result.rows.map((row) => ({ key: toBytes(row.key), index: toIndex(row.idx) }));
}

export async function findByLookupKey(session: PostgresSession, query: LookupQuery): Promise<number[]> {
  const result = await session.query(
    `SELECT idx FROM ${session.table("lookup")} WHERE key = $1 AND idx >= $2 AND idx < $3
     ORDER BY idx ${query.descending ? "DESC" : "ASC"} LIMIT $4`,
    [buffer(query.key), query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit],
  );
  return result.rows.map((row) => toIndex(row.idx));
}

export async function entriesByLookupKey(
  session: PostgresSession,
  query: LookupQuery,
): Promise<StoredEntry[]> {
  return (await copies(session, query, false)).map(({ index, data }) => ({ index, data }));
}

export async function entriesWithContentsByLookupKey(
  session: PostgresSession,
  query: LookupQuery,
): Promise<StoredEntryWithContent[]> {
  return copies(session, query, true);
}

/**
 * A lookup range read from the rows' trail copies: an index-only scan of adjacent index rows. Rows
 * without a copy (too large for the index, or filed before their entry was stored) are read from
 * the log's own tables in a second query, and left out if their entry is missing, as a join would.
 */
async function copies(
  session: PostgresSession,
  query: LookupQuery,
  withContents: boolean,
): Promise<StoredEntryWithContent[]> {
  return readLookup(query, (page) => copiesPage(session, page, withContents));
}

async function copiesPage(
  session: PostgresSession,
  query: LookupQuery,
  withContents: boolean,
): Promise<LookupPage<StoredEntryWithContent>> {
  const order = query.descending ? "DESC" : "ASC";
  const result = await session.query(
    `SELECT idx, entry${withContents ? ", content" : ""} FROM ${session.table("lookup")}
     WHERE key = $1 AND idx >= $2 AND idx < $3 ORDER BY idx ${order} LIMIT $4`,
    [buffer(query.key), query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit],
  );
  const uncopied = result.rows.filter((row) => row.entry === null).map((row) => toIndex(row.idx));
  const canonical = new Map<number, Row>();
  if (uncopied.length > 0) {
    const read = await session.query(
      `SELECT e.idx AS idx, e.data AS entry, c.data AS content FROM ${session.table("entries")} e
       LEFT JOIN ${session.table("contents")} c ON c.hash = substring(e.data FROM octet_length(e.data) - 31)
       WHERE e.idx = ANY($1::bigint[])`,
      [uncopied],
    );
    for (const row of read.rows) canonical.set(toIndex(row.idx), row);
  }
  const kept: StoredEntryWithContent[] = [];
  for (const copied of result.rows) {
    const index = toIndex(copied.idx);
    const row = copied.entry === null ? canonical.get(index) : copied;
    if (row === undefined) continue;
    const content = withContents ? row.content : null;
    kept.push({
      index,
      data: toBytes(row.entry),
      content: content === null || content === undefined ? undefined : toBytes(content),
    });
  }
  const last = result.rows[result.rows.length - 1];
  return { kept, rowsRead: result.rows.length, lastIndex: last === undefined ? 0 : toIndex(last.idx) };
}

export async function lookupCopiesInRange(
  session: PostgresSession,
  start: number,
  end: number,
): Promise<LookupCopy[]> {
  const result = await session.query(
    `SELECT key, idx, entry, content FROM ${session.table("lookup")}
     WHERE idx >= $1 AND idx < $2 AND entry IS NOT NULL ORDER BY idx, key`,
    [start, end],
  );
  return result.rows.map((row) => ({
    key: toBytes(row.key),
    index: toIndex(row.idx),
    entry: toBytes(row.entry),
    content: row.content === null ? undefined : toBytes(row.content),
  }));
}
