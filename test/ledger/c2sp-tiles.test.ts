import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes.js";
import { parseCheckpoint } from "../../src/core/checkpoint/index.js";
import { encodeDataEntry } from "../../src/core/entry/index.js";
import { CustosError } from "../../src/core/errors.js";
import {
  isPowerOfTwo,
  leafHash,
  nodeHash,
  splitPoint,
  verifyInclusion,
} from "../../src/core/merkle/index.js";
import { openNote } from "../../src/core/note/index.js";
import {
  encodeTileIndex,
  formatTilePath,
  parseTilePath,
  readC2spTile,
  readEntryBundle,
  type TilePath,
} from "../../src/ledger/c2sp-tiles.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { createTestLog, dataEntry, type TestLog } from "./fixtures.js";

function rejectsWith(code: string, run: () => unknown): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(CustosError);
  expect((thrown as CustosError).code).toBe(code);
}

async function rejectsAsync(code: string, run: () => Promise<unknown>): Promise<void> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CustosError);
  expect((error as CustosError).code).toBe(code);
}

const tilePathArb: fc.Arbitrary<TilePath> = fc.oneof(
  fc.record(
    {
      kind: fc.constant("hashes" as const),
      level: fc.integer({ min: 0, max: 63 }),
      index: fc.oneof(fc.nat(5000), fc.maxSafeNat()),
      width: fc.integer({ min: 1, max: 255 }),
    },
    { requiredKeys: ["kind", "level", "index"] },
  ),
  fc.record(
    {
      kind: fc.constant("entries" as const),
      index: fc.oneof(fc.nat(5000), fc.maxSafeNat()),
      width: fc.integer({ min: 1, max: 255 }),
    },
    { requiredKeys: ["kind", "index"] },
  ),
);

const PATH_CHARACTERS = ["0", "1", "2", "5", "9", "x", "X", "/", ".", "p", "e", "s", " ", "-", "+"];

/** A path one random edit away from a valid one. */
const editedPathArb = fc
  .tuple(
    tilePathArb,
    fc.nat(),
    fc.constantFrom("insert", "delete", "replace"),
    fc.constantFrom(...PATH_CHARACTERS),
  )
  .map(([tile, at, edit, character]) => {
    const path = formatTilePath(tile);
    const i = at % (path.length + 1);
    if (edit === "insert") return path.slice(0, i) + character + path.slice(i);
    if (edit === "delete") return path.slice(0, i) + path.slice(i + 1);
    return path.slice(0, i) + character + path.slice(i + 1);
  });

/** Our own spelling of any non-negative bigint, to build paths for indexes past 2^53. */
function bigIndexPath(value: bigint): string {
  const groups: string[] = [];
  let rest = value;
  do {
    groups.unshift(String(rest % 1000n).padStart(3, "0"));
    rest /= 1000n;
  } while (rest > 0n);
  return groups.map((group, i) => (i < groups.length - 1 ? `x${group}` : group)).join("/");
}

describe("tile paths (c2sp.org/tlog-tiles)", () => {
  it("encodes indexes in three-digit groups as the spec's examples do", () => {
    expect(encodeTileIndex(1234067)).toBe("x001/x234/067");
    expect(encodeTileIndex(0)).toBe("000");
    expect(encodeTileIndex(999)).toBe("999");
    expect(encodeTileIndex(1000)).toBe("x001/000");
    expect(encodeTileIndex(Number.MAX_SAFE_INTEGER)).toBe("x009/x007/x199/x254/x740/991");
    expect(parseTilePath("0/x001/x234/067")).toEqual({ kind: "hashes", level: 0, index: 1234067 });
    expect(parseTilePath("2/000.p/1")).toEqual({ kind: "hashes", level: 2, index: 0, width: 1 });
    expect(parseTilePath("entries/x001/000.p/255")).toEqual({ kind: "entries", index: 1000, width: 255 });
  });

  it("parses every formatted path back to the same tile", () => {
    fc.assert(
      fc.property(tilePathArb, (tile) => {
        expect(parseTilePath(formatTilePath(tile))).toEqual(tile);
      }),
    );
  });

  it("accepts only canonical spellings: whatever parses formats back to the same text", () => {
    const check = (path: string) => {
      let tile: TilePath;
      try {
        tile = parseTilePath(path);
      } catch (error) {
        expect(error).toBeInstanceOf(CustosError);
        expect((error as CustosError).code).toBe("BAD_ARGUMENT");
        return;
      }
      expect(formatTilePath(tile)).toBe(path);
    };
    fc.assert(fc.property(editedPathArb, check), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...PATH_CHARACTERS, "entries/"), maxLength: 40 }), check),
      { numRuns: 2000 },
    );
  });

  it("rejects indexes past 2^53 - 1 rather than rounding them", () => {
    expect(parseTilePath(`0/${bigIndexPath(BigInt(Number.MAX_SAFE_INTEGER))}`).kind).toBe("hashes");
    fc.assert(
      fc.property(fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n, max: 10n ** 30n }), (value) => {
        rejectsWith("BAD_ARGUMENT", () => parseTilePath(`0/${bigIndexPath(value)}`));
        rejectsWith("BAD_ARGUMENT", () => parseTilePath(`entries/${bigIndexPath(value)}.p/3`));
      }),
    );
  });

  it.each([
    ["an empty path", ""],
    ["a bare level", "0"],
    ["a trailing slash", "0/000/"],
    ["a level with a leading zero", "01/000"],
    ["a level past 63", "64/000"],
    ["a signed level", "+1/000"],
    ["an index of two digits", "0/00"],
    ["an index of four digits", "0/0000"],
    ["a leading zero group", "0/x000/001"],
    ["a missing x prefix", "0/001/234"],
    ["an x on the last group", "0/x001"],
    ["an upper-case X", "0/X001/000"],
    ["a short x group", "0/x01/000"],
    ["a partial width of 0", "0/001.p/0"],
    ["a partial width of 256", "0/001.p/256"],
    ["a partial width with a leading zero", "0/001.p/07"],
    ["a partial marker without a width", "0/001.p"],
    ["a partial marker with an empty width", "0/001.p/"],
    ["an upper-case partial marker", "0/001.P/1"],
    ["a partial marker on its own", "0/001/.p/1"],
    ["something after the width", "0/001.p/1/000"],
    ["non-ASCII digits", "0/\u0661\u0662\u0663"],
    ["spaces", "0/ 001"],
    ["a query string", "0/001?x=1"],
    ["a misspelled entries", "entry/000"],
    ["entries without an index", "entries"],
    ["seven index groups", "0/x001/x000/x000/x000/x000/x000/000"],
    ["a very long path", `0/${"x001/".repeat(40)}000`],
  ])("rejects %s", (_, path) => {
    rejectsWith("BAD_ARGUMENT", () => parseTilePath(path));
  });
});

// A C2SP client that sees only the served tiles and bundles, for one checkpoint's tree size
// (c2sp.org/tlog-tiles): it recomputes the root and inclusion proofs by RFC 6962 2.1 recursion.
class TileClient {
  readonly fetched = new Map<string, Uint8Array>();
  readonly #fetch: (path: string) => Promise<Uint8Array>;
  readonly #size: number;

  constructor(fetch: (path: string) => Promise<Uint8Array>, size: number) {
    this.#fetch = fetch;
    this.#size = size;
  }

  /** The path a client fetches for tile (level, index) at this size: full, or partial per the spec. */
  tilePath(level: number, index: number): string {
    const nodes = Math.floor(this.#size / 256 ** level);
    if ((index + 1) * 256 <= nodes) return `${level}/${encodeTileIndex(index)}`;
    const width = nodes % 256;
    if (index !== Math.floor(nodes / 256) || width === 0)
      throw new Error(`tile ${level}/${index} is beyond the tree`);
    return `${level}/${encodeTileIndex(index)}.p/${width}`;
  }

  async get(path: string, expectedLength?: number): Promise<Uint8Array> {
    let bytes = this.fetched.get(path);
    if (bytes === undefined) {
      bytes = await this.#fetch(path);
      this.fetched.set(path, bytes);
    }
    if (expectedLength !== undefined) expect(bytes.length).toBe(expectedLength);
    return bytes;
  }

  async tileHashes(level: number, index: number): Promise<Uint8Array[]> {
    const path = this.tilePath(level, index);
    const width = path.includes(".p/") ? Number(path.split(".p/")[1]) : 256;
    const bytes = await this.get(path, width * 32);
    return Array.from({ length: width }, (_, i) => bytes.slice(i * 32, i * 32 + 32));
  }

  /** The hash of the perfect subtree over leaves [index * 2^height, (index + 1) * 2^height). */
  async subtree(height: number, index: number): Promise<Uint8Array> {
    const level = Math.floor(height / 8);
    const span = 2 ** (height - 8 * level);
    const first = index * span;
    const hashes = await this.tileHashes(level, Math.floor(first / 256));
    let layer = hashes.slice(first % 256, (first % 256) + span);
    expect(layer.length).toBe(span);
    while (layer.length > 1) {
      const next: Uint8Array[] = [];
      for (let i = 0; i < layer.length; i += 2) next.push(nodeHash(layer[i]!, layer[i + 1]!));
      layer = next;
    }
    return layer[0]!;
  }

  /** RFC 6962 2.1 MTH(D[start:start+n]), for the ranges the recursion visits (aligned). */
  async mth(start: number, n: number): Promise<Uint8Array> {
    if (isPowerOfTwo(n)) return this.subtree(Math.log2(n), start / n);
    const k = splitPoint(n);
    return nodeHash(await this.mth(start, k), await this.mth(start + k, n - k));
  }

  root(): Promise<Uint8Array> {
    return this.mth(0, this.#size);
  }

  /** RFC 6962 2.1.1 PATH(m, D[0:size]). */
  async inclusionProof(m: number): Promise<Uint8Array[]> {
    const proof: Uint8Array[] = [];
    let start = 0;
    let n = this.#size;
    let index = m;
    while (n > 1) {
      const k = splitPoint(n);
      if (index < k) {
        proof.unshift(await this.mth(start + k, n - k));
        n = k;
      } else {
        proof.unshift(await this.mth(start, k));
        start += k;
        index -= k;
        n -= k;
      }
    }
    return proof;
  }

  /** The entries of bundle `index` at this size, parsed from their uint16 length prefixes. */
  async bundle(index: number): Promise<Uint8Array[]> {
    const end = Math.min(this.#size, (index + 1) * 256);
    const width = end - index * 256;
    const path = `entries/${encodeTileIndex(index)}${width === 256 ? "" : `.p/${width}`}`;
    return parseBundle(await this.get(path));
  }
}

function parseBundle(bytes: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    expect(offset + 2).toBeLessThanOrEqual(bytes.length);
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    expect(offset + 2 + length).toBeLessThanOrEqual(bytes.length);
    entries.push(bytes.slice(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return entries;
}

function fetchFrom(store: LedgerStore): (path: string) => Promise<Uint8Array> {
  return async (path) => {
    const tile = parseTilePath(path);
    return tile.kind === "entries"
      ? readEntryBundle(store, tile.index, tile.width)
      : readC2spTile(store, tile.level, tile.index, tile.width);
  };
}

describe("C2SP tiles and entry bundles served from a real log", () => {
  let log: TestLog;
  let verifierKey: string;
  const everServed = new Map<string, Uint8Array>();

  beforeAll(async () => {
    log = await createTestLog();
    verifierKey = log.verifierKey;
  });
  afterAll(async () => {
    await log?.cleanup();
  });

  async function growTo(size: number): Promise<{ size: number; root: Uint8Array }> {
    const current = await log.ledger.size();
    for (let start = current; start < size; start += 20_000) {
      const end = Math.min(size, start + 20_000);
      await log.ledger.append(
        Array.from({ length: end - start }, (_, i) => ({ entry: dataEntry(start + i) })),
      );
    }
    const checkpoint = await log.ledger.checkpoint();
    const body = parseCheckpoint(openNote(checkpoint.note, [verifierKey]).text);
    expect(body.size).toBe(size);
    return { size: body.size, root: body.rootHash };
  }

  // Sizes around our 16-wide and C2SP's 256-wide tile boundaries, at levels 0, 1 and 2.
  const sizes = [1, 2, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 65535, 65536, 65539, 70000];

  it.each(sizes)(
    "lets a client recompute the root and inclusion proofs from the tiles alone at size %i",
    async (target) => {
      const { size, root } = await growTo(target);
      const client = new TileClient(fetchFrom(log.ledger.store), size);
      expect(await client.root()).toEqual(root);

      const indexes = [...new Set([0, 1, 255, 256, 4096, Math.floor(size / 2), size - 2, size - 1])].filter(
        (i) => i >= 0 && i < size,
      );
      for (const index of indexes) {
        const proof = await client.inclusionProof(index);
        expect(verifyInclusion(leafHash(dataEntry(index)), index, size, proof, root)).toBe(true);
        expect(proof).toEqual(await log.ledger.inclusionProof(index, size));
      }

      // Entry bundles parse back into exactly the stored entries, which hash to the level 0 tile.
      const bundles = Math.ceil(size / 256);
      const sample =
        bundles <= 17
          ? [...Array(bundles).keys()]
          : [0, 1, Math.floor(bundles / 2), bundles - 2, bundles - 1];
      for (const bundle of sample) {
        const entries = await client.bundle(bundle);
        const first = bundle * 256;
        expect(entries).toEqual(
          (await log.ledger.store.getEntries(first, first + entries.length)).map((e) => e.data),
        );
        expect(entries.map(leafHash)).toEqual(await client.tileHashes(0, bundle));
      }

      for (const [path, bytes] of client.fetched) everServed.set(path, bytes);
    },
  );

  it("serves the same bytes at every path it ever served, after the tree has grown", async () => {
    expect(everServed.size).toBeGreaterThan(50);
    const fetch = fetchFrom(log.ledger.store);
    for (const [path, bytes] of everServed) expect(await fetch(path), path).toEqual(bytes);
  });

  it("serves exactly the tiles the spec lists for a tree of 70,000", async () => {
    // c2sp.org/tlog-tiles "Partial Tiles": 273 full level 0 tiles, a level 0 tile of width 112, one
    // full level 1 tile, a level 1 tile of width 17 and a level 2 tile of width 1.
    expect(await log.ledger.size()).toBe(70000);
    const store = log.ledger.store;
    expect((await readC2spTile(store, 0, 272)).length).toBe(256 * 32);
    expect((await readC2spTile(store, 0, 273, 112)).length).toBe(112 * 32);
    expect((await readC2spTile(store, 1, 0)).length).toBe(256 * 32);
    expect((await readC2spTile(store, 1, 1, 17)).length).toBe(17 * 32);
    expect((await readC2spTile(store, 2, 0, 1)).length).toBe(32);
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 0, 273));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 0, 273, 113));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 1, 1));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 1, 1, 18));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 2, 0));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 3, 0, 1));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 63, 0, 1));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 0, Number.MAX_SAFE_INTEGER, 255));
    expect((await readEntryBundle(store, 273, 112)).length).toBeGreaterThan(112 * 2);
    await rejectsAsync("NOT_FOUND", () => readEntryBundle(store, 273));
    await rejectsAsync("NOT_FOUND", () => readEntryBundle(store, 273, 113));
    await rejectsAsync("NOT_FOUND", () => readEntryBundle(store, Number.MAX_SAFE_INTEGER));
  });

  it("hashes each level 1 and level 2 hash as the Merkle tree hash of a full tile below", async () => {
    // c2sp.org/tlog-tiles "Merkle Tree": at level 1 and above, each hash is the MTH of a full tile below.
    const client = new TileClient(fetchFrom(log.ledger.store), 70000);
    const mthOfTile = async (level: number, index: number) => {
      const hashes = await client.tileHashes(level, index);
      expect(hashes.length).toBe(256);
      let layer = hashes;
      while (layer.length > 1) {
        const next: Uint8Array[] = [];
        for (let i = 0; i < layer.length; i += 2) next.push(nodeHash(layer[i]!, layer[i + 1]!));
        layer = next;
      }
      return layer[0]!;
    };
    const level1 = [...(await client.tileHashes(1, 0)), ...(await client.tileHashes(1, 1))];
    expect(level1.length).toBe(273);
    for (const [i, hash] of level1.entries()) expect(hash).toEqual(await mthOfTile(0, i));
    expect(await client.tileHashes(2, 0)).toEqual([await mthOfTile(1, 0)]);
  });

  it("serves nothing beyond the latest signed checkpoint, even once the entries are stored", async () => {
    const store = log.ledger.store;
    await growTo(70144);
    // Appended and durable, but not yet under a checkpoint (the interval is a minute).
    await log.ledger.append(Array.from({ length: 256 }, (_, i) => ({ entry: dataEntry(70144 + i) })));
    expect(await store.getSize()).toBe(70400);
    expect((await store.getLatestCheckpoint())?.size).toBe(70144);
    expect((await readC2spTile(store, 0, 273)).length).toBe(256 * 32);
    expect((await readC2spTile(store, 1, 1, 18)).length).toBe(18 * 32);
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 0, 274));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 0, 274, 1));
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 1, 1, 19));
    await rejectsAsync("NOT_FOUND", () => readEntryBundle(store, 274));
    await rejectsAsync("NOT_FOUND", () => readEntryBundle(store, 274, 1));

    await log.ledger.checkpoint();
    expect((await readC2spTile(store, 0, 274)).length).toBe(256 * 32);
    expect((await readC2spTile(store, 1, 1, 19)).length).toBe(19 * 32);
    expect(parseBundle(await readEntryBundle(store, 274)).length).toBe(256);
  });

  it("reads a C2SP tile's sixteen stored tiles in one batch", async () => {
    const store = log.ledger.store;
    const calls: number[] = [];
    const counting = new Proxy(store, {
      get(target, property, receiver) {
        if (property === "getTiles") {
          return (refs: readonly { level: number; index: number }[]) => {
            calls.push(refs.length);
            return target.getTiles(refs);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await readC2spTile(counting, 0, 5);
    await readC2spTile(counting, 0, 274, 33);
    expect(calls).toEqual([16, 3]);
  });

  it("rejects levels, indexes and widths that are not whole numbers in range", async () => {
    const store = log.ledger.store;
    for (const [level, index, width] of [
      [-1, 0, undefined],
      [64, 0, undefined],
      [0.5, 0, undefined],
      [0, -1, undefined],
      [0, Number.NaN, undefined],
      [0, 2 ** 53, undefined],
      [0, 0, 0],
      [0, 0, 256],
      [0, 0, 1.5],
    ] as const) {
      await rejectsAsync("BAD_ARGUMENT", () => readC2spTile(store, level, index, width));
    }
    await rejectsAsync("BAD_ARGUMENT", () => readEntryBundle(store, -1));
    await rejectsAsync("BAD_ARGUMENT", () => readEntryBundle(store, 0, 256));
    rejectsWith("BAD_ARGUMENT", () => encodeTileIndex(-1));
    rejectsWith("BAD_ARGUMENT", () => formatTilePath({ kind: "hashes", level: 64, index: 0 }));
  });
});

describe("C2SP tiles from an unusual store", () => {
  let log: TestLog | undefined;
  afterAll(async () => {
    await log?.cleanup();
  });

  it("serves nothing before the first checkpoint", async () => {
    const store = {
      getLatestCheckpoint: async () => undefined,
    } as unknown as LedgerStore;
    await rejectsAsync("NOT_FOUND", () => readC2spTile(store, 0, 0, 1));
    await rejectsAsync("NOT_FOUND", () => readEntryBundle(store, 0, 1));
  });

  it("reports a store that lacks a tile below its checkpoint as corrupt", async () => {
    const store = {
      getLatestCheckpoint: async () => ({ size: 300, note: "", storedAt: 0 }),
      getTiles: async () => [],
      getEntries: async () => [],
    } as unknown as LedgerStore;
    await rejectsAsync("STORE_CORRUPT", () => readC2spTile(store, 0, 0));
    await rejectsAsync("STORE_CORRUPT", () => readEntryBundle(store, 1, 44));
  });

  it("serves the largest entry the format allows, and the format refuses one a uint16 cannot frame", async () => {
    log = await createTestLog();
    const fits = encodeDataEntry(new Uint8Array(65535 - 7).fill(0x62));
    expect(fits.length).toBe(65535);
    expect(() => encodeDataEntry(new Uint8Array(65536 - 7).fill(0x61))).toThrow(/limit/);
    await log.ledger.append([{ entry: fits }, { entry: utf8Entry("small") }]);
    await log.ledger.checkpoint();
    expect(parseBundle(await readEntryBundle(log.ledger.store, 0, 2))).toEqual([fits, utf8Entry("small")]);
  });
});

function utf8Entry(text: string): Uint8Array {
  return encodeDataEntry(utf8(text));
}
