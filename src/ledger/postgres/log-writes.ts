// Writing a PostgreSQL log: a batch (entries, tiles, contents, keys, lookup rows with their trail
// copies, a checkpoint) in one transaction, compare-and-set on the recorded size so a second writer
// gets STORE_BUSY; content erasure; housekeeping after a bulk load.

import { CustosError } from "../../core/index.js";
import type { AppendBatch, LogMeta } from "../storage.js";
import type { PostgresCheckpoints } from "./checkpoints.js";
import { buffer, checkIndex, toIndex } from "./row-values.js";
import { MAX_TRAIL_COPY_BYTES } from "./schema.js";
import type { PostgresSession } from "./session.js";

/** Rows and bytes per INSERT statement: far below PostgreSQL's 1 GB message limit. */
const MAX_ROWS_PER_STATEMENT = 50_000;
const MAX_BYTES_PER_STATEMENT = 32 * 1024 * 1024;

/** Splits items into runs small enough for one statement each. */
function* statementChunks<T>(items: readonly T[], sizeOf: (item: T) => number): Generator<T[]> {
  let chunk: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (
      chunk.length > 0 &&
      (chunk.length >= MAX_ROWS_PER_STATEMENT || bytes + size > MAX_BYTES_PER_STATEMENT)
    ) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/** Writes the log's metadata into an empty schema (LedgerStore.initialize). */
export async function initialize(session: PostgresSession, meta: LogMeta): Promise<void> {
  session.checkWritable();
  await session.transaction(async (client) => {
    const existing = await client.query(
      `SELECT 1 FROM ${session.table("meta")} WHERE key = 'origin' FOR UPDATE`,
    );
    if (existing.rowCount) throw new CustosError("STORE_EXISTS", "this store already holds a log");
    const rows: [string, string][] = [
      ["origin", meta.origin],
      ["verifier_key", meta.verifierKey],
      ["created_at", String(meta.createdAt)],
      ["format_version", String(meta.formatVersion)],
      ["size", "0"],
    ];
    await client.query(
      `INSERT INTO ${session.table("meta")} (key, value) SELECT * FROM unnest($1::text[], $2::text[])`,
      [rows.map((row) => row[0]), rows.map((row) => row[1])],
    );
  });
}

/** One batch in one transaction (LedgerStore.appendBatch). */
export async function appendBatch(
  session: PostgresSession,
  checkpoints: PostgresCheckpoints,
  batch: AppendBatch,
): Promise<void> {
  session.checkWritable();
  checkIndex(batch.startIndex, "startIndex");
  await session.transaction(async (client) => {
    // FOR UPDATE: a second writer waits here, then sees the new size and gets STORE_BUSY.
    const size = await client.query(
      `SELECT value FROM ${session.table("meta")} WHERE key = 'size' FOR UPDATE`,
    );
    if (size.rows[0] === undefined) throw new CustosError("STORE_CORRUPT", "the store has no recorded size");
    const current = toIndex(size.rows[0].value);
    if (current !== batch.startIndex) {
      throw new CustosError(
        "STORE_BUSY",
        `the log grew underneath this sequencer (store size ${current}, expected ${batch.startIndex})`,
      );
    }
    const numbered = batch.entries.map((data, i) => ({ index: batch.startIndex + i, data }));
    for (const chunk of statementChunks(numbered, (e) => e.data.length)) {
      await client.query(
        `INSERT INTO ${session.table("entries")} (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
        [chunk.map((e) => e.index), chunk.map((e) => buffer(e.data))],
      );
    }
    for (const chunk of statementChunks(batch.tiles, (t) => t.hashes.length)) {
      await client.query(
        `INSERT INTO ${session.table("tiles")} (level, idx, hashes) SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
         ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`,
        [chunk.map((t) => t.level), chunk.map((t) => t.index), chunk.map((t) => buffer(t.hashes))],
      );
    }
    for (const chunk of statementChunks(batch.contents, (c) => c.data.length)) {
      await client.query(
        `INSERT INTO ${session.table("contents")} (hash, data) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (hash) DO NOTHING`,
        [chunk.map((c) => buffer(c.hash)), chunk.map((c) => buffer(c.data))],
      );
    }
    for (const chunk of statementChunks(batch.idempotencyKeys, (k) => k.key.length)) {
      await client.query(
        `INSERT INTO ${session.table("idempotency")} (key, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])`,
        [chunk.map((k) => buffer(k.key)), chunk.map((k) => k.index)],
      );
    }
    // After the entries and contents: each lookup row copies them as stored (its trail copy), read
    // back in the server rather than sent twice.
    for (const chunk of statementChunks(batch.lookupKeys, (k) => k.key.length)) {
      await client.query(
        `INSERT INTO ${session.table("lookup")} (key, idx, entry, content)
         SELECT k.key, k.idx, CASE WHEN fits THEN e.data END, CASE WHEN fits THEN c.data END
         FROM unnest($1::bytea[], $2::bigint[]) AS k(key, idx)
         LEFT JOIN ${session.table("entries")} e ON e.idx = k.idx
         LEFT JOIN ${session.table("contents")} c ON c.hash = substring(e.data FROM octet_length(e.data) - 31)
         CROSS JOIN LATERAL (SELECT octet_length(e.data) + coalesce(octet_length(c.data), 0) <= ${MAX_TRAIL_COPY_BYTES} AS fits) f
         ON CONFLICT (key, idx) DO NOTHING`,
        [chunk.map((k) => buffer(k.key)), chunk.map((k) => k.index)],
      );
    }
    if (batch.checkpoint) {
      await checkpoints.roundTimes(client);
      await client.query(
        `INSERT INTO ${session.table("checkpoints")} (size, note, stored_at) VALUES ($1, $2, $3)`,
        [batch.checkpoint.size, batch.checkpoint.note, batch.checkpoint.storedAt],
      );
    }
    await client.query(`UPDATE ${session.table("meta")} SET value = $1 WHERE key = 'size'`, [
      String(batch.startIndex + batch.entries.length),
    ]);
  });
}

/**
 * Deletes the rows, then asks for a VACUUM of the table so the dead row versions are reclaimed
 * (best effort: it needs ownership of the table). Copies in WAL archives and backups remain until
 * they expire (docs/postgres.md).
 */
export async function deleteContent(
  session: PostgresSession,
  hashes: readonly Uint8Array[],
  entryIndexes: readonly number[],
): Promise<void> {
  session.checkWritable();
  for (const index of entryIndexes) checkIndex(index, "entry index");
  if (hashes.length === 0 && entryIndexes.length === 0) return;
  const changed = new Set<string>();
  await session.transaction(async (client) => {
    const deleted = await client.query(
      `DELETE FROM ${session.table("contents")} WHERE hash = ANY($1::bytea[])`,
      [hashes.map(buffer)],
    );
    if ((deleted.rowCount ?? 0) > 0) changed.add("contents");
    const cleared = await client.query(
      `UPDATE ${session.table("lookup")} SET content = NULL WHERE idx = ANY($1::bigint[]) AND content IS NOT NULL`,
      [entryIndexes],
    );
    if ((cleared.rowCount ?? 0) > 0) changed.add("lookup");
  });
  // Only the tables that now hold dead row versions of erased content.
  for (const table of changed) {
    await session.maintain(`VACUUM ${session.table(table)}`);
  }
}

/** VACUUM (ANALYZE) of the log's tables after a bulk load (LedgerStore.afterBulkLoad). */
export async function afterBulkLoad(session: PostgresSession): Promise<void> {
  session.checkWritable();
  for (const table of ["entries", "contents", "lookup", "idempotency", "tiles", "checkpoints"]) {
    // Needs ownership of the table; without it the server's autovacuum does it later.
    await session.maintain(`VACUUM (ANALYZE) ${session.table(table)}`);
  }
}
