// What only the PostgreSQL store does: migrations, the single-sequencer advisory lock, read-only
// sessions, few statements per batch, and clear errors for an unreachable server or missing rights.
import { createServer } from "node:net";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { utf8 } from "../../../src/core/bytes.js";
import { advisoryLockKey } from "../../../src/ledger/postgres/connection.js";
import { migrate, POSTGRES_SCHEMA_VERSION, PostgresStore } from "../../../src/ledger/postgres/index.js";
import type { AppendBatch } from "../../../src/ledger/storage.js";
import { dropSchema, PG_URL, requirePostgres, sql, testSchema } from "../../helpers/postgres.js";

const META = {
  origin: "pg.custos.example/log",
  verifierKey: "pg.custos.example/log+00000000+AQ==",
  createdAt: 1,
  formatVersion: 1,
};

function batch(startIndex: number, count: number, rest: Partial<AppendBatch> = {}): AppendBatch {
  return {
    startIndex,
    entries: Array.from({ length: count }, (_, i) => utf8(`entry ${startIndex + i}`)),
    tiles: [],
    contents: [],
    idempotencyKeys: [],
    lookupKeys: [],
    ...rest,
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The backend holding the sequencer lock of a schema (pg_locks splits a bigint key in two oids). */
async function lockHolderPid(schema: string): Promise<number | undefined> {
  const key = BigInt.asUintN(64, BigInt(advisoryLockKey("sequencer", schema)));
  const result = await sql(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid AND objsubid = 1 AND granted",
    [String(key >> 32n), String(key & 0xffffffffn)],
  );
  return result.rows[0]?.pid as number | undefined;
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let schema: string;
const open: PostgresStore[] = [];
async function openStore(options: Parameters<typeof PostgresStore.open>[1] = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open(PG_URL, { schema, ...options });
  open.push(store);
  return store;
}

beforeEach(requirePostgres);
beforeEach(() => {
  schema = testSchema();
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  await dropSchema(schema);
});

describe("PostgreSQL migrations", () => {
  it("creates the schema once, then finds nothing to do", async () => {
    expect(await migrate(PG_URL, schema)).toEqual({ fromVersion: 0, toVersion: POSTGRES_SCHEMA_VERSION });
    expect(await migrate(PG_URL, schema)).toEqual({
      fromVersion: POSTGRES_SCHEMA_VERSION,
      toVersion: POSTGRES_SCHEMA_VERSION,
    });
    const store = await openStore();
    await store.initialize(META);
    expect(await store.getMeta()).toEqual(META);
  });

  it("applies each step once when two nodes migrate at the same moment", async () => {
    const results = await Promise.all([migrate(PG_URL, schema), migrate(PG_URL, schema)]);
    expect(results.map((r) => r.fromVersion).sort()).toEqual([0, POSTGRES_SCHEMA_VERSION]);
  });

  it("refuses a schema written by a newer Custos, when opening and when migrating", async () => {
    await migrate(PG_URL, schema);
    await sql(`UPDATE "${schema}".meta SET value = $1 WHERE key = 'schema_version'`, [
      String(POSTGRES_SCHEMA_VERSION + 1),
    ]);
    const newer = new RegExp(`version ${POSTGRES_SCHEMA_VERSION + 1}, newer than this Custos`);
    await expect(openStore()).rejects.toMatchObject({
      code: "STORE_CORRUPT",
      message: expect.stringMatching(newer),
    });
    await expect(openStore({ create: true })).rejects.toMatchObject({ code: "STORE_CORRUPT" });
    await expect(migrate(PG_URL, schema)).rejects.toThrow(newer);
  });

  it("reports a missing log, and refuses schema names that are not plain identifiers", async () => {
    await expect(openStore()).rejects.toMatchObject({
      code: "STORE_NOT_FOUND",
      message: expect.stringContaining("custos db migrate"),
    });
    await expect(PostgresStore.open(PG_URL, { schema: 'x"; DROP SCHEMA public; --' })).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
    });
    await expect(migrate(PG_URL, "Custos")).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
  });
});

describe("the single sequencer", () => {
  beforeEach(async () => {
    const store = await openStore({ create: true });
    await store.initialize(META);
  });

  it("lets one store hold the lock while a second can only read, then hands it over on close", async () => {
    const first = await openStore();
    const second = await openStore();
    expect(await first.acquireSequencerLock()).toBe(true);
    expect(await first.acquireSequencerLock()).toBe(true);
    expect(await second.acquireSequencerLock()).toBe(false);
    await first.appendBatch(batch(0, 10));
    expect(await second.getSize()).toBe(10);
    expect(second.holdsSequencerLock).toBe(false);
    const waiting = second.waitForSequencerLock(AbortSignal.timeout(10_000), 50);
    await first.close();
    expect(await waiting).toBe(true);
    expect(second.holdsSequencerLock).toBe(true);
    await second.appendBatch(batch(10, 5));
    expect(await second.getSize()).toBe(15);
  });

  it("gives up waiting for the lock when the signal aborts", async () => {
    const first = await openStore();
    const second = await openStore();
    expect(await first.acquireSequencerLock()).toBe(true);
    const started = Date.now();
    expect(await second.waitForSequencerLock(AbortSignal.timeout(200), 50)).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("stops writing when its session dies, and another node takes over", async () => {
    const first = await openStore();
    const second = await openStore();
    expect(await first.acquireSequencerLock()).toBe(true);
    await first.appendBatch(batch(0, 3));
    const pid = await lockHolderPid(schema);
    expect(pid).toBeTypeOf("number");
    await sql("SELECT pg_terminate_backend($1)", [pid]);
    await until(() => !first.holdsSequencerLock);
    await expect(first.appendBatch(batch(3, 1))).rejects.toMatchObject({
      code: "STORE_BUSY",
      message: expect.stringContaining("lost the sequencer lock"),
    });
    expect(await second.waitForSequencerLock(AbortSignal.timeout(5000), 50)).toBe(true);
    await second.appendBatch(batch(3, 2));
    expect(await first.getSize()).toBe(5);
  });

  it("lets exactly one of two writers racing for the same index commit", async () => {
    const first = await openStore();
    const second = await openStore();
    const results = await Promise.allSettled([
      first.appendBatch(batch(0, 100)),
      second.appendBatch(batch(0, 50)),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: "STORE_BUSY" });
    const size = await first.getSize();
    expect([50, 100]).toContain(size);
    expect(await first.countEntries()).toBe(size);
  });
});

describe("the PostgreSQL store", () => {
  beforeEach(async () => {
    const store = await openStore({ create: true });
    await store.initialize(META);
  });

  it("writes a 20,000-entry batch in a handful of statements", async () => {
    const store = await openStore();
    const count = 20_000;
    const spy = vi.spyOn(pg.Client.prototype, "query");
    try {
      await store.appendBatch(
        batch(0, count, {
          tiles: Array.from({ length: 1400 }, (_, i) => ({
            level: 0,
            index: i,
            hashes: new Uint8Array(512),
          })),
          contents: Array.from({ length: 100 }, (_, i) => ({
            hash: new Uint8Array(32).fill(i),
            data: utf8(`c${i}`),
          })),
          idempotencyKeys: Array.from({ length: count }, (_, i) => ({ key: utf8(`k${i}`), index: i })),
          lookupKeys: Array.from({ length: count }, (_, i) => ({ key: utf8(`t${i % 10}`), index: i })),
          checkpoint: { size: count, note: "note\n", storedAt: 1 },
        }),
      );
      // BEGIN, size check, five INSERTs, the older checkpoints' times rounded to the hour (the first
      // time: a meta check, the one-time rounding and its marker; then the previous newest row),
      // checkpoint, size update, COMMIT: a fixed number, however many entries.
      expect(spy.mock.calls.length).toBeGreaterThanOrEqual(8);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(14);
    } finally {
      spy.mockRestore();
    }
    expect(await store.getSize()).toBe(count);
    expect(await store.countEntries()).toBe(count);
  });

  it("serves reads from a read-only store and refuses writes and sequencing there", async () => {
    const reader = await openStore({ readonly: true });
    expect(await reader.getMeta()).toEqual(META);
    expect(reader.readonly).toBe(true);
    await expect(reader.appendBatch(batch(0, 1))).rejects.toMatchObject({ code: "CONFIG" });
    await expect(reader.putCheckpoint({ size: 0, note: "n\n", storedAt: 0 })).rejects.toMatchObject({
      code: "CONFIG",
    });
    await expect(reader.acquireSequencerLock()).rejects.toMatchObject({ code: "CONFIG" });
    await expect(openStore({ readonly: true, create: true })).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
    expect(await reader.getSize()).toBe(0);
  });

  it("treats stored indexes and sizes beyond safe integers as corruption", async () => {
    const store = await openStore();
    await sql(`INSERT INTO "${schema}".tiles (level, idx, hashes) VALUES (0, 9007199254740993, '\\x00')`);
    await expect(store.getEdgeTiles()).rejects.toMatchObject({ code: "STORE_CORRUPT" });
    await sql(`UPDATE "${schema}".meta SET value = '-1' WHERE key = 'size'`);
    await expect(store.getSize()).rejects.toMatchObject({ code: "STORE_CORRUPT" });
  });
});

describe("connection failures", () => {
  it("names the unreachable host and port, and how to point Custos elsewhere", async () => {
    const port = await closedPort();
    const url = `postgres://root@127.0.0.1:${port}/test`;
    for (const attempt of [PostgresStore.open(url, { schema: "custos" }), migrate(url, "custos")]) {
      await expect(attempt).rejects.toMatchObject({
        code: "CONFIG",
        message: expect.stringMatching(
          new RegExp(`cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} .*CUSTOS_DB_URL`),
        ),
      });
    }
  });

  it("says permission denied when the database user lacks the right to create the schema", async () => {
    const role = `custos_test_role_${Math.random().toString(36).slice(2, 10)}`;
    await sql(`CREATE ROLE "${role}" LOGIN`);
    try {
      const url = new URL(PG_URL);
      url.username = role;
      url.password = "";
      await expect(migrate(url.toString(), schema)).rejects.toMatchObject({
        code: "CONFIG",
        message: expect.stringContaining("permission denied"),
      });
    } finally {
      await sql(`DROP ROLE "${role}"`);
    }
  });

  it("refuses URLs that are not PostgreSQL or whose sslmode would not verify the server", async () => {
    for (const url of [
      "mysql://root@127.0.0.1/test",
      "not a url",
      `${PG_URL}?sslmode=require`,
      `${PG_URL}?sslmode=no-verify`,
      `${PG_URL}?sslmode=prefer`,
    ]) {
      await expect(PostgresStore.open(url, { schema: "custos" })).rejects.toMatchObject({ code: "CONFIG" });
    }
  });
});
