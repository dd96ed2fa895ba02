// Roots and proofs over an array of leaf hashes held in memory: for tests, small trees and tools.
// Proofs go through the same plans that storage-backed proofs use.

import { CustosError } from "../errors.js";
import { EMPTY_ROOT, nodeHash } from "./hashing.js";
import { assembleProof, planConsistencyProof, planInclusionProof, type SubtreeRef } from "./proof-plan.js";
import { splitPoint } from "./tree-math.js";

/** MTH over leaf hashes (RFC 9162 2.1.1), iteratively. */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT.slice();
  return rangeRoot(hashes, 0, hashes.length);
}

function rangeRoot(hashes: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return hashes[start]!;
  const k = splitPoint(n);
  return nodeHash(rangeRoot(hashes, start, start + k), rangeRoot(hashes, start + k, end));
}

// Perfect-subtree hashes computed so far for a leaf array (treated as append-only), so many proofs
// over one array are cheap.
const memo = new WeakMap<readonly Uint8Array[], Map<number, Uint8Array>>();

function lookupIn(hashes: readonly Uint8Array[]): (ref: SubtreeRef) => Uint8Array {
  let known = memo.get(hashes);
  if (known === undefined) {
    known = new Map();
    memo.set(hashes, known);
  }
  const cache = known;
  const perfect = (level: number, index: number): Uint8Array => {
    if (level === 0) return hashes[index]!;
    const key = level * 2 ** 40 + index;
    let hash = cache.get(key);
    if (hash === undefined) {
      hash = nodeHash(perfect(level - 1, 2 * index), perfect(level - 1, 2 * index + 1));
      cache.set(key, hash);
    }
    return hash;
  };
  return (ref) => {
    if ((ref.index + 1) * 2 ** ref.level > hashes.length) {
      throw new CustosError("BAD_ARGUMENT", "subtree beyond the leaves given");
    }
    return perfect(ref.level, ref.index);
  };
}

export function inclusionProof(index: number, size: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  if (size > leafHashes.length) throw new CustosError("BAD_ARGUMENT", "size exceeds the leaves given");
  return assembleProof(planInclusionProof(index, size), lookupIn(leafHashes));
}

export function consistencyProof(
  size1: number,
  size2: number,
  leafHashes: readonly Uint8Array[],
): Uint8Array[] {
  if (size2 > leafHashes.length) throw new CustosError("BAD_ARGUMENT", "size exceeds the leaves given");
  return assembleProof(planConsistencyProof(size1, size2), lookupIn(leafHashes));
}
