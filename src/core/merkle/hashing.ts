// RFC 6962 section 2.1 hashing (RFC 9162 2.1.1): domain-separated leaf and node hashes.

import { sha256 } from "../platform.js";

export const HASH_SIZE = 32;

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice();
}

// Scratch space for leaf inputs: the digest is a fresh copy, so reusing the input buffer is safe and
// spares an allocation and a garbage collection per leaf on the append and verify hot paths.
let leafInput = new Uint8Array(1024);

/** SHA-256(0x00 || entry). */
export function leafHash(entry: Uint8Array): Uint8Array {
  if (entry.length + 1 > leafInput.length)
    leafInput = new Uint8Array(Math.max(entry.length + 1, leafInput.length * 2));
  leafInput[0] = 0x00;
  leafInput.set(entry, 1);
  return sha256(leafInput.subarray(0, entry.length + 1));
}

const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);
nodeInput[0] = 0x01;

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  // One reused buffer: the digest is a fresh copy, so this is safe and avoids an allocation per node.
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return sha256(nodeInput);
}
