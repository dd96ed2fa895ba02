// The SQLite store's statements, prepared once per connection: the SQL of every read and write, the
// packed-row layouts its batched reads return (packed-rows.ts), and the helpers that feed them keys in
// fixed-size batches. A store of schema version 1 (opened read-only) gets the same names with the
// joins its missing trail copies stand for.

import type Database from "better-sqlite3";
import type { LookupQuery } from "../storage.js";
import { type Column, packedSelect } from "./packed-rows.js";
import type { Row } from "./row-values.js";

/** The stored content named by the last 32 bytes of entry @idx (what a lookup row copies). */
const COPIED_CONTENT =
  "SELECT c.data FROM entries e JOIN contents c ON c.hash = substr(e.data, -32) WHERE e.idx = @idx";
/** A key's lookup rows with their trail copies, in an index range. */
const COPIES = "SELECT idx, entry, content FROM lookup WHERE key = ? AND idx >= ? AND idx < ?";
/** The same without the contents (SQLite then leaves their overflow pages unread). */
const COPIED_ENTRIES =
  "SELECT idx, entry, NULL AS content FROM lookup WHERE key = ? AND idx >= ? AND idx < ?";
/** What a store of schema version 1 (no copies) answers instead: the join the copies replace. */
const JOINED =
  "SELECT l.idx AS idx, e.data AS entry, c.data AS content FROM lookup l JOIN entries e ON e.idx = l.idx LEFT JOIN contents c ON c.hash = substr(e.data, -32) WHERE l.key = ? AND l.idx >= ? AND l.idx < ?";
const JOINED_ENTRIES =
  "SELECT l.idx AS idx, e.data AS entry, NULL AS content FROM lookup l JOIN entries e ON e.idx = l.idx WHERE l.key = ? AND l.idx >= ? AND l.idx < ?";

/** Trail reads (packed: packed-rows.ts): an entry and the content it names, by index. */
export const TRAIL: readonly Column[] = [
  { name: "idx", kind: "integer" },
  { name: "entry", kind: "blob" },
  { name: "content", kind: "blob" },
];
/** Trail copies by index range, for verify. */
export const COPY_ROWS: readonly Column[] = [
  { name: "key", kind: "blob" },
  { name: "idx", kind: "integer" },
  { name: "entry", kind: "blob" },
  { name: "content", kind: "blob" },
];
export const CONTENT_ROWS: readonly Column[] = [
  { name: "hash", kind: "blob" },
  { name: "data", kind: "blob" },
];

/** Rows in the order `before` says, sorted only when the database gave them in another. */
export function inOrder<T>(rows: T[], before: (a: T, b: T) => number): T[] {
  for (let i = 1; i < rows.length; i++) {
    if (before(rows[i - 1]!, rows[i]!) > 0) return rows.sort(before);
  }
  return rows;
}

/** A lookup query's parameters for the `key = ? AND idx >= ? AND idx < ? ... LIMIT ?` statements. */
export function lookupParams(query: LookupQuery): [Uint8Array, number, number, number] {
  return [query.key, query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit];
}

/** Stored checkpoint times are kept to this (all but the newest): SqliteStore #hourCheckpointTimes. */
const HOUR_MS = 3_600_000;

/** Keys per batched read statement (`... IN (?, ?, ...)`). */
const BATCH = 128;

/** Keys BATCH at a time, a short last batch padded with a repeat (one prepared statement fits all). */
export function* batches<K>(keys: readonly K[]): Generator<K[]> {
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    while (batch.length < BATCH) batch.push(batch[0]!);
    yield batch;
  }
}

export function* inBatches<K>(statement: Database.Statement, keys: readonly K[]): Generator<Row[]> {
  for (const batch of batches(keys)) yield statement.all(...batch) as Row[];
}

export function hexKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Every statement the store runs, prepared once per connection (`copies`: schema version 2 onward). */
export function prepareStatements(db: Database.Database, copies: boolean) {
  const idxColumn = copies ? "idx" : "l.idx";
  const rows = copies ? COPIES : JOINED;
  const entryRows = copies ? COPIED_ENTRIES : JOINED_ENTRIES;
  const slots = Array.from({ length: BATCH }, () => "?").join(", ");
  return named({
    getSize: db.prepare("SELECT value FROM meta WHERE key = 'size'"),
    setSize: db.prepare("UPDATE meta SET value = ? WHERE key = 'size'"),
    upsertTile: db.prepare(
      "INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?) ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
    ),
    idempotencyInRange: db.prepare(
      "SELECT CAST(key AS BLOB) AS key, idx FROM idempotency WHERE idx >= ? AND idx < ? ORDER BY idx",
    ),
    lookupInRange: db.prepare(
      "SELECT CAST(key AS BLOB) AS key, idx FROM lookup WHERE idx >= ? AND idx < ? ORDER BY idx, key",
    ),
    // A version-1 store is only ever open read-only here: it has no columns to copy into.
    insertLookup: db.prepare(
      copies
        ? `INSERT OR IGNORE INTO lookup (key, idx, entry, content) VALUES (@key, @idx, (SELECT data FROM entries WHERE idx = @idx), (${COPIED_CONTENT}))`
        : "SELECT @key, @idx",
    ),
    canonicalCopy: db.prepare(
      `SELECT data AS entry, (${COPIED_CONTENT}) AS content FROM entries WHERE idx = @idx`,
    ),
    clearCopiedContent: db.prepare(
      copies ? "UPDATE lookup SET content = NULL WHERE idx = ? AND content IS NOT NULL" : "SELECT ?",
    ),
    copiesInRange: db.prepare(
      packedSelect(
        copies
          ? "SELECT CAST(key AS BLOB) AS key, idx, CAST(entry AS BLOB) AS entry, CAST(content AS BLOB) AS content FROM lookup WHERE idx >= ? AND idx < ? AND entry IS NOT NULL"
          : "SELECT key, idx, NULL AS entry, NULL AS content FROM lookup WHERE 0 AND idx >= ? AND idx < ?",
        COPY_ROWS,
      ),
    ),
    lookupAscending: db.prepare(
      "SELECT idx FROM lookup WHERE key = ? AND idx >= ? AND idx < ? ORDER BY idx LIMIT ?",
    ),
    copiedEntriesAscending: db.prepare(packedSelect(`${entryRows} ORDER BY ${idxColumn} LIMIT ?`, TRAIL)),
    copiedEntriesDescending: db.prepare(
      packedSelect(`${entryRows} ORDER BY ${idxColumn} DESC LIMIT ?`, TRAIL),
    ),
    copiesAscending: db.prepare(packedSelect(`${rows} ORDER BY ${idxColumn} LIMIT ?`, TRAIL)),
    copiesDescending: db.prepare(packedSelect(`${rows} ORDER BY ${idxColumn} DESC LIMIT ?`, TRAIL)),
    lookupDescending: db.prepare(
      "SELECT idx FROM lookup WHERE key = ? AND idx >= ? AND idx < ? ORDER BY idx DESC LIMIT ?",
    ),
    insertCheckpoint: db.prepare("INSERT INTO checkpoints (size, note, stored_at) VALUES (?, ?, ?)"),
    hourLatestCheckpoint: db.prepare(
      `UPDATE checkpoints SET stored_at = stored_at - stored_at % ${HOUR_MS} WHERE id = (SELECT max(id) FROM checkpoints) AND stored_at % ${HOUR_MS} <> 0`,
    ),
    hourAllCheckpoints: db.prepare(
      `UPDATE checkpoints SET stored_at = stored_at - stored_at % ${HOUR_MS} WHERE stored_at % ${HOUR_MS} <> 0`,
    ),
    getMetaValue: db.prepare("SELECT value FROM meta WHERE key = ?"),
    setMetaValue: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
    getEntries: db.prepare("SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"),
    getEntry: db.prepare("SELECT data FROM entries WHERE idx = ?"),
    scanEntries: db.prepare(
      "SELECT idx, CAST(data AS BLOB) AS data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?",
    ),
    getTile: db.prepare("SELECT CAST(hashes AS BLOB) AS hashes FROM tiles WHERE level = ? AND idx = ?"),
    scanTiles: db.prepare(
      "SELECT idx, CAST(hashes AS BLOB) AS hashes FROM tiles WHERE level = ? AND idx >= ? ORDER BY idx LIMIT ?",
    ),
    getContent: db.prepare("SELECT data FROM contents WHERE hash = ?"),
    contentsIn: db.prepare(
      packedSelect(
        `SELECT hash, CAST(data AS BLOB) AS data FROM contents WHERE hash IN (${slots})`,
        CONTENT_ROWS,
      ),
    ),
    entriesIn: db.prepare(`SELECT idx, data FROM entries WHERE idx IN (${slots})`),
    hasContent: db.prepare("SELECT 1 FROM contents WHERE hash = ?"),
    deleteContent: db.prepare("DELETE FROM contents WHERE hash = ?"),
    getIdempotency: db.prepare("SELECT idx FROM idempotency WHERE key = ?"),
  });
}

/** better-sqlite3's prepared statement, under a name the emitted declarations can spell. */
export interface PreparedStatement extends Database.Statement {}

/** Keeps each statement's name in the type. */
function named<K extends string>(statements: Record<K, PreparedStatement>): Record<K, PreparedStatement> {
  return statements;
}

export type SqliteStatements = ReturnType<typeof prepareStatements>;
