import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../../src/core/bytes.js";
import {
  CompactRange,
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  planRangeHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from "../../../src/core/merkle/index.js";

interface Vectors {
  leaves: string[];
  emptyRoot: string;
  roots: string[];
  inclusionProofs: { leaf: number; size: number; proof: string[] }[];
  consistencyProofs: { size1: number; size2: number; proof: string[] }[];
}
const vectors = JSON.parse(
  readFileSync(new URL("./vectors/rfc6962.json", import.meta.url), "utf8"),
) as Vectors;
const leaves = vectors.leaves.map((l) => leafHash(fromHex(l)));
const roots = vectors.roots.map(fromHex);

function hashesFor(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i & 0xff, (i >> 8) & 0xff, 7])));
}

function flipBit(hash: Uint8Array, bit: number): Uint8Array {
  const copy = hash.slice();
  copy[(bit >> 3) % 32] = copy[(bit >> 3) % 32]! ^ (1 << (bit & 7));
  return copy;
}

describe("RFC 6962 reference vectors", () => {
  it("computes the empty root and the root of every prefix of the reference tree", () => {
    expect(toHex(EMPTY_ROOT)).toBe(vectors.emptyRoot);
    expect(toHex(rootFromLeafHashes([]))).toBe(vectors.emptyRoot);
    for (let n = 1; n <= 8; n++)
      expect(toHex(rootFromLeafHashes(leaves.slice(0, n)))).toBe(vectors.roots[n - 1]);
  });

  it("generates and verifies the published inclusion proofs", () => {
    for (const v of vectors.inclusionProofs) {
      expect(inclusionProof(v.leaf, v.size, leaves).map(toHex)).toEqual(v.proof);
      expect(verifyInclusion(leaves[v.leaf]!, v.leaf, v.size, v.proof.map(fromHex), roots[v.size - 1]!)).toBe(
        true,
      );
    }
  });

  it("generates and verifies the published consistency proofs", () => {
    for (const v of vectors.consistencyProofs) {
      expect(consistencyProof(v.size1, v.size2, leaves).map(toHex)).toEqual(v.proof);
      expect(
        verifyConsistency(v.size1, v.size2, v.proof.map(fromHex), roots[v.size1 - 1]!, roots[v.size2 - 1]!),
      ).toBe(true);
    }
  });

  it("hashes nodes with the 0x01 prefix and leaves with 0x00", () => {
    expect(toHex(nodeHash(leaves[0]!, leaves[1]!))).toBe(vectors.roots[1]);
  });
});

describe("inclusion proofs, every leaf of every tree size up to 300", () => {
  it("verify, and fail under every single mutation of proof, index, size or root", () => {
    const all = hashesFor(300);
    for (let size = 1; size <= 300; size++) {
      const hashes = all.slice(0, size);
      const root = rootFromLeafHashes(hashes);
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(index, size, hashes);
        const leaf = hashes[index]!;
        expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
        // Exhaustive mutations on a sample of (size, index); cheap ones everywhere.
        expect(verifyInclusion(leaf, index, size, proof, flipBit(root, index))).toBe(false);
        expect(verifyInclusion(flipBit(leaf, size), index, size, proof, root)).toBe(false);
        if (size > 1) expect(verifyInclusion(leaf, (index + 1) % size, size, proof, root)).toBe(false);
        if ((size * 31 + index) % 17 !== 0) continue;
        for (let p = 0; p < proof.length; p++) {
          for (const bit of [0, 77, 255]) {
            const mutated = proof.slice();
            mutated[p] = flipBit(proof[p]!, bit);
            expect(verifyInclusion(leaf, index, size, mutated, root)).toBe(false);
          }
          expect(
            verifyInclusion(leaf, index, size, [...proof.slice(0, p), ...proof.slice(p + 1)], root),
          ).toBe(false);
          expect(
            verifyInclusion(
              leaf,
              index,
              size,
              [...proof.slice(0, p + 1), proof[p]!, ...proof.slice(p + 1)],
              root,
            ),
          ).toBe(false);
        }
        expect(verifyInclusion(leaf, index, size, [...proof, leaf], root)).toBe(false);
        // A wrong size fails whenever the audit path for that size has another length; where it has the
        // same shape the size is bound by the signed checkpoint instead (RFC 9162 2.1.3.2 cannot tell).
        for (const otherSize of [size - 1, size + 1, size * 2]) {
          if (otherSize <= index || otherSize > 300) continue;
          if (inclusionProof(index, otherSize, all).length !== proof.length) {
            expect(verifyInclusion(leaf, index, otherSize, proof, root)).toBe(false);
          }
        }
      }
    }
  });
});

describe("consistency proofs", () => {
  it("verify for sampled pairs up to 300 and fail under every single mutation", () => {
    const all = hashesFor(300);
    const rootsBySize = Array.from({ length: 301 }, (_, n) => rootFromLeafHashes(all.slice(0, n)));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.nat(),
        (size2, pick, bit) => {
          const size1 = pick % (size2 + 1);
          const proof = consistencyProof(size1, size2, all);
          const [root1, root2] = [rootsBySize[size1]!, rootsBySize[size2]!];
          expect(verifyConsistency(size1, size2, proof, root1, root2)).toBe(true);
          expect(verifyConsistency(size1, size2, proof, flipBit(root1, bit), root2)).toBe(false);
          // From the empty tree every tree is consistent, so only a non-empty old tree binds root2.
          if (size1 !== 0)
            expect(verifyConsistency(size1, size2, proof, root1, flipBit(root2, bit))).toBe(false);
          for (let p = 0; p < proof.length; p++) {
            const mutated = proof.slice();
            mutated[p] = flipBit(proof[p]!, bit);
            expect(verifyConsistency(size1, size2, mutated, root1, root2)).toBe(false);
            expect(
              verifyConsistency(size1, size2, [...proof.slice(0, p), ...proof.slice(p + 1)], root1, root2),
            ).toBe(false);
          }
          expect(verifyConsistency(size1, size2, [...proof, root2], root1, root2)).toBe(false);
          if (size1 > 0 && size1 < size2) {
            expect(verifyConsistency(size1 - 1, size2, proof, rootsBySize[size1 - 1]!, root2)).toBe(false);
            expect(
              verifyConsistency(
                size1,
                size2 - 1 >= size1 ? size2 - 1 : size2,
                proof,
                root1,
                rootsBySize[size2 - 1]!,
              ),
            ).toBe(size2 - 1 === size1 && proof.length === 0);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("rejects a consistency proof for a shrunk tree and an empty proof between different sizes", () => {
    const all = hashesFor(20);
    const r = (n: number) => rootFromLeafHashes(all.slice(0, n));
    expect(verifyConsistency(10, 5, consistencyProof(5, 10, all), r(10), r(5))).toBe(false);
    expect(verifyConsistency(5, 10, [], r(5), r(10))).toBe(false);
    expect(verifyConsistency(0, 10, [], r(0), r(10))).toBe(true);
    expect(verifyConsistency(0, 10, [], r(3), r(10))).toBe(false);
    expect(verifyConsistency(7, 7, [], r(7), r(7))).toBe(true);
    expect(verifyConsistency(7, 7, [], r(7), r(6))).toBe(false);
  });
});

describe("hostile input", () => {
  it("never throws from verification, whatever it is given", () => {
    const anything = fc.oneof(fc.anything(), fc.bigInt(), fc.double(), fc.uint8Array({ maxLength: 40 }));
    fc.assert(
      fc.property(anything, anything, anything, anything, anything, (a, b, c, d, e) => {
        expect(() =>
          verifyInclusion(a as Uint8Array, b as number, c as number, d as Uint8Array[], e as Uint8Array),
        ).not.toThrow();
        expect(() =>
          verifyConsistency(a as number, b as number, c as Uint8Array[], d as Uint8Array, e as Uint8Array),
        ).not.toThrow();
      }),
      { numRuns: 2000 },
    );
    const proof = inclusionProof(3, 8, leaves);
    expect(verifyInclusion(leaves[3]!, 3n, 8n, proof, roots[7]!)).toBe(true);
    expect(verifyInclusion(leaves[3]!, 3, 2n ** 60n, proof, roots[7]!)).toBe(false);
    expect(verifyInclusion(leaves[3]!, -1, 8, proof, roots[7]!)).toBe(false);
    expect(verifyInclusion(leaves[3]!, 3.5, 8, proof, roots[7]!)).toBe(false);
    expect(verifyInclusion(leaves[3]!.subarray(1), 3, 8, proof, roots[7]!)).toBe(false);
  });
});

describe("CompactRange", () => {
  it("agrees with the reference root at every size and resumes from its subtrees", () => {
    const all = hashesFor(600);
    const range = CompactRange.empty();
    for (let n = 0; n < all.length; n++) {
      if (n % 37 === 0) {
        expect(range.root()).toEqual(rootFromLeafHashes(all.slice(0, n)));
        const resumed = CompactRange.fromSubtrees(n, range.subtrees());
        resumed.appendMany(all.slice(n, n + 5));
        expect(resumed.root()).toEqual(rootFromLeafHashes(all.slice(0, n + 5)));
        expect(range.subtrees()).toHaveLength(planRangeHash(0, n).length);
      }
      range.append(all[n]!);
    }
  });
});
