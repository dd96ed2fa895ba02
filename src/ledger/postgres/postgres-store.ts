// The PostgreSQL backend: the same LedgerStore as SQLite, for deployments that outgrow one machine.
// Availability and durability come from PostgreSQL itself (synchronous_commit must stay on: a
// COMMIT is then durable before it returns). One sequencer per log is enforced with an advisory
// lock held on a dedicated connection; any number of other nodes can read.

import pg from "pg";
import { toHex } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import type {
  AppendBatch,
  LedgerStore,
  LogMeta,
  LookupQuery,
  StoredCheckpoint,
  StoredEntry,
  Tile,
} from "../storage.js";
import { migrations, POSTGRES_SCHEMA_VERSION } from "./schema.js";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresStoreOptions {
  /** The PostgreSQL schema holding this log (default "custos"). */
  readonly schema?: string;
  /** Create the schema and run migrations if needed. */
  readonly create?: boolean;
  readonly poolSize?: number;
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
}

function toIndex(value: unknown): number {
  const n = typeof value === "string" ? Number(value) : typeof value === "number" ? value : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CustosError("STORE_CORRUPT", "a stored index is not a safe integer");
  return n;
}

function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Turns pg's connection and permission errors into one-line CustosErrors that say what to do. */
function describeFailure(error: unknown, url: string): CustosError {
  const code = (error as { code?: string }).code;
  const where = (() => {
    try {
      const u = new URL(url);
      return `${u.hostname}:${u.port || 5432}`;
    } catch {
      return "the database";
    }
  })();
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "EHOSTUNREACH") {
    return new CustosError(
      "CONFIG",
      `cannot reach PostgreSQL at ${where} (${code}); start it or point Custos at another with --db or CUSTOS_DB_URL`,
      { cause: error },
    );
  }
  if (code === "42501")
    return new CustosError(
      "CONFIG",
      `the database user lacks a needed right at ${where}: ${(error as Error).message}`,
      { cause: error },
    );
  if (code === "3D000")
    return new CustosError("CONFIG", `the database named in the URL does not exist at ${where}`, {
      cause: error,
    });
  if (code === "28P01" || code === "28000")
    return new CustosError("CONFIG", `PostgreSQL at ${where} refused the credentials`, { cause: error });
  if (error instanceof CustosError) return error;
  return new CustosError("STORE_CORRUPT", `PostgreSQL error: ${(error as Error).message}`, { cause: error });
}

export class PostgresStore implements LedgerStore {
  readonly backend = "postgres" as const;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #url: string;
  #lockClient: pg.PoolClient | undefined;

  private constructor(pool: pg.Pool, url: string, schema: string) {
    this.#pool = pool;
    this.#url = url;
    this.schema = schema;
  }

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = options.schema ?? "custos";
    if (!SCHEMA_NAME.test(schema))
      throw new CustosError("BAD_ARGUMENT", "a schema name is lowercase letters, digits and _");
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 4 });
    pool.on("error", () => undefined);
    const store = new PostgresStore(pool, url, schema);
    try {
      if (options.create) await migrate(pool, schema);
      else await store.#checkVersion();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw describeFailure(error, url);
    }
    return store;
  }

  async #checkVersion(): Promise<void> {
    const exists = await this.#pool.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'",
      [this.schema],
    );
    if (exists.rowCount === 0) {
      throw new CustosError(
        "STORE_NOT_FOUND",
        `no Custos log in PostgreSQL schema "${this.schema}" (run custos db migrate)`,
      );
    }
    const row = await this.#pool.query(
      `SELECT value FROM "${this.schema}".meta WHERE key = 'schema_version'`,
    );
    const version = Number(row.rows[0]?.value ?? 0);
    if (version > POSTGRES_SCHEMA_VERSION) {
      throw new CustosError(
        "STORE_CORRUPT",
        `the database schema is version ${version}, newer than this Custos (${POSTGRES_SCHEMA_VERSION}); upgrade Custos`,
      );
    }
  }

  #t(table: string): string {
    return `"${this.schema}".${table}`;
  }

  async #query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    try {
      return await this.#pool.query(text, values);
    } catch (error) {
      throw describeFailure(error, this.#url);
    }
  }

  /** Tries to become this log's single sequencer; false if another node holds the lock. */
  async acquireSequencerLock(): Promise<boolean> {
    if (this.#lockClient) return true;
    const client = await this.#pool.connect();
    const result = await client.query("SELECT pg_try_advisory_lock(hashtext($1)) AS ok", [
      `custos-sequencer:${this.schema}`,
    ]);
    if (result.rows[0]?.ok === true) {
      this.#lockClient = client;
      return true;
    }
    client.release();
    return false;
  }

  /** Waits (polling) until this node holds the sequencer lock, e.g. to take over from a dead node. */
  async waitForSequencerLock(signal?: AbortSignal, intervalMs = 500): Promise<boolean> {
    while (!signal?.aborted) {
      if (await this.acquireSequencerLock()) return true;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    return false;
  }

  async initialize(meta: LogMeta): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      const existing = await client.query(`SELECT 1 FROM ${this.#t("meta")} WHERE key = 'origin'`);
      if (existing.rowCount) throw new CustosError("STORE_EXISTS", "this store already holds a log");
      for (const [key, value] of [
        ["origin", meta.origin],
        ["verifier_key", meta.verifierKey],
        ["created_at", String(meta.createdAt)],
        ["format_version", String(meta.formatVersion)],
        ["size", "0"],
      ]) {
        await client.query(`INSERT INTO ${this.#t("meta")} (key, value) VALUES ($1, $2)`, [key, value]);
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw describeFailure(error, this.#url);
    } finally {
      client.release();
    }
  }

  async getMeta(): Promise<LogMeta | undefined> {
    const rows = (await this.#query(`SELECT key, value FROM ${this.#t("meta")}`)).rows as {
      key: string;
      value: string;
    }[];
    const map = new Map(rows.map((r) => [r.key, r.value]));
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
    const row = (await this.#query(`SELECT value FROM ${this.#t("meta")} WHERE key = 'size'`)).rows[0];
    if (row === undefined) throw new CustosError("STORE_CORRUPT", "the store has no recorded size");
    return toIndex(row.value);
  }

  async appendBatch(batch: AppendBatch): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      const size = await client.query(`SELECT value FROM ${this.#t("meta")} WHERE key = 'size' FOR UPDATE`);
      const current = toIndex(size.rows[0]?.value);
      if (current !== batch.startIndex) {
        throw new CustosError(
          "STORE_BUSY",
          `the log grew underneath this sequencer (store size ${current}, expected ${batch.startIndex})`,
        );
      }
      if (batch.entries.length > 0) {
        await client.query(
          `INSERT INTO ${this.#t("entries")} (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
          [batch.entries.map((_, i) => String(batch.startIndex + i)), batch.entries.map(buffer)],
        );
      }
      if (batch.tiles.length > 0) {
        await client.query(
          `INSERT INTO ${this.#t("tiles")} (level, idx, hashes) SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
           ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`,
          [
            batch.tiles.map((t) => t.level),
            batch.tiles.map((t) => String(t.index)),
            batch.tiles.map((t) => buffer(t.hashes)),
          ],
        );
      }
      if (batch.contents.length > 0) {
        await client.query(
          `INSERT INTO ${this.#t("contents")} (hash, data) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT DO NOTHING`,
          [batch.contents.map((c) => buffer(c.hash)), batch.contents.map((c) => buffer(c.data))],
        );
      }
      if (batch.idempotencyKeys.length > 0) {
        await client.query(
          `INSERT INTO ${this.#t("idempotency")} (key, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])`,
          [
            batch.idempotencyKeys.map((k) => buffer(k.key)),
            batch.idempotencyKeys.map((k) => String(k.index)),
          ],
        );
      }
      if (batch.lookupKeys.length > 0) {
        await client.query(
          `INSERT INTO ${this.#t("lookup")} (key, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[]) ON CONFLICT DO NOTHING`,
          [batch.lookupKeys.map((k) => buffer(k.key)), batch.lookupKeys.map((k) => String(k.index))],
        );
      }
      if (batch.checkpoint) {
        await client.query(
          `INSERT INTO ${this.#t("checkpoints")} (size, note, stored_at) VALUES ($1, $2, $3)`,
          [batch.checkpoint.size, batch.checkpoint.note, batch.checkpoint.storedAt],
        );
      }
      await client.query(`UPDATE ${this.#t("meta")} SET value = $1 WHERE key = 'size'`, [
        String(batch.startIndex + batch.entries.length),
      ]);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw describeFailure(error, this.#url);
    } finally {
      client.release();
    }
  }

  async getEntries(start: number, end: number): Promise<StoredEntry[]> {
    const result = await this.#query(
      `SELECT idx, data FROM ${this.#t("entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
      [start, end],
    );
    return result.rows.map((r) => ({ index: toIndex(r.idx), data: toBytes(r.data) }));
  }

  async *scanEntries(start: number, end: number, chunkSize: number): AsyncIterable<StoredEntry[]> {
    let next = start;
    while (next < end) {
      const result = await this.#query(
        `SELECT idx, data FROM ${this.#t("entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
        [next, end, chunkSize],
      );
      if (result.rows.length === 0) return;
      const chunk = result.rows.map((r) => ({ index: toIndex(r.idx), data: toBytes(r.data) }));
      yield chunk;
      next = chunk[chunk.length - 1]!.index + 1;
    }
  }

  async countEntries(): Promise<number> {
    return toIndex((await this.#query(`SELECT count(*) AS n FROM ${this.#t("entries")}`)).rows[0]?.n);
  }

  async getTiles(refs: readonly { level: number; index: number }[]): Promise<Tile[]> {
    if (refs.length === 0) return [];
    const result = await this.#query(
      `SELECT t.level, t.idx, t.hashes FROM ${this.#t("tiles")} t JOIN unnest($1::integer[], $2::bigint[]) AS w(level, idx)
       ON t.level = w.level AND t.idx = w.idx`,
      [refs.map((r) => r.level), refs.map((r) => String(r.index))],
    );
    return result.rows.map((r) => ({
      level: Number(r.level),
      index: toIndex(r.idx),
      hashes: toBytes(r.hashes),
    }));
  }

  async *scanTiles(level: number, fromIndex: number): AsyncIterable<Tile[]> {
    let next = fromIndex;
    for (;;) {
      const result = await this.#query(
        `SELECT idx, hashes FROM ${this.#t("tiles")} WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT 4096`,
        [level, next],
      );
      if (result.rows.length === 0) return;
      const tiles = result.rows.map((r) => ({ level, index: toIndex(r.idx), hashes: toBytes(r.hashes) }));
      yield tiles;
      next = tiles[tiles.length - 1]!.index + 1;
    }
  }

  async getEdgeTiles(): Promise<Tile[]> {
    const result = await this.#query(
      `SELECT DISTINCT ON (level) level, idx, hashes FROM ${this.#t("tiles")} ORDER BY level, idx DESC`,
    );
    return result.rows.map((r) => ({
      level: Number(r.level),
      index: toIndex(r.idx),
      hashes: toBytes(r.hashes),
    }));
  }

  async getContent(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const row = (await this.#query(`SELECT data FROM ${this.#t("contents")} WHERE hash = $1`, [buffer(hash)]))
      .rows[0];
    return row === undefined ? undefined : toBytes(row.data);
  }

  async hasContent(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    const result = await this.#query(
      `SELECT hash FROM ${this.#t("contents")} WHERE hash = ANY($1::bytea[])`,
      [hashes.map(buffer)],
    );
    const found = new Set(result.rows.map((r) => toHex(toBytes(r.hash))));
    return hashes.map((h) => found.has(toHex(h)));
  }

  async deleteContent(hashes: readonly Uint8Array[]): Promise<void> {
    await this.#query(`DELETE FROM ${this.#t("contents")} WHERE hash = ANY($1::bytea[])`, [
      hashes.map(buffer),
    ]);
  }

  async findIdempotencyKeys(keys: readonly Uint8Array[]): Promise<Map<string, number>> {
    const result = await this.#query(
      `SELECT key, idx FROM ${this.#t("idempotency")} WHERE key = ANY($1::bytea[])`,
      [keys.map(buffer)],
    );
    return new Map(result.rows.map((r) => [toHex(toBytes(r.key)), toIndex(r.idx)]));
  }

  async findByLookupKey(query: LookupQuery): Promise<number[]> {
    const result = await this.#query(
      `SELECT idx FROM ${this.#t("lookup")} WHERE key = $1 AND idx >= $2 AND idx < $3 ORDER BY idx ${query.descending ? "DESC" : "ASC"} LIMIT $4`,
      [buffer(query.key), query.fromIndex ?? 0, query.toIndex ?? Number.MAX_SAFE_INTEGER, query.limit],
    );
    return result.rows.map((r) => toIndex(r.idx));
  }

  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    await this.#query(`INSERT INTO ${this.#t("checkpoints")} (size, note, stored_at) VALUES ($1, $2, $3)`, [
      checkpoint.size,
      checkpoint.note,
      checkpoint.storedAt,
    ]);
  }

  async getLatestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const row = (
      await this.#query(
        `SELECT size, note, stored_at FROM ${this.#t("checkpoints")} ORDER BY id DESC LIMIT 1`,
      )
    ).rows[0];
    return row === undefined
      ? undefined
      : { size: toIndex(row.size), note: String(row.note), storedAt: toIndex(row.stored_at) };
  }

  async listCheckpoints(): Promise<StoredCheckpoint[]> {
    const rows = (
      await this.#query(`SELECT size, note, stored_at FROM ${this.#t("checkpoints")} ORDER BY id`)
    ).rows;
    return rows.map((row) => ({
      size: toIndex(row.size),
      note: String(row.note),
      storedAt: toIndex(row.stored_at),
    }));
  }

  async close(): Promise<void> {
    if (this.#lockClient) {
      await this.#lockClient.query("SELECT pg_advisory_unlock_all()").catch(() => undefined);
      this.#lockClient.release();
      this.#lockClient = undefined;
    }
    await this.#pool.end().catch(() => undefined);
  }
}

/** Creates the schema if needed and applies pending migrations, in one transaction. */
export async function migrate(pool: pg.Pool, schema: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`custos-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const hasMeta = await client.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'",
      [schema],
    );
    let version = 0;
    if (hasMeta.rowCount) {
      const row = await client.query(`SELECT value FROM "${schema}".meta WHERE key = 'schema_version'`);
      version = Number(row.rows[0]?.value ?? 0);
    }
    if (version > POSTGRES_SCHEMA_VERSION) {
      throw new CustosError(
        "STORE_CORRUPT",
        `the database schema is version ${version}, newer than this Custos (${POSTGRES_SCHEMA_VERSION}); upgrade Custos`,
      );
    }
    const steps = migrations(schema);
    for (let v = version; v < steps.length; v++) await client.query(steps[v]!);
    await client.query(
      `INSERT INTO "${schema}".meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [String(POSTGRES_SCHEMA_VERSION)],
    );
    await client.query("COMMIT");
    return POSTGRES_SCHEMA_VERSION;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
