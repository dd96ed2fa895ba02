// Proofs as plans over perfect subtrees (RFC 9162 2.1.3.1 PATH and 2.1.4.1 SUBPROOF). Storage holds
// perfect-subtree hashes only, so a plan lists, for each proof hash, the perfect subtrees whose
// RFC 6962 hash it is; storage fetches them (in one batch) and assembleProof folds them.

import { CustosError } from "../errors.js";
import { EMPTY_ROOT, nodeHash } from "./hashing.js";
import { splitPoint } from "./tree-math.js";

/** The perfect, aligned subtree over leaves [index * 2^level, (index + 1) * 2^level). */
export interface SubtreeRef {
  readonly level: number;
  readonly index: number;
}

/** One element per proof hash: its perfect subtrees, left to right, in strictly decreasing size. */
export type ProofPlan = readonly (readonly SubtreeRef[])[];

function checkCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CustosError("BAD_ARGUMENT", `${name} must be a non-negative safe integer`);
  }
}

/**
 * Decomposes [start, end) into perfect aligned subtrees, left to right. For the ranges proofs use
 * (start aligned to a power of two at least as large as the range, or any prefix [0, n)) the sizes
 * strictly decrease, so folding them right to left gives the range's RFC 6962 hash.
 */
export function planRangeHash(start: number, end: number): SubtreeRef[] {
  checkCount(start, "start");
  checkCount(end, "end");
  if (start > end) throw new CustosError("BAD_ARGUMENT", "range start is after its end");
  const refs: SubtreeRef[] = [];
  let position = start;
  while (position < end) {
    // Largest aligned power of two at `position` that fits in the remaining range.
    let level = 0;
    while (position % 2 ** (level + 1) === 0 && position + 2 ** (level + 1) <= end) {
      level++;
    }
    refs.push({ level, index: position / 2 ** level });
    position += 2 ** level;
  }
  return refs;
}

/** RFC 9162 2.1.3.1: the audit path for leaf `index` in the tree of the first `size` leaves. */
export function planInclusionProof(index: number, size: number): ProofPlan {
  checkCount(index, "index");
  checkCount(size, "size");
  if (index >= size) throw new CustosError("BAD_ARGUMENT", `index ${index} is not in a tree of size ${size}`);
  const plan: SubtreeRef[][] = [];
  // PATH(m, D[start:start+n]), iteratively from the root down; collected root-first, emitted leaf-first.
  let start = 0;
  let n = size;
  let m = index;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      plan.push(planRangeHash(start + k, start + n));
      n = k;
    } else {
      plan.push(planRangeHash(start, start + k));
      start += k;
      m -= k;
      n -= k;
    }
  }
  return plan.reverse();
}

/** RFC 9162 2.1.4.1: the consistency proof from the tree of size1 leaves to the tree of size2. */
export function planConsistencyProof(size1: number, size2: number): ProofPlan {
  checkCount(size1, "old size");
  checkCount(size2, "new size");
  if (size1 > size2)
    throw new CustosError("BAD_ARGUMENT", `old size ${size1} is larger than new size ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  // SUBPROOF(m, D[start:start+n], b), iteratively; collected root-first, emitted leaf-first.
  const plan: SubtreeRef[][] = [];
  let start = 0;
  let n = size2;
  let m = size1;
  let complete = true;
  for (;;) {
    if (m === n) {
      if (!complete) plan.push(planRangeHash(start, start + n));
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      plan.push(planRangeHash(start + k, start + n));
      n = k;
    } else {
      plan.push(planRangeHash(start, start + k));
      start += k;
      m -= k;
      n -= k;
      complete = false;
    }
  }
  return plan.reverse();
}

/** Hash of a range from its perfect subtrees (left to right, decreasing sizes). */
export function foldSubtrees(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT.slice();
  let acc = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc);
  return acc;
}

export function assembleProof(plan: ProofPlan, lookup: (ref: SubtreeRef) => Uint8Array): Uint8Array[] {
  return plan.map((refs) => foldSubtrees(refs.map(lookup)));
}

export function uniqueRefs(plan: ProofPlan): SubtreeRef[] {
  const seen = new Set<string>();
  const out: SubtreeRef[] = [];
  for (const refs of plan) {
    for (const ref of refs) {
      const key = `${ref.level}:${ref.index}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(ref);
    }
  }
  return out;
}
