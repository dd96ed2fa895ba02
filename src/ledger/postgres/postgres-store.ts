// The PostgreSQL backend: the same LedgerStore as SQLite, for deployments that outgrow one machine.
// One log per PostgreSQL schema. Durability comes from PostgreSQL: with synchronous_commit on (the
// default, and Custos needs it) a COMMIT returns only once the batch is in the WAL on disk. One
// sequencer per log is enforced with a session advisory lock held on a dedicated connection, and
// that sequencer's batches are written on that very connection, so a node whose session (and lock)
// has ended cannot write anymore; any number of other nodes can read.

import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import type pg from "pg";
import { toHex } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import { type LookupPage, readLookup } from "../lookup-pages.js";
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
} from "../storage.js";
import {
  advisoryLockKey,
  createPool,
  describeFailure,
  type Endpoint,
  parseDatabaseUrl,
} from "./connection.js";
import { checkSchemaName, migrateWith, newerSchemaError, readSchemaVersion } from "./migrations.js";
import { PostgresOutbox } from "./outbox.js";
import { DEFAULT_POSTGRES_SCHEMA, MAX_TRAIL_COPY_BYTES, POSTGRES_SCHEMA_VERSION } from "./schema.js";

/** Stored checkpoint times are kept to this (all but the newest): #hourCheckpointTimes. */
const HOUR_MS = 3_600_000;
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

/** Rows and bytes per INSERT statement: far below PostgreSQL's 1 GB message limit. */
const MAX_ROWS_PER_STATEMENT = 50_000;
const MAX_BYTES_PER_STATEMENT = 32 * 1024 * 1024;
const TILE_SCAN_CHUNK = 4096;
/** Keys per batched read (`= ANY($1)`): one statement each, a bounded reply each. */
const MAX_KEYS_PER_READ = 10_000;

type Row = Record<string, unknown>;

const statementNames = new Map<string, string>();

/** A prepared statement's name: derived from its text, so one text has one name on every connection. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `custos_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

function ignore(): void {}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
}

/** bigint columns arrive as decimal text; anything but a safe non-negative integer is corruption. */
function toIndex(value: unknown): number {
  let n = Number.NaN;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^[0-9]{1,16}$/.test(value)) n = Number(value);
  else if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER))
    n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CustosError("STORE_CORRUPT", "a stored index or size is not a safe non-negative integer");
  }
  return n;
}

function toCheckpoint(row: Row): StoredCheckpoint {
  return { size: toIndex(row.size), note: String(row.note), storedAt: toIndex(row.stored_at) };
}

function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CustosError("BAD_ARGUMENT", `${what} must be a non-negative safe integer`);
  }
}

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

export class PostgresStore implements LedgerStore {
  readonly backend = "postgres" as const;
  /** A larger entry's lookup rows hold no copy (schema.ts). */
  readonly trailCopyLimit = MAX_TRAIL_COPY_BYTES;
  /** The PostgreSQL schema holding this log. */
  readonly schema: string;
  readonly readonly: boolean;
  /** Notices recorded by read replicas, waiting for the sequencer to append them (./outbox.ts). */
  readonly outbox: PostgresOutbox;
  readonly #pool: pg.Pool;
  readonly #endpoint: Endpoint;
  #lockClient: pg.PoolClient | undefined;
  #lockListener: (() => void) | undefined;
  #lockLost = false;
  #writeChain: Promise<unknown> = Promise.resolve();
  /** The server refuses writes: a hot standby in recovery, or default_transaction_read_only set for us. */
  readonly #serverReadOnly: boolean;
  /** Checkpoint times of older rows known to be rounded to the hour (#hourCheckpointTimes). */
  #checkpointTimesHourly = false;
  /** The connection of a readConsistent() in progress, for the reads made inside it. */
  readonly #snapshot = new AsyncLocalStorage<pg.PoolClient>();

  private constructor(
    pool: pg.Pool,
    endpoint: Endpoint,
    schema: string,
    readonly: boolean,
    serverReadOnly: boolean,
  ) {
    this.#pool = pool;
    this.#endpoint = endpoint;
    this.schema = schema;
    this.readonly = readonly;
    this.#serverReadOnly = serverReadOnly;
    this.outbox = new PostgresOutbox(
      (text, values) => this.#query(text, values),
      this.#table("outbox"),
      readonly,
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
    return new PostgresStore(pool, endpoint, schema, readonly, serverReadOnly);
  }

  /** "host:port" of the server, for messages. */
  get where(): string {
    return this.#endpoint.where;
  }

  /** The server accepts only reads (a hot standby, or read-only sessions imposed by its settings). */
  get serverReadOnly(): boolean {
    return this.#serverReadOnly;
  }

  /** The outbox, where this store can write to it (LedgerStore.noticeOutbox). */
  get noticeOutbox(): PostgresOutbox | undefined {
    return this.readonly || this.#serverReadOnly ? undefined : this.outbox;
  }

  /** The witnessed checkpoint shared by the nodes of this log (putWitnessedCheckpoint below). */
  get sharedCheckpoint(): SharedCheckpointAccess {
    return this;
  }

  /** True while this store's session holds the log's sequencer lock. */
  get holdsSequencerLock(): boolean {
    return this.#lockClient !== undefined;
  }

  /**
   * Tries to become this log's single sequencer; false if another session holds the lock. The lock is
   * held on a dedicated connection until close(), and released by PostgreSQL if that session ends.
   */
  async acquireSequencerLock(): Promise<boolean> {
    if (this.readonly) throw new CustosError("CONFIG", "a store opened read-only cannot sequence the log");
    if (this.#serverReadOnly) throw this.#readOnlyServerError();
    if (this.#lockClient !== undefined) return true;
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw describeFailure(error, this.#endpoint);
    }
    const onError = (): void => {
      // The session is gone, and with it the lock: stop writing until the lock is acquired again.
      // (A query in flight fails too, and its caller releases the client.)
      client.off("error", onError);
      client.off("end", onError);
      client.on("error", ignore);
      if (this.#lockClient === client) {
        this.#lockClient = undefined;
        this.#lockLost = true;
        client.release(true);
      }
    };
    client.on("error", onError);
    client.on("end", onError);
    let held: boolean;
    try {
      const result = await client.query("SELECT pg_try_advisory_lock($1::bigint) AS held", [
        advisoryLockKey("sequencer", this.schema),
      ]);
      held = result.rows[0]?.held === true;
    } catch (error) {
      client.off("error", onError);
      client.off("end", onError);
      client.on("error", ignore);
      client.release(true);
      throw describeFailure(error, this.#endpoint);
    }
    if (!held) {
      client.off("error", onError);
      client.off("end", onError);
      client.release();
      return false;
    }
    this.#lockClient = client;
    this.#lockListener = onError;
    this.#lockLost = false;
    return true;
  }

  /** After a failure: re-takes the sequencer lock this store held (StoreLedger.regainWriter). */
  async regainWriter(): Promise<"held" | "taken"> {
    const client = this.#lockClient;
    if (client !== undefined) {
      // The session may have died without telling yet ("not queryable"): ask it, else drop it.
      try {
        await client.query("SELECT 1 AS up");
        return "held";
      } catch {
        this.#lockListener?.();
      }
    }
    return (await this.acquireSequencerLock()) ? "held" : "taken";
  }

  /** Readiness: this node can write only while its session holds the lock and the server answers. */
  async writeReadiness(): Promise<string> {
    if (this.readonly || this.#serverReadOnly) return "read-only";
    if (this.#lockLost && this.#lockClient === undefined) return "sequencer lock lost";
    await this.#query("SELECT 1 AS up");
    return "ok";
  }

  /**
   * Polls until this store holds the sequencer lock (to take over when the holder's session ends).
   * Returns false if `signal` aborts first.
   */
  async waitForSequencerLock(signal?: AbortSignal, intervalMs = 1000): Promise<boolean> {
    while (signal?.aborted !== true) {
      if (await this.acquireSequencerLock()) return true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, intervalMs);
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done, { once: true });
      });
    }
    return false;
  }

  #table(name: string): string {
    return `"${this.schema}".${name}`;
  }

  #readOnlyServerError(): CustosError {
    return new CustosError(
      "CONFIG",
      `PostgreSQL at ${this.#endpoint.where} accepts only reads (a hot standby, or default_transaction_read_only is on): reads, proofs and verify work here; point --db at the primary to write or sequence`,
    );
  }

  #checkWritable(): void {
    if (this.readonly) {
      throw new CustosError("CONFIG", "this store was opened read-only; open it without readonly to write");
    }
    if (this.#serverReadOnly) throw this.#readOnlyServerError();
  }

  async #query(text: string, values: unknown[] = []): Promise<pg.QueryResult<Row>> {
    // Reads run as named prepared statements: each connection parses and plans a statement once
    // rather than on every call (planning a trail page's join took ~5 ms of its time). The texts are
    // a fixed set (no values are ever spliced in), so the statements per connection stay few.
    const config: pg.QueryConfig = text.startsWith("SELECT")
      ? { name: statementName(text), text, values }
      : { text, values };
    try {
      return await (this.#snapshot.getStore() ?? this.#pool).query<Row>(config);
    } catch (error) {
      throw describeFailure(error, this.#endpoint);
    }
  }

  /**
   * Runs `read` against one snapshot of the log (a REPEATABLE READ, READ ONLY transaction; allowed on
   * a hot standby too), so a scan beside a running sequencer, or on a standby replaying the primary's
   * WAL, never sees a batch half-read as tampering (`custos verify`). The snapshot holds back VACUUM
   * on the server for as long as it lasts.
   */
  async readConsistent<T>(read: () => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw describeFailure(error, this.#endpoint);
    }
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      try {
        return await this.#snapshot.run(client, read);
      } finally {
        await client.query("COMMIT").catch(() => undefined);
      }
    } catch (error) {
      throw describeFailure(error, this.#endpoint);
    } finally {
      client.release();
    }
  }

  /** Runs `work` in one transaction: on the sequencer's own session if it holds the lock, else a pooled one. */
  async #transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const lockClient = this.#lockClient;
    if (lockClient !== undefined) {
      // One connection, so its transactions must not interleave.
      const run = this.#writeChain.then(() => this.#runTransaction(lockClient, work));
      this.#writeChain = run.catch(() => undefined);
      return run;
    }
    if (this.#lockLost) {
      throw new CustosError(
        "STORE_BUSY",
        `this node lost the sequencer lock (its session to ${this.#endpoint.where} ended); another node may be sequencing`,
      );
    }
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw describeFailure(error, this.#endpoint);
    }
    try {
      await this.#runTransaction(client, work);
    } finally {
      client.release();
    }
  }

  async #runTransaction(
    client: pg.PoolClient,
    work: (client: pg.PoolClient) => Promise<void>,
  ): Promise<void> {
    try {
      await client.query("BEGIN");
      await work(client);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw describeFailure(error, this.#endpoint);
    }
  }

  async initialize(meta: LogMeta): Promise<void> {
    this.#checkWritable();
    await this.#transaction(async (client) => {
      const existing = await client.query(
        `SELECT 1 FROM ${this.#table("meta")} WHERE key = 'origin' FOR UPDATE`,
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
        `INSERT INTO ${this.#table("meta")} (key, value) SELECT * FROM unnest($1::text[], $2::text[])`,
        [rows.map((row) => row[0]), rows.map((row) => row[1])],
      );
    });
  }

  async getMeta(): Promise<LogMeta | undefined> {
    const rows = (await this.#query(`SELECT key, value FROM ${this.#table("meta")}`)).rows;
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
    const row = (await this.#query(`SELECT value FROM ${this.#table("meta")} WHERE key = 'size'`)).rows[0];
    if (row === undefined) throw new CustosError("STORE_CORRUPT", "the store has no recorded size");
    return toIndex(row.value);
  }

  async appendBatch(batch: AppendBatch): Promise<void> {
    this.#checkWritable();
    checkIndex(batch.startIndex, "startIndex");
    await this.#transaction(async (client) => {
      // FOR UPDATE: a second writer waits here, then sees the new size and gets STORE_BUSY.
      const size = await client.query(
        `SELECT value FROM ${this.#table("meta")} WHERE key = 'size' FOR UPDATE`,
      );
      if (size.rows[0] === undefined)
        throw new CustosError("STORE_CORRUPT", "the store has no recorded size");
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
          `INSERT INTO ${this.#table("entries")} (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
          [chunk.map((e) => e.index), chunk.map((e) => buffer(e.data))],
        );
      }
      for (const chunk of statementChunks(batch.tiles, (t) => t.hashes.length)) {
        await client.query(
          `INSERT INTO ${this.#table("tiles")} (level, idx, hashes) SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
           ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`,
          [chunk.map((t) => t.level), chunk.map((t) => t.index), chunk.map((t) => buffer(t.hashes))],
        );
      }
      for (const chunk of statementChunks(batch.contents, (c) => c.data.length)) {
        await client.query(
          `INSERT INTO ${this.#table("contents")} (hash, data) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (hash) DO NOTHING`,
          [chunk.map((c) => buffer(c.hash)), chunk.map((c) => buffer(c.data))],
        );
      }
      for (const chunk of statementChunks(batch.idempotencyKeys, (k) => k.key.length)) {
        await client.query(
          `INSERT INTO ${this.#table("idempotency")} (key, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])`,
          [chunk.map((k) => buffer(k.key)), chunk.map((k) => k.index)],
        );
      }
      // After the entries and contents: each lookup row copies them as stored (its trail copy), read
      // back in the server rather than sent twice.
      for (const chunk of statementChunks(batch.lookupKeys, (k) => k.key.length)) {
        await client.query(
          `INSERT INTO ${this.#table("lookup")} (key, idx, entry, content)
           SELECT k.key, k.idx, CASE WHEN fits THEN e.data END, CASE WHEN fits THEN c.data END
           FROM unnest($1::bytea[], $2::bigint[]) AS k(key, idx)
           LEFT JOIN ${this.#table("entries")} e ON e.idx = k.idx
           LEFT JOIN ${this.#table("contents")} c ON c.hash = substring(e.data FROM octet_length(e.data) - 31)
           CROSS JOIN LATERAL (SELECT octet_length(e.data) + coalesce(octet_length(c.data), 0) <= ${MAX_TRAIL_COPY_BYTES} AS fits) f
           ON CONFLICT (key, idx) DO NOTHING`,
          [chunk.map((k) => buffer(k.key)), chunk.map((k) => k.index)],
        );
      }
      if (batch.checkpoint) {
        await this.#hourCheckpointTimes(client);
        await client.query(
          `INSERT INTO ${this.#table("checkpoints")} (size, note, stored_at) VALUES ($1, $2, $3)`,
          [batch.checkpoint.size, batch.checkpoint.note, batch.checkpoint.storedAt],
        );
      }
      await client.query(`UPDATE ${this.#table("meta")} SET value = $1 WHERE key = 'size'`, [
        String(batch.startIndex + batch.entries.length),
      ]);
    });
  }

  async getEntries(start: number, end: number): Promise<StoredEntry[]> {
    const result = await this.#query(
      `SELECT idx, data FROM ${this.#table("entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
      [start, end],
    );
    return result.rows.map((row) => ({ index: toIndex(row.idx), data: toBytes(row.data) }));
  }

  async getEntriesAt(indexes: readonly number[]): Promise<StoredEntry[]> {
    for (const index of indexes) checkIndex(index, "an entry index");
    const found = new Map<number, Uint8Array>();
    for (let i = 0; i < indexes.length; i += MAX_KEYS_PER_READ) {
      const result = await this.#query(
        `SELECT idx, data FROM ${this.#table("entries")} WHERE idx = ANY($1::bigint[])`,
        [indexes.slice(i, i + MAX_KEYS_PER_READ)],
      );
      for (const row of result.rows) found.set(toIndex(row.idx), toBytes(row.data));
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
      const result = await this.#query(
        `SELECT idx, data FROM ${this.#table("entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
        [next, end, chunkSize],
      );
      if (result.rows.length === 0) return;
      const chunk = result.rows.map((row) => ({ index: toIndex(row.idx), data: toBytes(row.data) }));
      yield chunk;
      next = chunk[chunk.length - 1]!.index + 1;
    }
  }

  async countEntries(): Promise<number> {
    return toIndex((await this.#query(`SELECT count(*) AS n FROM ${this.#table("entries")}`)).rows[0]?.n);
  }

  /** The tiles asked for that exist, in the order asked (as the SQLite store). */
  async getTiles(refs: readonly { level: number; index: number }[]): Promise<Tile[]> {
    if (refs.length === 0) return [];
    const result = await this.#query(
      `SELECT t.level, t.idx, t.hashes
       FROM unnest($1::integer[], $2::bigint[]) WITH ORDINALITY AS wanted(level, idx, position)
       JOIN ${this.#table("tiles")} t ON t.level = wanted.level AND t.idx = wanted.idx
       ORDER BY wanted.position`,
      [refs.map((ref) => ref.level), refs.map((ref) => ref.index)],
    );
    return result.rows.map((row) => ({
      level: toIndex(row.level),
      index: toIndex(row.idx),
      hashes: toBytes(row.hashes),
    }));
  }

  async *scanTiles(level: number, fromIndex: number): AsyncIterable<Tile[]> {
    let next = fromIndex;
    for (;;) {
      const result = await this.#query(
        `SELECT idx, hashes FROM ${this.#table("tiles")} WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT ${TILE_SCAN_CHUNK}`,
        [level, next],
      );
      if (result.rows.length === 0) return;
      const tiles = result.rows.map((row) => ({
        level,
        index: toIndex(row.idx),
        hashes: toBytes(row.hashes),
      }));
      yield tiles;
      next = tiles[tiles.length - 1]!.index + 1;
    }
  }

  async getEdgeTiles(): Promise<Tile[]> {
    const result = await this.#query(
      `SELECT DISTINCT ON (level) level, idx, hashes FROM ${this.#table("tiles")} ORDER BY level, idx DESC`,
    );
    return result.rows.map((row) => ({
      level: toIndex(row.level),
      index: toIndex(row.idx),
      hashes: toBytes(row.hashes),
    }));
  }

  async getContent(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const row = (
      await this.#query(`SELECT data FROM ${this.#table("contents")} WHERE hash = $1`, [buffer(hash)])
    ).rows[0];
    return row === undefined ? undefined : toBytes(row.data);
  }

  async getContents(hashes: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const found = new Map<string, Uint8Array>();
    for (let i = 0; i < hashes.length; i += MAX_KEYS_PER_READ) {
      const result = await this.#query(
        `SELECT hash, data FROM ${this.#table("contents")} WHERE hash = ANY($1::bytea[])`,
        [hashes.slice(i, i + MAX_KEYS_PER_READ).map(buffer)],
      );
      for (const row of result.rows) found.set(toHex(toBytes(row.hash)), toBytes(row.data));
    }
    return hashes.map((hash) => found.get(toHex(hash)));
  }

  async hasContent(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    if (hashes.length === 0) return [];
    const result = await this.#query(
      `SELECT hash FROM ${this.#table("contents")} WHERE hash = ANY($1::bytea[])`,
      [hashes.map(buffer)],
    );
    const found = new Set(result.rows.map((row) => toHex(toBytes(row.hash))));
    return hashes.map((hash) => found.has(toHex(hash)));
  }

  /**
   * Deletes the rows, then asks for a VACUUM of the table so the dead row versions are reclaimed
   * (best effort: it needs ownership of the table). Copies in WAL archives and backups remain until
   * they expire (docs/postgres.md).
   */
  async deleteContent(hashes: readonly Uint8Array[], entryIndexes: readonly number[]): Promise<void> {
    this.#checkWritable();
    for (const index of entryIndexes) checkIndex(index, "entry index");
    if (hashes.length === 0 && entryIndexes.length === 0) return;
    const changed = new Set<string>();
    await this.#transaction(async (client) => {
      const deleted = await client.query(
        `DELETE FROM ${this.#table("contents")} WHERE hash = ANY($1::bytea[])`,
        [hashes.map(buffer)],
      );
      if ((deleted.rowCount ?? 0) > 0) changed.add("contents");
      const cleared = await client.query(
        `UPDATE ${this.#table("lookup")} SET content = NULL WHERE idx = ANY($1::bigint[]) AND content IS NOT NULL`,
        [entryIndexes],
      );
      if ((cleared.rowCount ?? 0) > 0) changed.add("lookup");
    });
    // Only the tables that now hold dead row versions of erased content.
    for (const table of changed) {
      await this.#pool.query(`VACUUM ${this.#table(table)}`).catch(() => undefined);
    }
  }

  /** Keys found, as a map from the key's lowercase hex to its entry index. */
  async findIdempotencyKeys(keys: readonly Uint8Array[]): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    const result = await this.#query(
      `SELECT key, idx FROM ${this.#table("idempotency")} WHERE key = ANY($1::bytea[])`,
      [keys.map(buffer)],
    );
    return new Map(result.rows.map((row) => [toHex(toBytes(row.key)), toIndex(row.idx)]));
  }

  async keysInRange(
    table: "idempotency" | "lookup",
    start: number,
    end: number,
  ): Promise<{ key: Uint8Array; index: number }[]> {
    const result = await this.#query(
      `SELECT key, idx FROM ${this.#table(table)} WHERE idx >= $1 AND idx < $2 ORDER BY idx, key`,
      [start, end],
    );
    return result.rows.map((row) => ({ key: toBytes(row.key), index: toIndex(row.idx) }));
  }

  async findByLookupKey(query: LookupQuery): Promise<number[]> {
    const result = await this.#query(
      `SELECT idx FROM ${this.#table("lookup")} WHERE key = $1 AND idx >= $2 AND idx < $3
       ORDER BY idx ${query.descending ? "DESC" : "ASC"} LIMIT $4`,
      [buffer(query.key), query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit],
    );
    return result.rows.map((row) => toIndex(row.idx));
  }

  async entriesByLookupKey(query: LookupQuery): Promise<StoredEntry[]> {
    return (await this.#copies(query, false)).map(({ index, data }) => ({ index, data }));
  }

  async entriesWithContentsByLookupKey(query: LookupQuery): Promise<StoredEntryWithContent[]> {
    return this.#copies(query, true);
  }

  /**
   * A lookup range read from the rows' trail copies: an index-only scan of adjacent index rows. Rows
   * without a copy (too large for the index, or filed before their entry was stored) are read from
   * the log's own tables in a second query, and left out if their entry is missing, as a join would.
   */
  async #copies(query: LookupQuery, withContents: boolean): Promise<StoredEntryWithContent[]> {
    return readLookup(query, (page) => this.#copiesPage(page, withContents));
  }

  async #copiesPage(query: LookupQuery, withContents: boolean): Promise<LookupPage<StoredEntryWithContent>> {
    const order = query.descending ? "DESC" : "ASC";
    const result = await this.#query(
      `SELECT idx, entry${withContents ? ", content" : ""} FROM ${this.#table("lookup")}
       WHERE key = $1 AND idx >= $2 AND idx < $3 ORDER BY idx ${order} LIMIT $4`,
      [buffer(query.key), query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit],
    );
    const uncopied = result.rows.filter((row) => row.entry === null).map((row) => toIndex(row.idx));
    const canonical = new Map<number, Row>();
    if (uncopied.length > 0) {
      const read = await this.#query(
        `SELECT e.idx AS idx, e.data AS entry, c.data AS content FROM ${this.#table("entries")} e
         LEFT JOIN ${this.#table("contents")} c ON c.hash = substring(e.data FROM octet_length(e.data) - 31)
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

  async lookupCopiesInRange(start: number, end: number): Promise<LookupCopy[]> {
    const result = await this.#query(
      `SELECT key, idx, entry, content FROM ${this.#table("lookup")}
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

  async afterBulkLoad(): Promise<void> {
    this.#checkWritable();
    for (const table of ["entries", "contents", "lookup", "idempotency", "tiles", "checkpoints"]) {
      // Needs ownership of the table; without it the server's autovacuum does it later.
      await this.#pool.query(`VACUUM (ANALYZE) ${this.#table(table)}`).catch(() => undefined);
    }
  }

  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    this.#checkWritable();
    await this.#transaction(async (client) => {
      await this.#hourCheckpointTimes(client);
      await client.query(
        `INSERT INTO ${this.#table("checkpoints")} (size, note, stored_at) VALUES ($1, $2, $3)`,
        [checkpoint.size, checkpoint.note, checkpoint.storedAt],
      );
    });
  }

  /**
   * Before a checkpoint is stored: the times of those already stored are rounded down to the hour,
   * so only the newest checkpoint keeps its exact time (the readiness check's age) and the table
   * dates no entry's arrival finer than the hour (docs/encryption.md). Rows of an older Custos are
   * rounded once, the first time (meta checkpoint_times = hour); then only the previous newest row.
   */
  async #hourCheckpointTimes(client: pg.PoolClient): Promise<void> {
    const table = this.#table("checkpoints");
    if (!this.#checkpointTimesHourly) {
      const meta = this.#table("meta");
      const done = await client.query(`SELECT 1 FROM ${meta} WHERE key = 'checkpoint_times'`);
      if (done.rowCount !== 0) this.#checkpointTimesHourly = true;
      else {
        await client.query(
          `UPDATE ${table} SET stored_at = stored_at - stored_at % ${HOUR_MS} WHERE stored_at % ${HOUR_MS} <> 0`,
        );
        await client.query(
          `INSERT INTO ${meta} (key, value) VALUES ('checkpoint_times', 'hour') ON CONFLICT (key) DO NOTHING`,
        );
      }
    }
    await client.query(
      `UPDATE ${table} SET stored_at = stored_at - stored_at % ${HOUR_MS}
       WHERE id = (SELECT max(id) FROM ${table}) AND stored_at % ${HOUR_MS} <> 0`,
    );
  }

  /**
   * Publishes the latest checkpoint the sequencer's witnesses cosigned (the note with their
   * cosignature lines), so read replicas serve it too. Clients check every cosignature themselves, so
   * a row edited here can only make a replica's answers fail verification, never pass a forgery.
   */
  async putWitnessedCheckpoint(checkpoint: { readonly size: number; readonly note: string }): Promise<void> {
    this.#checkWritable();
    checkIndex(checkpoint.size, "size");
    await this.#query(
      `INSERT INTO ${this.#table("meta")} (key, value) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [
        ["witnessed_size", "witnessed_note"],
        [String(checkpoint.size), checkpoint.note],
      ],
    );
  }

  /** The witnessed checkpoint the sequencer published last, if any. */
  async getWitnessedCheckpoint(): Promise<{ size: number; note: string } | undefined> {
    const rows = (
      await this.#query(
        `SELECT key, value FROM ${this.#table("meta")} WHERE key IN ('witnessed_size', 'witnessed_note')`,
      )
    ).rows;
    const map = new Map(rows.map((row) => [String(row.key), String(row.value)]));
    const size = map.get("witnessed_size");
    const note = map.get("witnessed_note");
    if (size === undefined || note === undefined) return undefined;
    return { size: toIndex(size), note };
  }

  /** The checkpoint stored last (insertion order, not the largest size). */
  async getLatestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const row = (
      await this.#query(
        `SELECT size, note, stored_at FROM ${this.#table("checkpoints")} ORDER BY id DESC LIMIT 1`,
      )
    ).rows[0];
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async listCheckpoints(): Promise<StoredCheckpoint[]> {
    const rows = (
      await this.#query(`SELECT size, note, stored_at FROM ${this.#table("checkpoints")} ORDER BY id`)
    ).rows;
    return rows.map(toCheckpoint);
  }

  /** Waits for a write in flight, releases the sequencer lock (by ending its session) and the pool. */
  async close(): Promise<void> {
    await this.#writeChain;
    const lockClient = this.#lockClient;
    this.#lockClient = undefined;
    if (lockClient !== undefined) {
      if (this.#lockListener !== undefined) {
        lockClient.off("error", this.#lockListener);
        lockClient.off("end", this.#lockListener);
      }
      lockClient.on("error", ignore);
      await lockClient.query("SELECT pg_advisory_unlock_all()").catch(() => undefined);
      lockClient.release(true);
    }
    await this.#pool.end().catch(() => undefined);
  }
}
