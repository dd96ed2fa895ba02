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

function lookupIn(hashes: readonly Uint8Array[]): (ref: SubtreeRef) => Uint8Array {
  return (ref) => {
    const start = ref.index * 2 ** ref.level;
    const end = start + 2 ** ref.level;
    if (end > hashes.length) throw new CustosError("BAD_ARGUMENT", "subtree beyond the leaves given");
    return rangeRoot(hashes, start, end);
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
