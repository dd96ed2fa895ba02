// The SQLite store writes a batch with multi-row inserts (src/ledger/sqlite/batch-insert.ts): the rows
// stored must be exactly those the row-by-row statements stored, whatever the batch's shape: counts
// across the 128/64/.../1 chunk sizes, entries naming content of the same batch, of an earlier batch
// or none, entries shorter than a hash, several and repeated lookup keys per entry.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concatBytes, toHex } from "../../src/core/bytes.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { ContentBlob } from "../../src/ledger/storage.js";
import { tempDir } from "../helpers/temp.js";

const sha = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

/** kind 0: names content of this batch; 1: content of the first batch; 2: no content; 3: shorter than 32 bytes. */
const shape = fc.record({
  kind: fc.integer({ min: 0, max: 3 }),
  keys: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
  idempotent: fc.boolean(),
});

describe("SQLite multi-row batch inserts", () => {
  it("store every entry, content, idempotency key and trail copy as row-by-row inserts did", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(shape, { maxLength: 300 }), { minLength: 1, maxLength: 3 }),
        async (batches) => {
          const { dir, cleanup } = tempDir();
          const store = SqliteStore.open(dir, { create: true });
          try {
            await store.initialize({ origin: "t/log", verifierKey: "k", createdAt: 0, formatVersion: 1 });
            const keys = Array.from({ length: 6 }, (_, i) => sha(new Uint8Array([i])));
            // An earlier batch's content, named by later entries of kind 1.
            const earlier = new Uint8Array([9, 9, 9]);
            await store.appendBatch({
              startIndex: 0,
              entries: [concatBytes(new Uint8Array([1]), sha(earlier))],
              tiles: [],
              contents: [{ hash: sha(earlier), data: earlier }],
              idempotencyKeys: [],
              lookupKeys: [],
            });
            let size = 1;
            const expected = new Map<string, { entry: Uint8Array; content: Uint8Array | undefined }>();
            const idempotent = new Map<string, number>();
            for (const [b, batch] of batches.entries()) {
              const entries: Uint8Array[] = [];
              const contents: ContentBlob[] = [];
              const idempotencyKeys: { key: Uint8Array; index: number }[] = [];
              const lookupKeys: { key: Uint8Array; index: number }[] = [];
              batch.forEach((s, i) => {
                const index = size + i;
                const own = new Uint8Array([b, i & 255, i >> 8, 7]);
                let entry: Uint8Array;
                let content: Uint8Array | undefined;
                if (s.kind === 0) {
                  entry = concatBytes(new Uint8Array([2, i & 255]), sha(own));
                  content = own;
                  contents.push({ hash: sha(own), data: own });
                } else if (s.kind === 1) {
                  entry = concatBytes(new Uint8Array([3, i & 255]), sha(earlier));
                  content = earlier;
                } else if (s.kind === 2) {
                  entry = concatBytes(
                    new Uint8Array([4, i & 255]),
                    sha(new Uint8Array([b, i & 255, i >> 8])),
                  );
                } else {
                  entry = new Uint8Array([5, b, i & 255, i >> 8]);
                }
                entries.push(entry);
                for (const k of s.keys) {
                  lookupKeys.push({ key: keys[k]!, index });
                  expected.set(`${k}/${index}`, { entry, content });
                }
                if (s.idempotent) {
                  const key = sha(new Uint8Array([b, i & 255, i >> 8, 1]));
                  idempotencyKeys.push({ key, index });
                  idempotent.set(toHex(key), index);
                }
              });
              await store.appendBatch({
                startIndex: size,
                entries,
                tiles: [],
                contents,
                idempotencyKeys,
                lookupKeys,
              });
              expect((await store.getEntries(size, size + entries.length)).map((e) => e.data)).toEqual(
                entries,
              );
              size += entries.length;
            }
            expect(await store.getSize()).toBe(size);
            const copies = await store.lookupCopiesInRange(1, size);
            expect(copies.length).toBe(expected.size);
            for (const copy of copies) {
              const want = expected.get(
                `${keys.findIndex((k) => toHex(k) === toHex(copy.key))}/${copy.index}`,
              );
              expect(want).toBeDefined();
              expect(copy.entry).toEqual(want!.entry);
              expect(copy.content).toEqual(want!.content);
            }
            const found = await store.findIdempotencyKeys(
              [...idempotent.keys()].map((h) => Buffer.from(h, "hex")),
            );
            expect(found).toEqual(idempotent);
          } finally {
            await store.close();
            cleanup();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
