// The trail map (sparse Merkle tree of patient tag -> trail head): roots match an independent
// recursive definition whatever the insertion order and batching; every key's proof verifies with its
// head, every absent key's proof shows absence; changed heads, wrong keys and altered proofs fail; and
// verification never throws on hostile bytes.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/core/bytes.js";
import {
  decodeTrailMapProof,
  EMPTY_SUBTREE,
  encodeTrailMapProof,
  formatTrailMapLine,
  keyBit,
  LEAF_RECORD_BYTES,
  type TrailHead,
  TrailMap,
  trailLeafHash,
  trailMapRootOf,
  trailNodeHash,
  verifyTrailMapProof,
} from "../../../src/core/trail-map/index.js";

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const head = fc.record({
  count: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  last: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});
/** Keys with long shared prefixes too (random keys almost never share more than a few bytes). */
const clusteredKey = fc
  .tuple(fc.nat({ max: 3 }), fc.nat({ max: 255 }), fc.nat({ max: 31 }))
  .map(([group, byte, at]) => {
    const k = new Uint8Array(32).fill(group * 17);
    k[at] = byte;
    return k;
  });
const entries = fc.array(fc.tuple(fc.oneof(key, clusteredKey), head), { maxLength: 40 });

/** The map's root straight from its definition (docs/formats.md): recursive over the keys. */
function referenceRoot(pairs: readonly [Uint8Array, TrailHead][], depth = 0): Uint8Array {
  if (pairs.length === 0) return EMPTY_SUBTREE;
  if (pairs.length === 1) return trailLeafHash(pairs[0]![0], pairs[0]![1]);
  const left = pairs.filter(([k]) => keyBit(k, depth) === 0);
  const right = pairs.filter(([k]) => keyBit(k, depth) === 1);
  return trailNodeHash(referenceRoot(left, depth + 1), referenceRoot(right, depth + 1));
}

/** The last head set per key, as the map holds it. */
function latest(pairs: readonly [Uint8Array, TrailHead][]): [Uint8Array, TrailHead][] {
  const byKey = new Map<string, [Uint8Array, TrailHead]>();
  for (const [k, h] of pairs) byKey.set(Buffer.from(k).toString("hex"), [k, h]);
  return [...byKey.values()];
}

function build(pairs: readonly [Uint8Array, TrailHead][], commitEvery = Number.POSITIVE_INFINITY): TrailMap {
  const map = new TrailMap();
  pairs.forEach(([k, h], i) => {
    map.set(k, h);
    if ((i + 1) % commitEvery === 0) map.commit();
  });
  map.commit();
  return map;
}

describe("the trail map", () => {
  it("has the empty subtree hash as the root of an empty map, and proves any key absent", () => {
    const map = new TrailMap();
    expect(bytesEqual(map.commit(), EMPTY_SUBTREE)).toBe(true);
    const verdict = verifyTrailMapProof(map.root(), new Uint8Array(32), map.proveEncoded(new Uint8Array(32)));
    expect(verdict).toEqual({ ok: true, head: undefined });
  });

  it("computes the root of its definition, whatever the order of insertion and the batching", () => {
    fc.assert(
      fc.property(entries, fc.integer({ min: 1, max: 7 }), (pairs, every) => {
        const expected = referenceRoot(latest(pairs));
        expect(bytesEqual(build(pairs).root(), expected)).toBe(true);
        expect(bytesEqual(build(pairs, every).root(), expected)).toBe(true);
        expect(bytesEqual(build(latest(pairs).reverse()).root(), expected)).toBe(true);
      }),
    );
  });

  it("proves every key's head and every absent key's absence", () => {
    fc.assert(
      fc.property(entries, fc.array(fc.oneof(key, clusteredKey), { maxLength: 5 }), (pairs, others) => {
        const map = build(pairs);
        const root = map.root();
        for (const [k, h] of latest(pairs)) {
          const verdict = verifyTrailMapProof(root, k, map.proveEncoded(k));
          expect(verdict.ok).toBe(true);
          if (!verdict.ok) return;
          expect(verdict.head?.count).toBe(h.count);
          expect(bytesEqual(verdict.head!.last, h.last)).toBe(true);
          expect(map.get(k)?.count).toBe(h.count);
        }
        for (const k of others) {
          if (map.get(k) !== undefined) continue;
          expect(verifyTrailMapProof(root, k, map.proveEncoded(k))).toEqual({ ok: true, head: undefined });
        }
      }),
    );
  });

  it("refuses a proof for a changed head, a wrong count, another key or another root", () => {
    fc.assert(
      fc.property(
        entries.filter((p) => p.length > 0),
        head,
        key,
        (pairs, otherHead, otherKey) => {
          const map = build(pairs);
          const root = map.root();
          const [k, h] = latest(pairs)[0]!;
          const proof = map.prove(k);
          const changed = (changedHead: TrailHead) =>
            encodeTrailMapProof({ siblings: proof.siblings, terminal: { kind: "leaf", head: changedHead } });
          expect(verifyTrailMapProof(root, k, changed({ count: h.count + 1, last: h.last })).ok).toBe(false);
          if (!bytesEqual(otherHead.last, h.last) || otherHead.count !== h.count)
            expect(verifyTrailMapProof(root, k, changed(otherHead)).ok).toBe(false);
          // The key claimed absent, with the siblings of its real path.
          const absent = encodeTrailMapProof({ siblings: proof.siblings, terminal: { kind: "empty" } });
          expect(verifyTrailMapProof(root, k, absent).ok).toBe(false);
          if (map.get(otherKey) === undefined)
            expect(verifyTrailMapProof(root, otherKey, encodeTrailMapProof(proof)).ok).toBe(false);
          expect(verifyTrailMapProof(EMPTY_SUBTREE, k, encodeTrailMapProof(proof)).ok).toBe(false);
        },
      ),
    );
  });

  it("refuses every single-byte change of a proof", () => {
    fc.assert(
      fc.property(
        entries.filter((p) => p.length > 0),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (pairs, at, flip) => {
          const map = build(pairs);
          const [k] = latest(pairs)[0]!;
          const encoded = map.proveEncoded(k);
          const altered = encoded.slice();
          altered[at % altered.length]! ^= flip;
          expect(verifyTrailMapProof(map.root(), k, altered).ok).toBe(false);
        },
      ),
    );
  });

  it("never throws on hostile input, and decodes only what it encodes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), key, key, (bytes, root, k) => {
        const verdict = verifyTrailMapProof(root, k, bytes);
        expect(typeof verdict.ok).toBe("boolean");
        let decoded: ReturnType<typeof decodeTrailMapProof> | undefined;
        try {
          decoded = decodeTrailMapProof(bytes);
        } catch {
          decoded = undefined;
        }
        if (decoded) expect(bytesEqual(encodeTrailMapProof(decoded), bytes)).toBe(true);
      }),
    );
    expect(verifyTrailMapProof(new Uint8Array(31), new Uint8Array(32), new Uint8Array(3)).ok).toBe(false);
    expect(verifyTrailMapProof(new Uint8Array(32), new Uint8Array(3), new Uint8Array(3)).ok).toBe(false);
  });

  it("answers each past version's root and proofs as a map built from that version's heads", () => {
    fc.assert(
      fc.property(
        fc.array(entries, { minLength: 1, maxLength: 5 }),
        fc.array(fc.oneof(key, clusteredKey), { maxLength: 4 }),
        (batches, others) => {
          const map = new TrailMap();
          const versions: Map<string, [Uint8Array, TrailHead]>[] = [new Map()];
          for (const batch of batches) {
            const heads = new Map(versions[versions.length - 1]!);
            for (const [k, h] of batch) {
              map.set(k, h);
              heads.set(Buffer.from(k).toString("hex"), [k, h]);
            }
            map.commit();
            versions.push(heads);
          }
          const now = versions[versions.length - 1]!;
          for (const then of versions) {
            // What changed since: each such key with its head then (or none).
            const reverted = [...now].flatMap(([hex, [k, h]]) => {
              const old = then.get(hex);
              if (old && old[1].count === h.count && bytesEqual(old[1].last, h.last)) return [];
              return [{ key: k, head: old?.[1] }];
            });
            const past = map.past(reverted);
            const root = past.root();
            expect(bytesEqual(root, referenceRoot([...then.values()]))).toBe(true);
            for (const [k, h] of [...then.values()]) {
              const verdict = verifyTrailMapProof(root, k, encodeTrailMapProof(past.prove(k)));
              expect(
                verdict.ok && verdict.head?.count === h.count && bytesEqual(verdict.head.last, h.last),
              ).toBe(true);
            }
            for (const k of [...others, ...[...now.values()].map(([k]) => k)]) {
              if (then.has(Buffer.from(k).toString("hex"))) continue;
              expect(verifyTrailMapProof(root, k, encodeTrailMapProof(past.prove(k)))).toEqual({
                ok: true,
                head: undefined,
              });
            }
          }
          map.set(new Uint8Array(32), { count: 1, last: new Uint8Array(32) });
          map.commit();
          expect(() => map.past([]).root()).not.toThrow();
        },
      ),
    );
  });

  it("refuses a past version once the map has moved on", () => {
    const map = new TrailMap();
    map.set(new Uint8Array(32), { count: 1, last: new Uint8Array(32) });
    map.commit();
    const past = map.past([{ key: new Uint8Array(32), head: undefined }]);
    expect(bytesEqual(past.root(), EMPTY_SUBTREE)).toBe(true);
    map.set(new Uint8Array(32).fill(1), { count: 1, last: new Uint8Array(32) });
    map.commit();
    expect(() => past.root()).toThrow(/moved on/);
  });

  it("writes its leaves in key order and is rebuilt from them, in any split, to the same root and proofs", () => {
    fc.assert(
      fc.property(entries, fc.integer({ min: 1, max: 9 }), (pairs, perPart) => {
        const map = build(pairs);
        const parts = map.leafRecords(perPart);
        const records = Buffer.concat(parts);
        expect(records.length).toBe(map.size * LEAF_RECORD_BYTES);
        for (const part of parts) expect(part.length).toBeLessThanOrEqual(perPart * LEAF_RECORD_BYTES);
        const keys = Array.from({ length: map.size }, (_, i) => records.subarray(i * 72, i * 72 + 32));
        for (let i = 1; i < keys.length; i++) expect(Buffer.compare(keys[i - 1]!, keys[i]!)).toBe(-1);
        // Split anew: a part boundary anywhere between records.
        const loaded = TrailMap.fromLeafRecords([records.subarray(0, 72), records.subarray(72)]);
        expect(bytesEqual(loaded.root(), referenceRoot(latest(pairs)))).toBe(true);
        for (const [k, h] of latest(pairs)) {
          const verdict = verifyTrailMapProof(loaded.root(), k, loaded.proveEncoded(k));
          expect(verdict.ok && verdict.head?.count === h.count).toBe(true);
        }
        // It takes new heads like any map.
        const extra = new Uint8Array(32).fill(0xaa);
        loaded.set(extra, { count: 1, last: new Uint8Array(32) });
        map.set(extra, { count: 1, last: new Uint8Array(32) });
        expect(bytesEqual(loaded.commit(), map.commit())).toBe(true);
      }),
    );
  });

  it("refuses leaf records out of order, repeated, cut short or with a count past 2^53", () => {
    const map = build(
      [1, 2, 3].map((i) => [new Uint8Array(32).fill(i * 40), { count: i, last: new Uint8Array(32).fill(i) }]),
    );
    const records = Buffer.concat(map.leafRecords(10));
    const swapped = Buffer.concat([
      records.subarray(72, 144),
      records.subarray(0, 72),
      records.subarray(144),
    ]);
    const repeated = Buffer.concat([records.subarray(0, 72), records]);
    const huge = Buffer.from(records);
    huge.fill(0xff, 32, 40);
    for (const [parts, why] of [
      [[swapped], /not in ascending order/],
      [[repeated], /not in ascending order/],
      [[records.subarray(0, 100)], /whole number of records/],
      [[huge], /past 2\^53/],
    ] as const)
      expect(() => TrailMap.fromLeafRecords(parts), String(why)).toThrow(why);
    expect(bytesEqual(TrailMap.fromLeafRecords([]).root(), EMPTY_SUBTREE)).toBe(true);
  });

  it("keeps proofs small: about log2(keys) hashes", () => {
    const map = new TrailMap();
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 4096; i++) {
      const k = new Uint8Array(32);
      globalThis.crypto.getRandomValues(k);
      keys.push(k);
      map.set(k, { count: i + 1, last: k });
    }
    map.commit();
    const sizes = keys.slice(0, 200).map((k) => map.proveEncoded(k).length);
    // 12 levels for 4,096 random keys, a few more where two keys share a longer prefix.
    expect(Math.max(...sizes)).toBeLessThan(3 + 4 + 32 * 30 + 40);
    expect(sizes.reduce((a, b) => a + b, 0) / sizes.length).toBeLessThan(3 + 4 + 32 * 16 + 40);
  });
});

describe("the trail map's published vectors (docs/formats.md) and checkpoint line", () => {
  const k = (first: number) => {
    const out = new Uint8Array(32);
    out[0] = first;
    return out;
  };
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

  it("gives the documented roots and proof", () => {
    expect(hex(EMPTY_SUBTREE)).toBe("f299791cddd3d6664f6670842812ef6053eb6501bd6282a476bbbf3ee91e750c");
    const map = new TrailMap();
    map.set(k(0x00), { count: 1, last: new Uint8Array(32).fill(0xaa) });
    expect(hex(map.commit())).toBe("07b30a967626d9d49492925ccfc11ab870871f02936fb40b761ad378dbc38865");
    map.set(k(0x80), { count: 2, last: new Uint8Array(32).fill(0xbb) });
    map.set(k(0x40), { count: 3, last: new Uint8Array(32).fill(0xcc) });
    expect(hex(map.commit())).toBe("5286404507526ed5c4f2bc7312247e83b944001ae64508ff08ceb6dcf7811b57");
    expect(hex(map.proveEncoded(k(0x40)))).toBe(
      "010002c0149912e6ba8507e7226d291b2141b4ab68dd22130fce8dd073919c122e096bdf07b30a967626d9d49492925ccfc11ab870871f02936fb40b761ad378dbc388650000000000000003cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    );
  });

  it("carries the root in one extension line", () => {
    const root = new Uint8Array(32).fill(7);
    const line = formatTrailMapLine(root);
    expect(line).toBe(`custos-trail-map/v1 ${Buffer.from(root).toString("base64")}`);
    expect(bytesEqual(trailMapRootOf(["other/v1 x", line])!, root)).toBe(true);
    expect(trailMapRootOf(["other/v1 x"])).toBeUndefined();
    expect(() => trailMapRootOf([line, line])).toThrow(/two trail map lines/);
    expect(() => trailMapRootOf(["custos-trail-map/v1 AAAA"])).toThrow(/32 bytes/);
  });
});
