// The connections of one PostgreSQL log: the pool, the dedicated session on which the sequencer
// holds the log's advisory lock and writes its batches (so a node whose session, and lock, has ended
// cannot write anymore), transactions, snapshot reads, and the read-only checks every write passes.

import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import type pg from "pg";
import { CustosError } from "../../core/index.js";
import { advisoryLockKey, describeFailure, type Endpoint } from "./connection.js";
import type { Row } from "./row-values.js";

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

export class PostgresSession {
  /** The PostgreSQL schema holding this log. */
  readonly schema: string;
  readonly readonly: boolean;
  /** The server refuses writes: a hot standby in recovery, or default_transaction_read_only set for us. */
  readonly serverReadOnly: boolean;
  readonly #pool: pg.Pool;
  readonly #endpoint: Endpoint;
  #lockClient: pg.PoolClient | undefined;
  #lockListener: (() => void) | undefined;
  #lockLost = false;
  #writeChain: Promise<unknown> = Promise.resolve();
  /** The connection of a readConsistent() in progress, for the reads made inside it. */
  readonly #snapshot = new AsyncLocalStorage<pg.PoolClient>();

  constructor(pool: pg.Pool, endpoint: Endpoint, schema: string, readonly: boolean, serverReadOnly: boolean) {
    this.#pool = pool;
    this.#endpoint = endpoint;
    this.schema = schema;
    this.readonly = readonly;
    this.serverReadOnly = serverReadOnly;
  }

  /** "host:port" of the server, for messages. */
  get where(): string {
    return this.#endpoint.where;
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
    if (this.serverReadOnly) throw this.readOnlyServerError();
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

  /** After a failure: re-takes the sequencer lock this store held (LedgerStore.regainWriter). */
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
    if (this.readonly || this.serverReadOnly) return "read-only";
    if (this.#lockLost && this.#lockClient === undefined) return "sequencer lock lost";
    await this.query("SELECT 1 AS up");
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

  table(name: string): string {
    return `"${this.schema}".${name}`;
  }

  readOnlyServerError(): CustosError {
    return new CustosError(
      "CONFIG",
      `PostgreSQL at ${this.#endpoint.where} accepts only reads (a hot standby, or default_transaction_read_only is on): reads, proofs and verify work here; point --db at the primary to write or sequence`,
    );
  }

  checkWritable(): void {
    if (this.readonly) {
      throw new CustosError("CONFIG", "this store was opened read-only; open it without readonly to write");
    }
    if (this.serverReadOnly) throw this.readOnlyServerError();
  }

  async query(text: string, values: unknown[] = []): Promise<pg.QueryResult<Row>> {
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
  async transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
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

  /** Housekeeping on the pool (VACUUM), best effort: it needs ownership of the table. */
  async maintain(statement: string): Promise<void> {
    await this.#pool.query(statement).catch(() => undefined);
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
