// Proof verification (RFC 9162 2.1.3.2 and 2.1.4.2). Inputs are hostile: these never throw; anything
// malformed (wrong lengths, non-integers, sizes beyond 2^53, non-byte arrays) verifies as false.
// Sizes are walked as bigint so shifts are exact for every safe integer.

import { bytesEqual } from "../bytes.js";
import { EMPTY_ROOT, HASH_SIZE, nodeHash } from "./hashing.js";
import { toSafeCount } from "./tree-math.js";

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function isProof(proof: unknown): proof is readonly Uint8Array[] {
  return Array.isArray(proof) && proof.length <= 64 && proof.every(isHash);
}

/** RFC 9162 2.1.3.2: is `leafHash` at `index` in the tree of `treeSize` leaves with this root? */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number | bigint,
  treeSize: number | bigint,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    const i = toSafeCount(index);
    const size = toSafeCount(treeSize);
    if (i === undefined || size === undefined || i >= size) return false;
    if (!isHash(leafHash) || !isHash(root) || !isProof(proof)) return false;
    let fn = BigInt(i);
    let sn = BigInt(size - 1);
    let r = leafHash;
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && bytesEqual(r, root);
  } catch {
    return false;
  }
}

/** RFC 9162 2.1.4.2: does the tree of size2 with root2 extend the tree of size1 with root1? */
export function verifyConsistency(
  size1: number | bigint,
  size2: number | bigint,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  try {
    const first = toSafeCount(size1);
    const second = toSafeCount(size2);
    if (first === undefined || second === undefined || first > second) return false;
    if (!isHash(root1) || !isHash(root2) || !isProof(proof)) return false;
    if (first === second) return proof.length === 0 && bytesEqual(root1, root2);
    // The empty tree's root is fixed (RFC 9162 2.1.1), so a claimed old root must be it.
    if (first === 0) return proof.length === 0 && bytesEqual(root1, EMPTY_ROOT);
    if (proof.length === 0) return false;
    let path = proof;
    if (isPowerOfTwoBig(BigInt(first))) path = [root1, ...proof];
    let fn = BigInt(first - 1);
    let sn = BigInt(second - 1);
    while ((fn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = path[0]!;
    let sr = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && bytesEqual(fr, root1) && bytesEqual(sr, root2);
  } catch {
    return false;
  }
}

function isPowerOfTwoBig(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}
