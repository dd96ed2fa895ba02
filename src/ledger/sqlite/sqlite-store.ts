// The embedded default backend: one SQLite file (WAL, synchronous=FULL, so a committed batch has been
// fsync'd). better-sqlite3 is synchronous; the async interface keeps callers backend-neutral.

import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type Database from "better-sqlite3";
import { CustosError, toHex } from "../../core/index.js";
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
  TrailMapSnapshotRow,
} from "../storage.js";
import { type BatchInserters, batchInserters, insertBatchRows } from "./batch-insert.js";
import { sqliteErasureResidue } from "./erasure-residue.js";
import { findMistypedValues } from "./mistyped-values.js";
import { openDatabase } from "./open-database.js";
import { unpackRows } from "./packed-rows.js";
import { bytes, checkIndexes, integer, type Row, toCheckpoint } from "./row-values.js";
import { SQLITE_SCHEMA_VERSION } from "./schema.js";
import { SqliteSequencerLock } from "./sequencer-lock.js";
import {
  batches,
  CONTENT_ROWS,
  COPY_ROWS,
  hexKey,
  inBatches,
  inOrder,
  lookupParams,
  prepareStatements,
  type SqliteStatements,
  TRAIL,
} from "./statements.js";
import { readTrailMapSnapshot, writeTrailMapSnapshot } from "./trail-map-snapshot.js";

export const SQLITE_FILE_NAME = "custos.db";

export interface SqliteStoreOptions {
  /** Create the data directory and database if missing (otherwise STORE_NOT_FOUND). */
  readonly create?: boolean;
  readonly readonly?: boolean;
}

export class SqliteStore implements LedgerStore {
  readonly backend = "sqlite" as const;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: SqliteStatements;
  readonly #inserters: BatchInserters;
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
    this.#statements = prepareStatements(db, copies);
    this.#inserters = batchInserters(db);
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
    const { db, copies } = openDatabase(path, dataDir, options);
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
      // Multi-row inserts (batch-insert.ts); the lookup rows last, as they copy entries and contents.
      insertBatchRows(batch, this.#inserters, s, this.trailCopyLimit !== undefined);
      for (const tile of batch.tiles) s.upsertTile.run(tile.level, tile.index, tile.hashes);
      if (batch.checkpoint) {
        this.#hourCheckpointTimes();
        s.insertCheckpoint.run(batch.checkpoint.size, batch.checkpoint.note, batch.checkpoint.storedAt);
      }
      s.setSize.run(String(batch.startIndex + batch.entries.length));
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

  async getTrailMapSnapshot(): Promise<TrailMapSnapshotRow[]> {
    return readTrailMapSnapshot(this.#db);
  }

  async putTrailMapSnapshot(size: number, parts: readonly Uint8Array[]): Promise<void> {
    try {
      await writeTrailMapSnapshot(this.#db, size, parts);
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
