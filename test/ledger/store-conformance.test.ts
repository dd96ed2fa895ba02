// The same behaviour from both storage backends: the embedded SQLite file and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex, utf8 } from "../../src/core/bytes.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";

interface Backend {
  name: string;
  open(): Promise<{ store: LedgerStore; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "sqlite",
    async open() {
      const { dir, cleanup } = tempDir();
      const store = SqliteStore.open(dir, { create: true });
      return {
        store,
        cleanup: async () => {
          await store.close();
          cleanup();
        },
      };
    },
  },
  {
    name: "postgres",
    async open() {
      await requirePostgres();
      const schema = testSchema();
      const store = await PostgresStore.open(PG_URL, { schema, create: true });
      return {
        store,
        cleanup: async () => {
          await store.close();
          await dropSchema(schema);
        },
      };
    },
  },
];

const META = {
  origin: "conformance.example/log",
  verifierKey: "k+00000000+AQ==",
  createdAt: 1,
  formatVersion: 1,
};
const hash = (n: number) => new Uint8Array(32).fill(n);

describe.each(backends)("$name store", (backend) => {
  let store: LedgerStore;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ store, cleanup } = await backend.open());
    await store.initialize(META);
  });
  afterAll(async () => cleanup());

  it("keeps the log's metadata and refuses a second initialization", async () => {
    expect(await store.getMeta()).toEqual(META);
    await expect(store.initialize(META)).rejects.toMatchObject({ code: "STORE_EXISTS" });
    expect(await store.getSize()).toBe(0);
  });

  it("writes a batch atomically and reads it back", async () => {
    await store.appendBatch({
      startIndex: 0,
      entries: [utf8("a"), utf8("b"), utf8("c")],
      tiles: [{ level: 0, index: 0, hashes: new Uint8Array(96).fill(1) }],
      contents: [{ hash: hash(7), data: utf8("content") }],
      idempotencyKeys: [{ key: utf8("evt-1"), index: 1 }],
      lookupKeys: [
        { key: utf8("tag"), index: 0 },
        { key: utf8("tag"), index: 2 },
      ],
      checkpoint: { size: 3, note: "note 3\n", storedAt: 10 },
    });
    expect(await store.getSize()).toBe(3);
    expect((await store.getEntries(0, 10)).map((e) => [e.index, new TextDecoder().decode(e.data)])).toEqual([
      [0, "a"],
      [1, "b"],
      [2, "c"],
    ]);
    const chunks = [];
    for await (const chunk of store.scanEntries(1, 10, 1)) chunks.push(chunk.map((e) => e.index));
    expect(chunks).toEqual([[1], [2]]);
    expect(await store.countEntries()).toBe(3);
    expect(await store.getContent(hash(7))).toEqual(utf8("content"));
    expect(await store.hasContent([hash(7), hash(8)])).toEqual([true, false]);
    expect(await store.findIdempotencyKeys([utf8("evt-1"), utf8("evt-2")])).toEqual(
      new Map([[toHex(utf8("evt-1")), 1]]),
    );
    expect(await store.findByLookupKey({ key: utf8("tag"), limit: 10 })).toEqual([0, 2]);
    expect(await store.findByLookupKey({ key: utf8("tag"), limit: 1, descending: true })).toEqual([2]);
    expect(await store.getLatestCheckpoint()).toEqual({ size: 3, note: "note 3\n", storedAt: 10 });
  });

  it("refuses a batch that does not start at the current size, writing nothing of it", async () => {
    await expect(
      store.appendBatch({
        startIndex: 1,
        entries: [utf8("x")],
        tiles: [],
        contents: [],
        idempotencyKeys: [],
        lookupKeys: [],
      }),
    ).rejects.toMatchObject({ code: "STORE_BUSY" });
    expect(await store.getSize()).toBe(3);
    expect(await store.countEntries()).toBe(3);
  });

  it("overwrites a growing tile and returns the rightmost tile of each level", async () => {
    await store.appendBatch({
      startIndex: 3,
      entries: [utf8("d")],
      tiles: [
        { level: 0, index: 0, hashes: new Uint8Array(128).fill(2) },
        { level: 1, index: 0, hashes: new Uint8Array(32).fill(3) },
      ],
      contents: [],
      idempotencyKeys: [],
      lookupKeys: [],
    });
    expect(
      (
        await store.getTiles([
          { level: 0, index: 0 },
          { level: 5, index: 5 },
        ])
      ).map((t) => t.hashes.length),
    ).toEqual([128]);
    const edges = (await store.getEdgeTiles()).sort((a, b) => a.level - b.level);
    expect(edges.map((t) => [t.level, t.index, t.hashes.length])).toEqual([
      [0, 0, 128],
      [1, 0, 32],
    ]);
    const scanned = [];
    for await (const tiles of store.scanTiles(0, 0)) scanned.push(...tiles.map((t) => t.index));
    expect(scanned).toEqual([0]);
  });

  it("keeps checkpoints in the order stored and deletes content on request", async () => {
    await store.putCheckpoint({ size: 4, note: "note 4\n", storedAt: 11 });
    expect((await store.listCheckpoints()).map((c) => c.size)).toEqual([3, 4]);
    await store.deleteContent([hash(7)]);
    expect(await store.getContent(hash(7))).toBeUndefined();
  });
});
