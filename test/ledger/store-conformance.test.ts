// The same behaviour from both storage backends (src/ledger/storage.ts): the embedded SQLite file and
// PostgreSQL. Every test gets a fresh, initialized store (a temp dir, or a random schema dropped after).
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { concatBytes, fromUtf8, toHex, utf8 } from "../../src/core/bytes.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SQLITE_FILE_NAME, SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { AppendBatch, LedgerStore, Tile } from "../../src/ledger/storage.js";
import { dropSchema, PG_URL, requirePostgres, sql, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";

interface Backend {
  readonly name: string;
  /** The store, and `raw` to run SQL on its own database (tables unqualified), as an attacker would. */
  open(): Promise<{ store: LedgerStore; raw(sql: string): Promise<void>; cleanup(): Promise<void> }>;
}

const HOUR = 3_600_000;
const backends: Backend[] = [
  {
    name: "sqlite",
    async open() {
      const { dir, cleanup } = tempDir();
      const store = SqliteStore.open(dir, { create: true });
      return {
        store,
        raw: async (sql) => {
          const db = new Database(join(dir, SQLITE_FILE_NAME));
          try {
            db.exec(sql);
          } finally {
            db.close();
          }
        },
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
        raw: async (text) => {
          await sql(`SET search_path TO "${schema}"; ${text}`);
        },
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
  verifierKey: "conformance.example/log+01234567+AQ==",
  createdAt: 1_700_000_000_123,
  formatVersion: 1,
};

const filled = (length: number, byte: number) => new Uint8Array(length).fill(byte);
const hashOf = (n: number) => filled(32, n);
const tile = (level: number, index: number, width: number, byte = index % 256): Tile => ({
  level,
  index,
  hashes: filled(width * 32, byte),
});

function batch(startIndex: number, entries: readonly string[], rest: Partial<AppendBatch> = {}): AppendBatch {
  return {
    startIndex,
    entries: entries.map(utf8),
    tiles: [],
    contents: [],
    idempotencyKeys: [],
    lookupKeys: [],
    ...rest,
  };
}

const texts = (entries: readonly { index: number; data: Uint8Array }[]) =>
  entries.map((entry) => [entry.index, fromUtf8(entry.data)]);

async function collect<T>(chunks: AsyncIterable<T[]>): Promise<T[][]> {
  const all: T[][] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

describe.each(backends)("the $name store", (backend) => {
  let store: LedgerStore;
  let raw: (sql: string) => Promise<void>;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, raw, cleanup } = await backend.open());
  });
  afterEach(async () => cleanup());

  it("has no metadata before initialization, keeps it after, and refuses a second initialization", async () => {
    expect(await store.getMeta()).toBeUndefined();
    await store.initialize(META);
    expect(await store.getMeta()).toEqual(META);
    expect(await store.getSize()).toBe(0);
    await expect(store.initialize({ ...META, origin: "other.example/log" })).rejects.toMatchObject({
      code: "STORE_EXISTS",
    });
    expect(await store.getMeta()).toEqual(META);
  });

  describe("once initialized", () => {
    beforeEach(async () => store.initialize(META));

    it("reads back appended entries by range, in chunks and by count", async () => {
      await store.appendBatch(batch(0, ["a", "b", "c"]));
      await store.appendBatch(batch(3, ["d", "e"]));
      expect(await store.getSize()).toBe(5);
      expect(await store.countEntries()).toBe(5);
      expect(texts(await store.getEntries(0, 100))).toEqual([
        [0, "a"],
        [1, "b"],
        [2, "c"],
        [3, "d"],
        [4, "e"],
      ]);
      expect(texts(await store.getEntries(2, 4))).toEqual([
        [2, "c"],
        [3, "d"],
      ]);
      expect(await store.getEntries(5, 9)).toEqual([]);
      const chunks = await collect(store.scanEntries(1, 5, 2));
      expect(chunks.map((chunk) => chunk.map((entry) => entry.index))).toEqual([
        [1, 2],
        [3, 4],
      ]);
      expect((await collect(store.scanEntries(4, 100, 10))).map((chunk) => texts(chunk))).toEqual([
        [[4, "e"]],
      ]);
    });

    it("reads entries at a list of indexes in one call, in the order asked, skipping missing ones", async () => {
      await store.appendBatch(batch(0, ["a", "b", "c", "d", "e"]));
      expect(texts(await store.getEntriesAt([4, 0, 9, 2, 0]))).toEqual([
        [4, "e"],
        [0, "a"],
        [2, "c"],
        [0, "a"],
      ]);
      expect(await store.getEntriesAt([])).toEqual([]);
      expect(await store.getEntriesAt([5, 6])).toEqual([]);
    });

    it("reads 25,000 entries at scattered indexes, past one statement's worth", async () => {
      const entries = Array.from({ length: 30_000 }, (_, i) => `entry ${i}`);
      await store.appendBatch(batch(0, entries));
      const wanted = Array.from({ length: 25_000 }, (_, i) => (i * 7919) % 30_000).reverse();
      const found = await store.getEntriesAt(wanted);
      expect(found.map((entry) => entry.index)).toEqual(wanted);
      expect(found.every((entry) => fromUtf8(entry.data) === `entry ${entry.index}`)).toBe(true);
    });

    it.each([[-1], [1.5], [Number.MAX_SAFE_INTEGER + 1], [Number.NaN]])(
      "refuses to read the entry at index %s",
      async (index) => {
        await expect(store.getEntriesAt([0, index])).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
      },
    );

    it("writes a 20,000-entry batch in one call and reads every entry back in order", async () => {
      const entries = Array.from({ length: 20_000 }, (_, i) => `entry ${i}`);
      await store.appendBatch(
        batch(0, entries, {
          idempotencyKeys: [{ key: utf8("k-19999"), index: 19_999 }],
          lookupKeys: Array.from({ length: 20_000 }, (_, i) => ({ key: utf8(`tag-${i % 7}`), index: i })),
        }),
      );
      expect(await store.getSize()).toBe(20_000);
      let next = 0;
      for await (const chunk of store.scanEntries(0, 20_000, 5000)) {
        for (const entry of chunk) {
          expect([entry.index, fromUtf8(entry.data)]).toEqual([next, `entry ${next}`]);
          next++;
        }
      }
      expect(next).toBe(20_000);
      expect(await store.findByLookupKey({ key: utf8("tag-3"), limit: 3, descending: true })).toEqual([
        19_995, 19_988, 19_981,
      ]);
    });

    it("returns requested tiles in the order asked, skipping missing ones", async () => {
      await store.appendBatch(batch(0, ["a"], { tiles: [tile(0, 0, 16), tile(0, 1, 3), tile(1, 0, 1)] }));
      const found = await store.getTiles([
        { level: 1, index: 0 },
        { level: 0, index: 7 },
        { level: 0, index: 1 },
        { level: 0, index: 0 },
      ]);
      expect(found.map((t) => [t.level, t.index, t.hashes.length])).toEqual([
        [1, 0, 32],
        [0, 1, 96],
        [0, 0, 512],
      ]);
      expect(found[1]?.hashes).toEqual(filled(96, 1));
      expect(await store.getTiles([])).toEqual([]);
    });

    it("overwrites a growing tile when a later batch rewrites it", async () => {
      await store.appendBatch(batch(0, ["a"], { tiles: [tile(0, 0, 1, 0xaa)] }));
      await store.appendBatch(batch(1, ["b"], { tiles: [tile(0, 0, 2, 0xbb)] }));
      const [rewritten] = await store.getTiles([{ level: 0, index: 0 }]);
      expect(rewritten?.hashes).toEqual(filled(64, 0xbb));
    });

    it("scans a level's tiles from an index onward, across scan chunks", async () => {
      const many = Array.from({ length: 5000 }, (_, i) => tile(0, i, 16));
      await store.appendBatch(batch(0, ["a"], { tiles: [...many, tile(1, 0, 16), tile(1, 1, 2)] }));
      const level0 = (await collect(store.scanTiles(0, 10))).flat();
      expect(level0.map((t) => t.index)).toEqual(Array.from({ length: 4990 }, (_, i) => i + 10));
      expect(level0.every((t) => t.level === 0 && t.hashes.length === 512)).toBe(true);
      expect(
        (await collect(store.scanTiles(1, 1))).flat().map((t) => [t.level, t.index, t.hashes.length]),
      ).toEqual([[1, 1, 64]]);
      expect(await collect(store.scanTiles(2, 0))).toEqual([]);
    });

    it("returns the tile with the highest index of each level as the edge", async () => {
      expect(await store.getEdgeTiles()).toEqual([]);
      await store.appendBatch(
        batch(0, ["a"], {
          tiles: [tile(0, 0, 16), tile(0, 2, 5), tile(0, 1, 16), tile(1, 0, 3), tile(2, 0, 1)],
        }),
      );
      const edges = (await store.getEdgeTiles()).sort((a, b) => a.level - b.level);
      expect(edges.map((t) => [t.level, t.index, t.hashes.length])).toEqual([
        [0, 2, 160],
        [1, 0, 96],
        [2, 0, 32],
      ]);
      expect(edges[0]?.hashes).toEqual(filled(160, 2));
    });

    it("stores content once, reports which hashes it holds, and destroys it on request", async () => {
      await store.appendBatch(batch(0, ["a"], { contents: [{ hash: hashOf(7), data: utf8("first") }] }));
      // The same hash again (a replayed upload) keeps the original bytes.
      await store.appendBatch(
        batch(1, ["b"], {
          contents: [
            { hash: hashOf(7), data: utf8("second") },
            { hash: hashOf(8), data: utf8("other") },
          ],
        }),
      );
      expect(await store.getContent(hashOf(7))).toEqual(utf8("first"));
      expect(await store.getContent(hashOf(8))).toEqual(utf8("other"));
      expect(await store.getContent(hashOf(9))).toBeUndefined();
      expect(await store.hasContent([hashOf(9), hashOf(7), hashOf(8), hashOf(7)])).toEqual([
        false,
        true,
        true,
        true,
      ]);
      expect(await store.hasContent([])).toEqual([]);
      expect(await store.getContents([hashOf(8), hashOf(9), hashOf(7), hashOf(8)])).toEqual([
        utf8("other"),
        undefined,
        utf8("first"),
        utf8("other"),
      ]);
      expect(await store.getContents([])).toEqual([]);
      await store.deleteContent([hashOf(7), hashOf(9)], []);
      expect(await store.getContent(hashOf(7))).toBeUndefined();
      expect(await store.hasContent([hashOf(7), hashOf(8)])).toEqual([false, true]);
      expect(await store.getContents([hashOf(7), hashOf(8)])).toEqual([undefined, utf8("other")]);
    });

    it("finds idempotency keys, keyed by their lowercase hex", async () => {
      const upper = Uint8Array.of(0xab, 0xcd, 0xef);
      await store.appendBatch(
        batch(0, ["a", "b", "c"], {
          idempotencyKeys: [
            { key: upper, index: 0 },
            { key: utf8("evt-2"), index: 2 },
          ],
        }),
      );
      const found = await store.findIdempotencyKeys([utf8("evt-2"), utf8("missing"), upper]);
      expect(found).toEqual(
        new Map([
          ["abcdef", 0],
          [toHex(utf8("evt-2")), 2],
        ]),
      );
      expect(await store.findIdempotencyKeys([])).toEqual(new Map());
    });

    it("finds entries by lookup key in index order, reversed, bounded and limited", async () => {
      const tag = utf8("patient-tag");
      await store.appendBatch(
        batch(0, ["a", "b", "c", "d", "e", "f"], {
          lookupKeys: [0, 2, 3, 5]
            .map((index) => ({ key: tag, index }))
            .concat([{ key: utf8("other"), index: 1 }]),
        }),
      );
      expect(await store.findByLookupKey({ key: tag, limit: 10 })).toEqual([0, 2, 3, 5]);
      expect(await store.findByLookupKey({ key: tag, limit: 2, descending: true })).toEqual([5, 3]);
      expect(await store.findByLookupKey({ key: tag, fromIndex: 2, toIndex: 5, limit: 10 })).toEqual([2, 3]);
      expect(await store.findByLookupKey({ key: utf8("nobody"), limit: 10 })).toEqual([]);
      // The same rows with their entries, in one read.
      const texts = (entries: { index: number; data: Uint8Array }[]) =>
        entries.map((e) => [e.index, fromUtf8(e.data)]);
      expect(texts(await store.entriesByLookupKey({ key: tag, limit: 10 }))).toEqual([
        [0, "a"],
        [2, "c"],
        [3, "d"],
        [5, "f"],
      ]);
      expect(texts(await store.entriesByLookupKey({ key: tag, limit: 2, descending: true }))).toEqual([
        [5, "f"],
        [3, "d"],
      ]);
      expect(
        texts(
          await store.entriesByLookupKey({ key: tag, fromIndex: 2, toIndex: 5, limit: 10, descending: true }),
        ),
      ).toEqual([
        [3, "d"],
        [2, "c"],
      ]);
      expect(await store.entriesByLookupKey({ key: utf8("nobody"), limit: 10 })).toEqual([]);
    });

    it("reads entries by lookup key with the content named by each entry's last 32 bytes, in one read", async () => {
      const tag = utf8("patient-tag");
      const naming = (text: string, n: number) => concatBytes(utf8(text), hashOf(n));
      await store.appendBatch({
        ...batch(0, []),
        entries: [
          naming("a", 1),
          utf8("no content named here"),
          naming("c", 2),
          naming("d", 3),
          naming("e", 1),
        ],
        // Content 3 is not stored (erased, or never): its entry comes back without one.
        contents: [
          { hash: hashOf(1), data: utf8("one") },
          { hash: hashOf(2), data: utf8("two") },
        ],
        lookupKeys: [0, 1, 2, 3]
          .map((index) => ({ key: tag, index }))
          .concat([{ key: utf8("other"), index: 4 }]),
      });
      const read = async (query: Parameters<LedgerStore["entriesByLookupKey"]>[0]) => {
        const rows = await store.entriesWithContentsByLookupKey(query);
        // The same entries as entriesByLookupKey gives, in the same order.
        expect(rows.map(({ index, data }) => ({ index, data }))).toEqual(
          await store.entriesByLookupKey(query),
        );
        return rows.map((row) => [row.index, row.content === undefined ? undefined : fromUtf8(row.content)]);
      };
      expect(await read({ key: tag, limit: 10 })).toEqual([
        [0, "one"],
        [1, undefined],
        [2, "two"],
        [3, undefined],
      ]);
      expect(await read({ key: tag, limit: 2, descending: true })).toEqual([
        [3, undefined],
        [2, "two"],
      ]);
      expect(await read({ key: tag, fromIndex: 1, toIndex: 3, limit: 10, descending: true })).toEqual([
        [2, "two"],
        [1, undefined],
      ]);
      expect(await read({ key: utf8("other"), limit: 10 })).toEqual([[4, "one"]]);
      expect(await read({ key: utf8("nobody"), limit: 10 })).toEqual([]);
    });

    it("keeps a trail copy of each filed entry and its content, and erasure clears the copies", async () => {
      const tag = utf8("patient-tag");
      const naming = (text: string, n: number) => concatBytes(utf8(text), hashOf(n));
      await store.appendBatch({
        ...batch(0, []),
        entries: [naming("a", 1), utf8("plain")],
        contents: [{ hash: hashOf(1), data: utf8("one") }],
        lookupKeys: [
          { key: tag, index: 0 },
          { key: utf8("other"), index: 0 },
          { key: tag, index: 1 },
        ],
      });
      // Content 1 was stored by an earlier batch: the new entry naming it gets it in its copy too.
      // Entry 3 is larger than a PostgreSQL index row may be: read from the log's tables there.
      const large = concatBytes(filled(2500, 0x61), hashOf(4));
      await store.appendBatch({
        ...batch(2, []),
        entries: [naming("c", 1), large],
        contents: [{ hash: hashOf(4), data: filled(700, 0x62) }],
        lookupKeys: [
          { key: tag, index: 2 },
          { key: tag, index: 3 },
        ],
      });
      const copies = await store.lookupCopiesInRange(0, 3);
      expect(copies.map((c) => [c.index, fromUtf8(c.key), c.content && fromUtf8(c.content)])).toEqual([
        [0, "other", "one"],
        [0, "patient-tag", "one"],
        [1, "patient-tag", undefined],
        [2, "patient-tag", "one"],
      ]);
      expect(copies[1]!.entry).toEqual(naming("a", 1));
      expect(copies[2]!.entry).toEqual(utf8("plain"));
      const read = async () =>
        (await store.entriesWithContentsByLookupKey({ key: tag, limit: 10, descending: true })).map((row) => [
          row.index,
          row.data.length,
          row.content?.length,
        ]);
      expect(await read()).toEqual([
        [3, 2532, 700],
        [2, 33, 3],
        [1, 5, undefined],
        [0, 33, 3],
      ]);
      // Erasing content 1 (named by entries 0 and 2) clears it from every copy of those entries.
      await store.deleteContent([hashOf(1)], [0, 2]);
      expect(await read()).toEqual([
        [3, 2532, 700],
        [2, 33, undefined],
        [1, 5, undefined],
        [0, 33, undefined],
      ]);
      expect(
        (await store.entriesWithContentsByLookupKey({ key: utf8("other"), limit: 10 })).map((r) => r.content),
      ).toEqual([undefined]);
      // Only entry 3's copy (kept by SQLite, too large for PostgreSQL's) still holds content.
      expect(
        (await store.lookupCopiesInRange(0, 4)).filter((c) => c.content !== undefined && c.index !== 3),
      ).toEqual([]);
    });

    it("leaves out rows whose entry is gone without letting them use up the limit, as a join would", async () => {
      const tag = utf8("patient-tag");
      await store.appendBatch(
        batch(0, ["a", "b", "c", "d", "e", "f"], {
          lookupKeys: [0, 1, 2, 3, 4, 5].map((index) => ({ key: tag, index })),
        }),
      );
      // Entries 2 and 3 deleted, and their rows' copies too (a damaged store, or rows filed before
      // their entry was stored): a short reply would make a caller think the history ended there.
      await raw(
        "DELETE FROM entries WHERE idx IN (2, 3); UPDATE lookup SET entry = NULL, content = NULL WHERE idx IN (2, 3)",
      );
      const read = async (query: Parameters<LedgerStore["entriesByLookupKey"]>[0]) => {
        const entries = texts(await store.entriesByLookupKey(query));
        expect(texts(await store.entriesWithContentsByLookupKey(query))).toEqual(entries);
        return entries;
      };
      expect(await read({ key: tag, limit: 3, descending: true })).toEqual([
        [5, "f"],
        [4, "e"],
        [1, "b"],
      ]);
      expect(await read({ key: tag, limit: 3 })).toEqual([
        [0, "a"],
        [1, "b"],
        [4, "e"],
      ]);
      expect(await read({ key: tag, fromIndex: 1, toIndex: 5, limit: 2 })).toEqual([
        [1, "b"],
        [4, "e"],
      ]);
      expect(await read({ key: tag, limit: 10 })).toHaveLength(4);
    });

    it("reads any bytes back from the trail copies exactly, in order, bounded and limited (property)", async () => {
      // Entries and contents of any bytes (NUL, invalid UTF-8, empty contents): a trail read must give
      // them back byte for byte, as a model of the lookup table says, whatever the key, range, limit and
      // direction. Each run appends after the last, so the log grows across runs.
      let size = 0;
      const model: { key: number; index: number; entry: Uint8Array; content: Uint8Array | undefined }[] = [];
      const bytes = (min: number) => fc.uint8Array({ minLength: min, maxLength: 300 });
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              body: bytes(1),
              content: fc.option(bytes(0), { nil: undefined }),
              keys: fc.subarray([0, 1, 2], { minLength: 1 }),
            }),
            { minLength: 1, maxLength: 12 },
          ),
          fc.record({
            key: fc.constantFrom(0, 1, 2),
            from: fc.nat(60),
            span: fc.nat(60),
            limit: fc.integer({ min: 1, max: 20 }),
            descending: fc.boolean(),
          }),
          async (records, query) => {
            const start = size;
            const contents = new Map<string, Uint8Array>();
            const entries = records.map(({ body, content }) => {
              if (content === undefined) return body;
              const hash = new Uint8Array(createHash("sha256").update(content).digest());
              contents.set(toHex(hash), content);
              return concatBytes(body, hash);
            });
            await store.appendBatch({
              ...batch(start, []),
              entries,
              contents: [...contents.values()].map((data) => ({
                hash: new Uint8Array(createHash("sha256").update(data).digest()),
                data,
              })),
              lookupKeys: records.flatMap(({ keys }, i) =>
                keys.map((key) => ({ key: Uint8Array.of(key), index: start + i })),
              ),
            });
            records.forEach(({ content, keys }, i) => {
              for (const key of keys) model.push({ key, index: start + i, entry: entries[i]!, content });
            });
            size += records.length;
            const toIndex = query.from + query.span;
            const expected = model
              .filter((row) => row.key === query.key && row.index >= query.from && row.index < toIndex)
              .sort((a, b) => (query.descending ? b.index - a.index : a.index - b.index))
              .slice(0, query.limit);
            const asked = {
              key: Uint8Array.of(query.key),
              fromIndex: query.from,
              toIndex,
              limit: query.limit,
              descending: query.descending,
            };
            const read = await store.entriesWithContentsByLookupKey(asked);
            expect(
              read.map(({ index, data, content }) => [index, toHex(data), content && toHex(content)]),
            ).toEqual(
              expected.map(({ index, entry, content }) => [index, toHex(entry), content && toHex(content)]),
            );
            expect(
              (await store.entriesByLookupKey(asked)).map(({ index, data }) => [index, toHex(data)]),
            ).toEqual(expected.map(({ index, entry }) => [index, toHex(entry)]));
            // Verify's read of the copies by index range: by index, then key.
            const copies = await store.lookupCopiesInRange(query.from, toIndex);
            expect(
              copies.map(({ key, index, entry, content }) => [
                index,
                toHex(key),
                toHex(entry),
                content && toHex(content),
              ]),
            ).toEqual(
              model
                .filter((row) => row.index >= query.from && row.index < toIndex)
                .sort((a, b) => a.index - b.index || a.key - b.key)
                .map(({ key, index, entry, content }) => [
                  index,
                  toHex(Uint8Array.of(key)),
                  toHex(entry),
                  content && toHex(content),
                ]),
            );
            // Contents by hash, in the order asked; a hash never stored gives undefined.
            const sha = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());
            const recent = model.flatMap(({ content }) => (content === undefined ? [] : [content])).slice(-3);
            const never = sha(utf8("never stored"));
            expect((await store.getContents([never, ...recent.map(sha)])).map((c) => c && toHex(c))).toEqual([
              undefined,
              ...recent.map(toHex),
            ]);
          },
        ),
        { numRuns: 40 },
      );
    });

    // Only SQLite can hold a non-binary value in an entry column; PostgreSQL's bytea type refuses one.
    if (backend.name === "sqlite")
      it("refuses a trail copy that is not binary (STORE_CORRUPT) rather than serve it", async () => {
        const tag = utf8("patient-tag");
        await store.appendBatch(
          batch(0, ["a", "b"], { lookupKeys: [0, 1].map((index) => ({ key: tag, index })) }),
        );
        await raw("UPDATE lookup SET entry = 'text, not a blob' WHERE idx = 1");
        await expect(store.entriesByLookupKey({ key: tag, limit: 10 })).rejects.toMatchObject({
          code: "STORE_CORRUPT",
        });
        await expect(store.entriesWithContentsByLookupKey({ key: tag, limit: 10 })).rejects.toMatchObject({
          code: "STORE_CORRUPT",
        });
      });

    it("lists checkpoints in the order stored and calls the last one stored the latest", async () => {
      expect(await store.getLatestCheckpoint()).toBeUndefined();
      expect(await store.listCheckpoints()).toEqual([]);
      await store.appendBatch(
        batch(0, ["a", "b"], { checkpoint: { size: 2, note: "note 2\n", storedAt: 20 * HOUR + 20 } }),
      );
      await store.putCheckpoint({ size: 9, note: "note 9\n", storedAt: 30 * HOUR + 30 });
      // Not the largest size and not the latest time: order of insertion decides.
      await store.putCheckpoint({ size: 1, note: "note 1\n", storedAt: 5 * HOUR + 5 });
      // Every checkpoint but the newest keeps only the hour it was stored in (docs/encryption.md).
      expect((await store.listCheckpoints()).map((c) => [c.size, c.note, c.storedAt])).toEqual([
        [2, "note 2\n", 20 * HOUR],
        [9, "note 9\n", 30 * HOUR],
        [1, "note 1\n", 5 * HOUR + 5],
      ]);
      expect(await store.getLatestCheckpoint()).toEqual({
        size: 1,
        note: "note 1\n",
        storedAt: 5 * HOUR + 5,
      });
    });

    it("rounds the checkpoint times an older Custos stored to the hour, once, at the next checkpoint", async () => {
      await raw(
        `INSERT INTO checkpoints (size, note, stored_at) VALUES (1, 'note 1', ${3 * HOUR + 1234}), (2, 'note 2', ${4 * HOUR + 5678})`,
      );
      await store.putCheckpoint({ size: 3, note: "note 3\n", storedAt: 5 * HOUR + 9 });
      expect((await store.listCheckpoints()).map((c) => [c.size, c.storedAt])).toEqual([
        [1, 3 * HOUR],
        [2, 4 * HOUR],
        [3, 5 * HOUR + 9],
      ]);
      // After that first pass, each checkpoint rounds only the row stored before it.
      await raw(`INSERT INTO checkpoints (size, note, stored_at) VALUES (4, 'note 4', ${6 * HOUR + 77})`);
      await store.appendBatch(
        batch(0, [], { checkpoint: { size: 5, note: "note 5\n", storedAt: 7 * HOUR + 1 } }),
      );
      expect((await store.listCheckpoints()).map((c) => c.storedAt)).toEqual([
        3 * HOUR,
        4 * HOUR,
        5 * HOUR + 9,
        6 * HOUR,
        7 * HOUR + 1,
      ]);
    });

    it.each([
      ["behind", 1],
      ["ahead of", 3],
    ])(
      "refuses a batch starting %s the store's size with STORE_BUSY, writing nothing of it",
      async (_, start) => {
        await store.appendBatch(batch(0, ["a", "b"], { tiles: [tile(0, 0, 2, 1)] }));
        await expect(
          store.appendBatch(
            batch(start, ["x", "y"], {
              tiles: [tile(0, 0, 4, 9), tile(1, 0, 1)],
              contents: [{ hash: hashOf(5), data: utf8("c") }],
              idempotencyKeys: [{ key: utf8("idem"), index: start }],
              lookupKeys: [{ key: utf8("tag"), index: start }],
              checkpoint: { size: start + 2, note: "bad\n", storedAt: 1 },
            }),
          ),
        ).rejects.toMatchObject({ code: "STORE_BUSY" });
        expect(await store.getSize()).toBe(2);
        expect(texts(await store.getEntries(0, 10))).toEqual([
          [0, "a"],
          [1, "b"],
        ]);
        expect((await store.getEdgeTiles()).map((t) => [t.level, t.index, t.hashes.length])).toEqual([
          [0, 0, 64],
        ]);
        expect(await store.hasContent([hashOf(5)])).toEqual([false]);
        expect(await store.findIdempotencyKeys([utf8("idem")])).toEqual(new Map());
        expect(await store.findByLookupKey({ key: utf8("tag"), limit: 10 })).toEqual([]);
        expect(await store.listCheckpoints()).toEqual([]);
        // The store is still usable at the right index.
        await store.appendBatch(batch(2, ["c"]));
        expect(await store.getSize()).toBe(3);
      },
    );

    it("accepts a batch with only a checkpoint, leaving the size as it was", async () => {
      await store.appendBatch(batch(0, ["a"]));
      await store.appendBatch(batch(1, [], { checkpoint: { size: 1, note: "note 1\n", storedAt: 7 } }));
      expect(await store.getSize()).toBe(1);
      expect(await store.getLatestCheckpoint()).toEqual({ size: 1, note: "note 1\n", storedAt: 7 });
    });
  });
});
