// Lookup reads that keep a join's semantics over the trail copies: a row whose entry the store no
// longer holds is left out and does not count toward the limit, so a caller that treats a short reply
// as the end of a key's history never stops early at a damaged row (the gap then reaches the client,
// whose hash chain fails, and verify names it).

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
