// Hashing of the trail map: a sparse Merkle tree over 256-bit keys (patient tags) whose values are
// trail heads. Leaves, inner nodes and the empty subtree are hashed under distinct prefix bytes, none
// of which RFC 6962 uses (0x00, 0x01), so no map hash can be read as a log hash or the other way round.
// A subtree holding exactly one key is that key's leaf hash (as in Diem's and Aptos's sparse Merkle
// trees): proofs are as deep as the keys' longest shared prefix (about log2 of the number of keys), not
// 256 levels, and a rebuild hashes each key once. The full definition is in docs/formats.md.

import { sha256 } from "../platform.js";

export const TRAIL_MAP_KEY_BYTES = 32;
export const TRAIL_MAP_KEY_BITS = 256;
const LEAF_PREFIX = 0x10;
const NODE_PREFIX = 0x11;
const EMPTY_PREFIX = 0x12;

/** A patient's trail head: how many records the trail has and the leaf hash of its newest record. */
export interface TrailHead {
  /** The newest record's number plus one (its `seq` + 1); 0 for a newest record without a number. */
  readonly count: number;
  /** RFC 6962 leaf hash of the patient's newest access record. */
  readonly last: Uint8Array;
}

/** The hash of an empty subtree, at every height: SHA-256(0x12). */
export const EMPTY_SUBTREE: Uint8Array = sha256(new Uint8Array([EMPTY_PREFIX]));

const leafInput = new Uint8Array(1 + 32 + 8 + 32);
leafInput[0] = LEAF_PREFIX;

/** SHA-256(0x10 || key || u64be(count) || last). */
export function trailLeafHash(key: Uint8Array, head: TrailHead): Uint8Array {
  leafInput.set(key, 1);
  writeCount(leafInput, 33, head.count);
  leafInput.set(head.last, 41);
  return sha256(leafInput);
}

const nodeInput = new Uint8Array(1 + 64);
nodeInput[0] = NODE_PREFIX;

/** SHA-256(0x11 || left || right), for a subtree holding two keys or more. */
export function trailNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput.set(left, 1);
  nodeInput.set(right, 33);
  return sha256(nodeInput);
}

/** Bit `depth` of the key, most significant bit of byte 0 first: 0 goes left, 1 goes right. */
export function keyBit(key: Uint8Array, depth: number): number {
  return (key[depth >>> 3]! >>> (7 - (depth & 7))) & 1;
}

export function writeCount(out: Uint8Array, offset: number, count: number): void {
  const high = Math.floor(count / 2 ** 32);
  const low = count >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = high >>> 16;
  out[offset + 2] = high >>> 8;
  out[offset + 3] = high;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
}

/** A u64be count, or undefined past 2^53 - 1 (never a real trail). */
export function readCount(bytes: Uint8Array, offset: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(offset);
  const low = view.getUint32(offset + 4);
  if (high > 0x1fffff) return undefined;
  return high * 2 ** 32 + low;
}

/** The number of leading bits two keys share (256 when equal). */
export function sharedPrefixBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TRAIL_MAP_KEY_BYTES; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return TRAIL_MAP_KEY_BITS;
}
