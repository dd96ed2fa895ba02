// The embedded default backend: one SQLite file (WAL, synchronous=FULL, so a committed batch has been
// fsync'd). better-sqlite3 is synchronous; the async interface keeps callers backend-neutral.

import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { toHex } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import { directoryWriteReadiness, rethrowDiskFault } from "../disk-faults.js";
import { readLookup } from "../lookup-pages.js";
import type {
  AppendBatch,
  LedgerStore,
  LogMeta,
  LookupCopy,
  LookupQuery,
  MistypedValue,
  StoredCheckpoint,
  StoredEntry,
  StoredEntryWithContent,
  Tile,
} from "../storage.js";
import { sqliteErasureResidue } from "./erasure-residue.js";
import { findMistypedValues } from "./mistyped-values.js";
import { type Column, packedSelect, unpackRows } from "./packed-rows.js";
import { SQLITE_MIGRATION_2, SQLITE_SCHEMA, SQLITE_SCHEMA_VERSION } from "./schema.js";
import { SqliteSequencerLock } from "./sequencer-lock.js";

export const SQLITE_FILE_NAME = "custos.db";

type Row = Record<string, unknown>;

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
}

function checkIndexes(indexes: readonly number[]): void {
  for (const index of indexes) {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new CustosError("BAD_ARGUMENT", `entry index ${index} is not a non-negative safe integer`);
    }
  }
}

function integer(value: unknown): number {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "bigint" && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be an integer is not");
}

export interface SqliteStoreOptions {
  /** Create the data directory and database if missing (otherwise STORE_NOT_FOUND). */
  readonly create?: boolean;
  readonly readonly?: boolean;
}

export class SqliteStore implements LedgerStore {
  readonly backend = "sqlite" as const;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: ReturnType<typeof prepare>;
  readonly #readonly: boolean;
  /** Every lookup row holds its trail copy (schema version 2 onward). */
  readonly trailCopyLimit?: number;
  readonly #dataDir: string;
  #sequencerLock: SqliteSequencerLock | undefined;
  /** Checkpoint times of older rows known to be rounded to the hour (#hourCheckpointTimes). */
  #checkpointTimesHourly = false;

  private constructor(path: string, db: Database.Database, readonly: boolean, copies: boolean) {
    this.path = path;
    if (copies) this.trailCopyLimit = Number.MAX_SAFE_INTEGER;
    this.#db = db;
    this.#statements = prepare(db, copies);
    this.#readonly = readonly;
    this.#dataDir = dirname(path);
  }

  /**
   * Before a checkpoint is stored: the times of those already stored are rounded down to the hour,
   * so only the newest checkpoint keeps its exact time (the readiness check's age) and the table
   * dates no entry's arrival finer than the hour (docs/encryption.md). Rows of an older Custos are
   * rounded once, the first time (meta checkpoint_times = hour); then only the previous newest row.
   */
  #hourCheckpointTimes(): void {
    const s = this.#statements;
    if (!this.#checkpointTimesHourly) {
      // Set once the marker is seen committed; the first time, the next checkpoint looks again.
      if (s.getMetaValue.get("checkpoint_times") !== undefined) this.#checkpointTimesHourly = true;
      else {
        s.hourAllCheckpoints.run();
        s.setMetaValue.run("checkpoint_times", "hour");
      }
    }
    s.hourLatestCheckpoint.run();
  }

  /**
   * Tries to become this log's single writer (sequencer-lock.ts); false if a running node or another
   * command holds the log. Held until close.
   */
  async acquireSequencerLock(): Promise<boolean> {
    this.#sequencerLock ??= SqliteSequencerLock.acquire(this.#dataDir);
    return this.#sequencerLock !== undefined;
  }

  static open(dataDir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const path = join(dataDir, SQLITE_FILE_NAME);
    if (!existsSync(path)) {
      if (!options.create) {
        throw new CustosError(
          "STORE_NOT_FOUND",
          `no Custos log in ${dataDir} (run custos log init --data ${dataDir})`,
        );
      }
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    }
    let db: Database.Database;
    let copies = true;
    try {
      db = new Database(path, { readonly: options.readonly === true, fileMustExist: !options.create });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 5000");
      // Deleted content (erasure) is overwritten with zeros, not left in free pages.
      db.pragma("secure_delete = ON");
      if (!options.readonly) db.exec(SQLITE_SCHEMA);
      const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
        | Row
        | undefined;
      const found = version === undefined ? undefined : Number(version.value);
      if (found !== undefined && found > SQLITE_SCHEMA_VERSION) {
        throw new CustosError(
          "STORE_CORRUPT",
          `the store in ${dataDir} uses schema version ${found}, newer than this Custos (${SQLITE_SCHEMA_VERSION}); upgrade Custos`,
        );
      }
      // A read-only opener of an older store (a verify of a backup, a mirror's source) reads it as it
      // is, without trail copies; any writer upgrades it first.
      if (found !== undefined && found < SQLITE_SCHEMA_VERSION) {
        if (options.readonly) copies = false;
        else migrate(db);
      }
    } catch (error) {
      if (error instanceof CustosError) throw error;
      throw new CustosError(
        "STORE_CORRUPT",
        `cannot open the log database in ${dataDir}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return new SqliteStore(path, db, options.readonly === true, copies);
  }

  /**
   * Runs `read` in one read transaction, so every query sees the same snapshot: a reader in another
   * process (`custos verify` beside a running node or mirror) never sees a batch half-read as tampering.
   * Only on a store opened readonly, whose connection no writer shares.
   */
  async readConsistent<T>(read: () => Promise<T>): Promise<T> {
    if (!this.#readonly) throw new CustosError("BAD_ARGUMENT", "a consistent read needs a readonly store");
    this.#db.exec("BEGIN");
    try {
      // A deferred transaction takes its snapshot at the first read: take it now.
      this.#statements.getSize.get();
      return await read();
    } finally {
      if (this.#db.inTransaction) this.#db.exec("COMMIT");
    }
  }

  /** Direct access for tools and tests that inspect the file (tamper tests, migration). */
  get database(): Database.Database {
    return this.#db;
  }

  async initialize(meta: LogMeta): Promise<void> {
    const run = this.#db.transaction(() => {
      const existing = this.#db.prepare("SELECT value FROM meta WHERE key = 'origin'").get();
      if (existing !== undefined) throw new CustosError("STORE_EXISTS", "this store already holds a log");
      const insert = this.#db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
      insert.run("schema_version", String(SQLITE_SCHEMA_VERSION));
      insert.run("origin", meta.origin);
      insert.run("verifier_key", meta.verifierKey);
      insert.run("created_at", String(meta.createdAt));
      insert.run("format_version", String(meta.formatVersion));
      insert.run("size", "0");
    });
    run();
  }

  async getMeta(): Promise<LogMeta | undefined> {
    const rows = this.#db.prepare("SELECT key, value FROM meta").all() as Row[];
    const map = new Map(rows.map((row) => [String(row.key), String(row.value)]));
    const origin = map.get("origin");
    const verifierKey = map.get("verifier_key");
    if (origin === undefined || verifierKey === undefined) return undefined;
    return {
      origin,
      verifierKey,
      createdAt: Number(map.get("created_at") ?? 0),
      formatVersion: Number(map.get("format_version") ?? 1),
    };
  }

  async getSize(): Promise<number> {
    const row = this.#statements.getSize.get() as Row | undefined;
    if (row === undefined) throw new CustosError("STORE_CORRUPT", "the store has no recorded size");
    const size = Number(row.value);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new CustosError("STORE_CORRUPT", "the recorded size is invalid");
    return size;
  }

  async appendBatch(batch: AppendBatch): Promise<void> {
    try {
      this.#append(batch);
    } catch (error) {
      rethrowDiskFault(error, "the log database");
    }
  }

  async writeReadiness(): Promise<string> {
    if (this.#readonly) return "read-only";
    return directoryWriteReadiness(dirname(this.path));
  }

  #append = (batch: AppendBatch): void => {
    const s = this.#statements;
    this.#db.transaction(() => {
      const current = Number((s.getSize.get() as Row).value);
      if (current !== batch.startIndex) {
        throw new CustosError(
          "STORE_BUSY",
          `the log grew underneath this sequencer (store size ${current}, expected ${batch.startIndex})`,
        );
      }
      let index = batch.startIndex;
      for (const entry of batch.entries) s.insertEntry.run(index++, entry);
      for (const tile of batch.tiles) s.upsertTile.run(tile.level, tile.index, tile.hashes);
      for (const content of batch.contents) s.insertContent.run(content.hash, content.data);
      for (const { key, index: idx } of batch.idempotencyKeys) s.insertIdempotency.run(key, idx);
      // After the entries and contents: each lookup row copies them as stored (its trail copy).
      for (const { key, index: idx } of batch.lookupKeys) s.insertLookup.run({ key, idx });
      if (batch.checkpoint) {
        this.#hourCheckpointTimes();
        s.insertCheckpoint.run(batch.checkpoint.size, batch.checkpoint.note, batch.checkpoint.storedAt);
      }
      s.setSize.run(String(index));
    })();
  };

  async getEntries(start: number, end: number): Promise<StoredEntry[]> {
    return (this.#statements.getEntries.all(start, end) as Row[]).map((row) => ({
      index: integer(row.idx),
      data: bytes(row.data),
    }));
  }

  // SQLite runs in this process: a prepared point lookup per index costs microseconds and there is no
  // round trip to save, so the batch is a loop (in one synchronous run, so no write lands between).
  async getEntriesAt(indexes: readonly number[]): Promise<StoredEntry[]> {
    checkIndexes(indexes);
    // BATCH keys per statement (a short last batch is padded with a repeat), then in the order asked.
    const found = new Map<number, Uint8Array>();
    for (const rows of inBatches(this.#statements.entriesIn, indexes)) {
      for (const row of rows) found.set(integer(row.idx), bytes(row.data));
    }
    const entries: StoredEntry[] = [];
    for (const index of indexes) {
      const data = found.get(index);
      if (data !== undefined) entries.push({ index, data });
    }
    return entries;
  }

  async *scanEntries(start: number, end: number, chunkSize: number): AsyncIterable<StoredEntry[]> {
    let next = start;
    while (next < end) {
      const rows = this.#statements.scanEntries.all(next, end, chunkSize) as Row[];
      if (rows.length === 0) return;
      const chunk = rows.map((row) => ({ index: integer(row.idx), data: bytes(row.data) }));
      yield chunk;
      next = chunk[chunk.length - 1]!.index + 1;
    }
  }

  async countEntries(): Promise<number> {
    return integer((this.#db.prepare("SELECT count(*) AS n FROM entries").get() as Row).n);
  }

  async getTiles(refs: readonly { level: number; index: number }[]): Promise<Tile[]> {
    const tiles: Tile[] = [];
    for (const ref of refs) {
      const row = this.#statements.getTile.get(ref.level, ref.index) as Row | undefined;
      if (row !== undefined) tiles.push({ level: ref.level, index: ref.index, hashes: bytes(row.hashes) });
    }
    return tiles;
  }

  async *scanTiles(level: number, fromIndex: number): AsyncIterable<Tile[]> {
    let next = fromIndex;
    for (;;) {
      const rows = this.#statements.scanTiles.all(level, next, 4096) as Row[];
      if (rows.length === 0) return;
      const tiles = rows.map((row) => ({ level, index: integer(row.idx), hashes: bytes(row.hashes) }));
      yield tiles;
      next = tiles[tiles.length - 1]!.index + 1;
    }
  }

  async getEdgeTiles(): Promise<Tile[]> {
    const rows = this.#db
      .prepare(
        "SELECT t.level AS level, t.idx AS idx, t.hashes AS hashes FROM tiles t " +
          "JOIN (SELECT level, max(idx) AS idx FROM tiles GROUP BY level) m ON m.level = t.level AND m.idx = t.idx",
      )
      .all() as Row[];
    return rows.map((row) => ({
      level: integer(row.level),
      index: integer(row.idx),
      hashes: bytes(row.hashes),
    }));
  }

  async getContent(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const row = this.#statements.getContent.get(hash) as Row | undefined;
    return row === undefined ? undefined : bytes(row.data);
  }

  async getContents(hashes: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const found = new Map<string, Uint8Array>();
    for (const batch of batches(hashes)) {
      for (const [hash, data] of unpackRows(this.#statements.contentsIn.get(...batch), CONTENT_ROWS)) {
        found.set(hexKey(bytes(hash)), bytes(data));
      }
    }
    return hashes.map((hash) => found.get(hexKey(hash)));
  }

  async hasContent(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    return hashes.map((hash) => this.#statements.hasContent.get(hash) !== undefined);
  }

  async deleteContent(hashes: readonly Uint8Array[], entryIndexes: readonly number[]): Promise<void> {
    checkIndexes(entryIndexes);
    this.#db.transaction(() => {
      for (const hash of hashes) this.#statements.deleteContent.run(hash);
      for (const index of entryIndexes) this.#statements.clearCopiedContent.run(index);
      // Until the WAL is emptied below, verify reports that erased bytes may remain in it.
      this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('erasure_pending', '1')").run();
    })();
    await this.finishErasure();
  }

  /** Copies the zeroed pages into the main file and empties the WAL; then clears the pending mark. */
  async finishErasure(): Promise<void> {
    if (this.#readonly) return;
    if (this.#db.prepare("SELECT 1 FROM meta WHERE key = 'erasure_pending'").get() === undefined) return;
    // Copy the zeroed pages into the main file and empty the WAL, so no old frame keeps the content.
    // A reader in another process still on an older snapshot (a long verify, a backup) stops that
    // short once the busy timeout passes: the erasure stands, but its old bytes stay in the WAL.
    const [result] = this.#db.pragma("wal_checkpoint(TRUNCATE)") as { busy?: number }[];
    if (result?.busy !== 0) {
      throw new CustosError(
        "STORE_BUSY",
        "the erasure is recorded and the content deleted, but another process reading this log holds an older snapshot, so the write-ahead log still holds the erased bytes: run the same erase again once it has finished",
      );
    }
    // This write starts a new WAL, whose frames all post-date the erasure.
    this.#db.prepare("DELETE FROM meta WHERE key = 'erasure_pending'").run();
  }

  async erasureResidue(): Promise<string[]> {
    const pending = this.#db.prepare("SELECT 1 FROM meta WHERE key = 'erasure_pending'").get() !== undefined;
    return sqliteErasureResidue(this.path, pending);
  }

  async findIdempotencyKeys(keys: readonly Uint8Array[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (const key of keys) {
      const row = this.#statements.getIdempotency.get(key) as Row | undefined;
      if (row !== undefined) found.set(toHex(key), integer(row.idx));
    }
    return found;
  }

  async keysInRange(
    table: "idempotency" | "lookup",
    start: number,
    end: number,
  ): Promise<{ key: Uint8Array; index: number }[]> {
    const statement =
      table === "idempotency" ? this.#statements.idempotencyInRange : this.#statements.lookupInRange;
    return (statement.all(start, end) as Row[]).map((row) => ({
      key: bytes(row.key),
      index: integer(row.idx),
    }));
  }

  async findByLookupKey(query: LookupQuery): Promise<number[]> {
    const s = this.#statements;
    const statement = query.descending ? s.lookupDescending : s.lookupAscending;
    return (statement.all(...lookupParams(query)) as Row[]).map((row) => integer(row.idx));
  }

  async entriesByLookupKey(query: LookupQuery): Promise<StoredEntry[]> {
    return (await this.#copies(query, false)).map(({ index, data }) => ({ index, data }));
  }

  async entriesWithContentsByLookupKey(query: LookupQuery): Promise<StoredEntryWithContent[]> {
    return this.#copies(query, true);
  }

  /**
   * A lookup range read from the rows' trail copies (adjacent rows of one key). A row without a copy
   * (its entry was missing when it was filed) is read from the log's own tables instead, and left out
   * if its entry is still missing, as a join would.
   */
  async #copies(query: LookupQuery, withContents: boolean): Promise<StoredEntryWithContent[]> {
    const s = this.#statements;
    const statement = withContents
      ? query.descending
        ? s.copiesDescending
        : s.copiesAscending
      : query.descending
        ? s.copiedEntriesDescending
        : s.copiedEntriesAscending;
    return readLookup(query, async (page) => {
      const rows = inOrder(
        unpackRows(statement.get(...lookupParams(page)), TRAIL).map(([index, entry, content]) => ({
          index: index as number,
          entry: entry as Uint8Array | undefined,
          content: content as Uint8Array | undefined,
        })),
        page.descending ? (a, b) => b.index - a.index : (a, b) => a.index - b.index,
      );
      const kept: StoredEntryWithContent[] = [];
      for (const row of rows) {
        if (row.entry === undefined) {
          const canonical = s.canonicalCopy.get({ idx: row.index }) as Row | undefined;
          if (canonical === undefined) continue;
          kept.push({
            index: row.index,
            data: bytes(canonical.entry),
            content: !withContents || canonical.content === null ? undefined : bytes(canonical.content),
          });
        } else {
          kept.push({ index: row.index, data: row.entry, content: withContents ? row.content : undefined });
        }
      }
      return {
        kept,
        rowsRead: rows.length,
        lastIndex: rows.length === 0 ? 0 : rows[rows.length - 1]!.index,
      };
    });
  }

  async mistypedValues(from: number): Promise<MistypedValue[]> {
    return findMistypedValues(this.#db, from, this.trailCopyLimit !== undefined);
  }

  async lookupCopiesInRange(start: number, end: number): Promise<LookupCopy[]> {
    const copies = unpackRows(this.#statements.copiesInRange.get(start, end), COPY_ROWS).map(
      ([key, index, entry, content]): LookupCopy => ({
        key: key as Uint8Array,
        index: index as number,
        entry: entry as Uint8Array,
        content: content as Uint8Array | undefined,
      }),
    );
    return inOrder(copies, (a, b) => a.index - b.index || Buffer.compare(a.key, b.key));
  }

  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    try {
      this.#db.transaction(() => {
        this.#hourCheckpointTimes();
        this.#statements.insertCheckpoint.run(checkpoint.size, checkpoint.note, checkpoint.storedAt);
      })();
    } catch (error) {
      rethrowDiskFault(error, "the log database");
    }
  }

  async getLatestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const row = this.#db
      .prepare("SELECT size, note, stored_at FROM checkpoints ORDER BY id DESC LIMIT 1")
      .get() as Row | undefined;
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async listCheckpoints(): Promise<StoredCheckpoint[]> {
    return (this.#db.prepare("SELECT size, note, stored_at FROM checkpoints ORDER BY id").all() as Row[]).map(
      toCheckpoint,
    );
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    this.#sequencerLock?.release();
    this.#sequencerLock = undefined;
  }
}

function toCheckpoint(row: Row): StoredCheckpoint {
  return { size: integer(row.size), note: String(row.note), storedAt: integer(row.stored_at) };
}

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
const TRAIL: readonly Column[] = [
  { name: "idx", kind: "integer" },
  { name: "entry", kind: "blob" },
  { name: "content", kind: "blob" },
];
/** Trail copies by index range, for verify. */
const COPY_ROWS: readonly Column[] = [
  { name: "key", kind: "blob" },
  { name: "idx", kind: "integer" },
  { name: "entry", kind: "blob" },
  { name: "content", kind: "blob" },
];
const CONTENT_ROWS: readonly Column[] = [
  { name: "hash", kind: "blob" },
  { name: "data", kind: "blob" },
];

/** Rows in the order `before` says, sorted only when the database gave them in another. */
function inOrder<T>(rows: T[], before: (a: T, b: T) => number): T[] {
  for (let i = 1; i < rows.length; i++) {
    if (before(rows[i - 1]!, rows[i]!) > 0) return rows.sort(before);
  }
  return rows;
}

/** A lookup query's parameters for the `key = ? AND idx >= ? AND idx < ? ... LIMIT ?` statements. */
function lookupParams(query: LookupQuery): [Uint8Array, number, number, number] {
  return [query.key, query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit];
}

/** Brings a store of an older schema version up to this one, in one transaction. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as Row;
    if (Number(row.value) < 2) db.exec(SQLITE_MIGRATION_2);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SQLITE_SCHEMA_VERSION));
  }).immediate();
}

/** Stored checkpoint times are kept to this (all but the newest): #hourCheckpointTimes. */
const HOUR_MS = 3_600_000;

/** Keys per batched read statement (`... IN (?, ?, ...)`). */
const BATCH = 128;

/** Keys BATCH at a time, a short last batch padded with a repeat (one prepared statement fits all). */
function* batches<K>(keys: readonly K[]): Generator<K[]> {
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    while (batch.length < BATCH) batch.push(batch[0]!);
    yield batch;
  }
}

function* inBatches<K>(statement: Database.Statement, keys: readonly K[]): Generator<Row[]> {
  for (const batch of batches(keys)) yield statement.all(...batch) as Row[];
}

function hexKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

function prepare(db: Database.Database, copies: boolean) {
  const idxColumn = copies ? "idx" : "l.idx";
  const rows = copies ? COPIES : JOINED;
  const entryRows = copies ? COPIED_ENTRIES : JOINED_ENTRIES;
  const slots = Array.from({ length: BATCH }, () => "?").join(", ");
  return {
    getSize: db.prepare("SELECT value FROM meta WHERE key = 'size'"),
    setSize: db.prepare("UPDATE meta SET value = ? WHERE key = 'size'"),
    insertEntry: db.prepare("INSERT INTO entries (idx, data) VALUES (?, ?)"),
    upsertTile: db.prepare(
      "INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?) ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
    ),
    insertContent: db.prepare("INSERT OR IGNORE INTO contents (hash, data) VALUES (?, ?)"),
    insertIdempotency: db.prepare("INSERT INTO idempotency (key, idx) VALUES (?, ?)"),
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
  };
}
