// The PostgreSQL backend: the same LedgerStore as SQLite, for deployments that outgrow one machine.
// One log per PostgreSQL schema. Durability comes from PostgreSQL: with synchronous_commit on (the
// default, and Custos needs it) a COMMIT returns only once the batch is in the WAL on disk. One
// sequencer per log is enforced with a session advisory lock held on a dedicated connection, and
// that sequencer's batches are written on that very connection, so a node whose session (and lock)
// has ended cannot write anymore; any number of other nodes can read.

import { CustosError } from "../../core/index.js";
import type {
  AppendBatch,
  LedgerStore,
  LogMeta,
  LookupCopy,
  LookupQuery,
  SharedCheckpointAccess,
  StoredCheckpoint,
  StoredEntry,
  StoredEntryWithContent,
  Tile,
  TrailMapSnapshotRow,
} from "../storage.js";
import { PostgresCheckpoints } from "./checkpoints.js";
import { createPool, describeFailure, parseDatabaseUrl } from "./connection.js";
import * as reads from "./log-reads.js";
import * as writes from "./log-writes.js";
import * as lookups from "./lookup-reads.js";
import { checkSchemaName, migrateWith, newerSchemaError, readSchemaVersion } from "./migrations.js";
import { PostgresOutbox } from "./outbox.js";
import { buffer, toBytes, toIndex } from "./row-values.js";
import { DEFAULT_POSTGRES_SCHEMA, MAX_TRAIL_COPY_BYTES, POSTGRES_SCHEMA_VERSION } from "./schema.js";
import { PostgresSession } from "./session.js";

export interface PostgresStoreOptions {
  /** The PostgreSQL schema holding this log (default "custos"). */
  readonly schema?: string;
  /** Create the schema and run pending migrations (otherwise a missing log is STORE_NOT_FOUND). */
  readonly create?: boolean;
  /** Every session is read-only (default_transaction_read_only); for readers and replicas. */
  readonly readonly?: boolean;
  /** Connections in the pool, besides the one a sequencer holds its lock on (default 4). */
  readonly poolSize?: number;
}

export class PostgresStore implements LedgerStore {
  readonly backend = "postgres" as const;
  /** A larger entry's lookup rows hold no copy (schema.ts). */
  readonly trailCopyLimit = MAX_TRAIL_COPY_BYTES;
  /** The PostgreSQL schema holding this log. */
  readonly schema: string;
  readonly readonly: boolean;
  /** Notices recorded by read replicas, waiting for the sequencer to append them (./outbox.ts). */
  readonly outbox: PostgresOutbox;
  readonly #session: PostgresSession;
  readonly #checkpoints: PostgresCheckpoints;

  private constructor(session: PostgresSession) {
    this.#session = session;
    this.#checkpoints = new PostgresCheckpoints(session);
    this.schema = session.schema;
    this.readonly = session.readonly;
    this.outbox = new PostgresOutbox(
      (text, values) => session.query(text, values),
      session.table("outbox"),
      session.readonly,
    );
  }

  /**
   * Opens the log in `schema` at `url` (postgres://user@host:port/db?sslmode=verify-full&sslrootcert=ca.pem).
   * Throws CONFIG (unreachable, TLS, permission denied, older schema), STORE_NOT_FOUND (no log schema
   * and no `create`) or STORE_CORRUPT (schema newer than this code).
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    checkSchemaName(schema);
    const readonly = options.readonly === true;
    if (readonly && options.create) {
      throw new CustosError("BAD_ARGUMENT", "a store opened read-only cannot create its schema");
    }
    const endpoint = parseDatabaseUrl(url);
    const pool = createPool(endpoint, { max: (options.poolSize ?? 4) + 1, readonly });
    let serverReadOnly: boolean;
    try {
      if (options.create) {
        const client = await pool.connect();
        try {
          await migrateWith(client, schema);
        } finally {
          client.release();
        }
      } else {
        const version = await readSchemaVersion(pool, schema);
        if (version === 0) {
          throw new CustosError(
            "STORE_NOT_FOUND",
            `no Custos log in PostgreSQL schema "${schema}" at ${endpoint.where} (create it with custos db migrate --schema ${schema}, then custos log init)`,
          );
        }
        if (version > POSTGRES_SCHEMA_VERSION) throw newerSchemaError(schema, version);
        if (version < POSTGRES_SCHEMA_VERSION) {
          throw new CustosError(
            "CONFIG",
            `the database schema "${schema}" is version ${version}, older than this Custos (${POSTGRES_SCHEMA_VERSION}); run custos db migrate --schema ${schema}`,
          );
        }
      }
      const mode = await pool.query(
        "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only",
      );
      serverReadOnly = mode.rows[0]?.recovery === true || (!readonly && mode.rows[0]?.read_only === "on");
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw describeFailure(error, endpoint);
    }
    return new PostgresStore(new PostgresSession(pool, endpoint, schema, readonly, serverReadOnly));
  }

  /** "host:port" of the server, for messages. */
  get where(): string {
    return this.#session.where;
  }

  /** The server accepts only reads (a hot standby, or read-only sessions imposed by its settings). */
  get serverReadOnly(): boolean {
    return this.#session.serverReadOnly;
  }

  /** The outbox, where this store can write to it (LedgerStore.noticeOutbox). */
  get noticeOutbox(): PostgresOutbox | undefined {
    return this.readonly || this.serverReadOnly ? undefined : this.outbox;
  }

  /** The witnessed checkpoint shared by the nodes of this log (putWitnessedCheckpoint below). */
  get sharedCheckpoint(): SharedCheckpointAccess {
    return this;
  }

  /** True while this store's session holds the log's sequencer lock. */
  get holdsSequencerLock(): boolean {
    return this.#session.holdsSequencerLock;
  }

  /**
   * Tries to become this log's single sequencer; false if another session holds the lock. The lock is
   * held on a dedicated connection until close(), and released by PostgreSQL if that session ends.
   */
  acquireSequencerLock(): Promise<boolean> {
    return this.#session.acquireSequencerLock();
  }

  /** After a failure: re-takes the sequencer lock this store held (LedgerStore.regainWriter). */
  regainWriter(): Promise<"held" | "taken"> {
    return this.#session.regainWriter();
  }

  /** Readiness: this node can write only while its session holds the lock and the server answers. */
  writeReadiness(): Promise<string> {
    return this.#session.writeReadiness();
  }

  /**
   * Polls until this store holds the sequencer lock (to take over when the holder's session ends).
   * Returns false if `signal` aborts first.
   */
  waitForSequencerLock(signal?: AbortSignal, intervalMs = 1000): Promise<boolean> {
    return this.#session.waitForSequencerLock(signal, intervalMs);
  }

  /**
   * Runs `read` against one snapshot of the log (a REPEATABLE READ, READ ONLY transaction; allowed on
   * a hot standby too), so a scan beside a running sequencer, or on a standby replaying the primary's
   * WAL, never sees a batch half-read as tampering (`custos verify`). The snapshot holds back VACUUM
   * on the server for as long as it lasts.
   */
  readConsistent<T>(read: () => Promise<T>): Promise<T> {
    return this.#session.readConsistent(read);
  }

  initialize(meta: LogMeta): Promise<void> {
    return writes.initialize(this.#session, meta);
  }

  getMeta(): Promise<LogMeta | undefined> {
    return reads.getMeta(this.#session);
  }

  getSize(): Promise<number> {
    return reads.getSize(this.#session);
  }

  appendBatch(batch: AppendBatch): Promise<void> {
    return writes.appendBatch(this.#session, this.#checkpoints, batch);
  }

  getEntries(start: number, end: number): Promise<StoredEntry[]> {
    return reads.getEntries(this.#session, start, end);
  }

  getEntriesAt(indexes: readonly number[]): Promise<StoredEntry[]> {
    return reads.getEntriesAt(this.#session, indexes);
  }

  scanEntries(start: number, end: number, chunkSize: number): AsyncIterable<StoredEntry[]> {
    return reads.scanEntries(this.#session, start, end, chunkSize);
  }

  countEntries(): Promise<number> {
    return reads.countEntries(this.#session);
  }

  /** The tiles asked for that exist, in the order asked (as the SQLite store). */
  getTiles(refs: readonly { level: number; index: number }[]): Promise<Tile[]> {
    return reads.getTiles(this.#session, refs);
  }

  scanTiles(level: number, fromIndex: number): AsyncIterable<Tile[]> {
    return reads.scanTiles(this.#session, level, fromIndex);
  }

  getEdgeTiles(): Promise<Tile[]> {
    return reads.getEdgeTiles(this.#session);
  }

  getContent(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return reads.getContent(this.#session, hash);
  }

  getContents(hashes: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return reads.getContents(this.#session, hashes);
  }

  hasContent(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    return reads.hasContent(this.#session, hashes);
  }

  /**
   * Deletes the rows, then asks for a VACUUM of the table so the dead row versions are reclaimed
   * (best effort: it needs ownership of the table). Copies in WAL archives and backups remain until
   * they expire (docs/postgres.md).
   */
  deleteContent(hashes: readonly Uint8Array[], entryIndexes: readonly number[]): Promise<void> {
    return writes.deleteContent(this.#session, hashes, entryIndexes);
  }

  /** Keys found, as a map from the key's lowercase hex to its entry index. */
  findIdempotencyKeys(keys: readonly Uint8Array[]): Promise<Map<string, number>> {
    return lookups.findIdempotencyKeys(this.#session, keys);
  }

  keysInRange(
    table: "idempotency" | "lookup",
    start: number,
    end: number,
  ): Promise<{ key: Uint8Array; index: number }[]> {
    return lookups.keysInRange(this.#session, table, start, end);
  }

  findByLookupKey(query: LookupQuery): Promise<number[]> {
    return lookups.findByLookupKey(this.#session, query);
  }

  entriesByLookupKey(query: LookupQuery): Promise<StoredEntry[]> {
    return lookups.entriesByLookupKey(this.#session, query);
  }

  entriesWithContentsByLookupKey(query: LookupQuery): Promise<StoredEntryWithContent[]> {
    return lookups.entriesWithContentsByLookupKey(this.#session, query);
  }

  lookupCopiesInRange(start: number, end: number): Promise<LookupCopy[]> {
    return lookups.lookupCopiesInRange(this.#session, start, end);
  }

  afterBulkLoad(): Promise<void> {
    return writes.afterBulkLoad(this.#session);
  }

  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    return this.#checkpoints.put(checkpoint);
  }

  /**
   * Publishes the latest checkpoint the sequencer's witnesses cosigned (the note with their
   * cosignature lines), so read replicas serve it too. Clients check every cosignature themselves, so
   * a row edited here can only make a replica's answers fail verification, never pass a forgery.
   */
  putWitnessedCheckpoint(checkpoint: { readonly size: number; readonly note: string }): Promise<void> {
    return this.#checkpoints.putWitnessed(checkpoint);
  }

  /** The witnessed checkpoint the sequencer published last, if any. */
  getWitnessedCheckpoint(): Promise<{ size: number; note: string } | undefined> {
    return this.#checkpoints.getWitnessed();
  }

  /** The checkpoint stored last (insertion order, not the largest size). */
  getLatestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.#checkpoints.latest();
  }

  async getTrailMapSnapshot(): Promise<TrailMapSnapshotRow[]> {
    const result = await this.#session.query(
      `SELECT part, size, leaves FROM ${this.#session.table("trail_map_snapshot")} ORDER BY part`,
    );
    return result.rows.map((row) => ({
      part: toIndex(row.part),
      size: toIndex(row.size),
      leaves: toBytes(row.leaves),
    }));
  }

  async putTrailMapSnapshot(size: number, parts: readonly Uint8Array[]): Promise<void> {
    this.#session.checkWritable();
    const table = this.#session.table("trail_map_snapshot");
    await this.#session.transaction(async (client) => {
      await client.query(`DELETE FROM ${table}`);
      for (const [part, leaves] of parts.entries())
        await client.query(`INSERT INTO ${table} (part, size, leaves) VALUES ($1, $2, $3)`, [
          part,
          size,
          buffer(leaves),
        ]);
    });
  }

  listCheckpoints(): Promise<StoredCheckpoint[]> {
    return this.#checkpoints.list();
  }

  /** Waits for a write in flight, releases the sequencer lock (by ending its session) and the pool. */
  close(): Promise<void> {
    return this.#session.close();
  }
}
