// Many inclusion proofs against one tree size with their tile reads shared (TreeReader.inclusionProofs)
// must equal the proofs asked one by one, for any tree size and any set of leaves, on both backends.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leafHash, inclusionProof as referenceProof, verifyInclusion } from "../../src/core/merkle/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { TreeReader } from "../../src/ledger/tree/index.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";
import { dataEntry } from "./fixtures.js";

const ORIGIN = "batched.custos.example/log";
/** Leaves in each test log: several tile levels, with partial edge tiles at every level. */
const LEAVES = 1234;

interface Backend {
  readonly name: string;
  open(): Promise<{ store: LedgerStore; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "sqlite",
    async open() {
      const { dir, cleanup } = tempDir();
      return { store: SqliteStore.open(dir, { create: true }), cleanup: async () => cleanup() };
    },
  },
  {
    name: "postgres",
    async open() {
      await requirePostgres();
      const schema = testSchema();
      const store = await PostgresStore.open(PG_URL, { schema, create: true });
      return { store, cleanup: () => dropSchema(schema) };
    },
  },
];

/** Counts the store's tile reads, to show a batch reads each tile once. */
function countingTiles(store: LedgerStore): { store: LedgerStore; calls: number; tiles: string[] } {
  const counter = { store, calls: 0, tiles: [] as string[] };
  counter.store = new Proxy(store, {
    get(target, property, receiver) {
      if (property === "getTiles") {
        return (refs: readonly { level: number; index: number }[]) => {
          counter.calls++;
          counter.tiles.push(...refs.map((ref) => `${ref.level}/${ref.index}`));
          return target.getTiles(refs);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return counter;
}

describe.each(backends)("batched inclusion proofs on the $name store", (backend) => {
  let ledger: Ledger;
  let cleanup: () => Promise<void>;
  const leafHashes = Array.from({ length: LEAVES }, (_, i) => leafHash(dataEntry(i)));

  beforeAll(async () => {
    const opened = await backend.open();
    cleanup = opened.cleanup;
    const { signerKey } = generateSignerKey(ORIGIN);
    await opened.store.initialize({
      origin: ORIGIN,
      verifierKey: verifierKeyFromSigner(signerKey),
      createdAt: 0,
      formatVersion: 1,
    });
    if (opened.store instanceof PostgresStore) await opened.store.acquireSequencerLock();
    ledger = await Ledger.open(opened.store, { signerKey, checkpointIntervalMs: 60_000 });
    // Uneven groups, so tiles are rewritten as they grow, as in a running log.
    for (let start = 0; start < LEAVES; start += 97) {
      const end = Math.min(LEAVES, start + 97);
      await ledger.append(Array.from({ length: end - start }, (_, i) => ({ entry: dataEntry(start + i) })));
    }
  });
  afterAll(async () => {
    await ledger?.close();
    await cleanup?.();
  });

  it("equal the one-by-one proofs for random tree sizes and sets of leaves", async () => {
    const sizeAndIndexes = fc
      .integer({ min: 1, max: LEAVES })
      .chain((size) =>
        fc.tuple(fc.constant(size), fc.array(fc.nat({ max: size - 1 }), { minLength: 0, maxLength: 60 })),
      );
    await fc.assert(
      fc.asyncProperty(sizeAndIndexes, async ([size, indexes]) => {
        // A fresh reader each time: no proof may lean on what an earlier one cached.
        const batched = await new TreeReader(ledger.store).inclusionProofs(indexes, size);
        expect(batched).toHaveLength(indexes.length);
        const single = new TreeReader(ledger.store);
        for (const [i, index] of indexes.entries()) {
          expect(batched[i]).toEqual(await single.inclusionProof(index, size));
          expect(batched[i]).toEqual(referenceProof(index, size, leafHashes.slice(0, size)));
        }
      }),
      { numRuns: 60 },
    );
  });

  it("prove every leaf of a tree at once, each proof verifying against the root", async () => {
    const size = LEAVES - 5;
    const indexes = Array.from({ length: size }, (_, i) => size - 1 - i);
    const proofs = await ledger.inclusionProofs(indexes, size);
    const root = await ledger.rootAt(size);
    for (const [i, index] of indexes.entries()) {
      expect(verifyInclusion(leafHashes[index]!, index, size, proofs[i]!, root)).toBe(true);
    }
  });

  it("read each tile once, in one store call, however many proofs share it", async () => {
    const counter = countingTiles(ledger.store);
    const indexes = Array.from({ length: 300 }, (_, i) => (i * 37) % LEAVES);
    await new TreeReader(counter.store).inclusionProofs(indexes, LEAVES);
    expect(counter.calls).toBe(1);
    expect(new Set(counter.tiles).size).toBe(counter.tiles.length);
  });

  it("refuse an index outside the tree, or a size the log has not reached", async () => {
    await expect(ledger.inclusionProofs([0, LEAVES], LEAVES)).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
    });
    await expect(ledger.inclusionProofs([0], LEAVES + 1)).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
    expect(await ledger.inclusionProofs([], LEAVES)).toEqual([]);
  });
});
