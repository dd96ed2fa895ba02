// Proofs of the trail map: what one key maps to (inclusion: the patient's trail head) or that it maps
// to nothing (non-inclusion: the key's path ends in an empty subtree or at another key's leaf). The
// siblings on the path are listed from the root down; empty ones are left out and a bitmap says which
// (so a proof is about log2(keys) hashes). Verification never throws: it answers with a typed verdict.
// The byte encoding is specified in docs/formats.md ("Trail map").

import { bytesEqual } from "../bytes.js";
import { CustosError } from "../errors.js";
import {
  EMPTY_SUBTREE,
  keyBit,
  readCount,
  sharedPrefixBits,
  TRAIL_MAP_KEY_BITS,
  TRAIL_MAP_KEY_BYTES,
  type TrailHead,
  trailLeafHash,
  trailNodeHash,
  writeCount,
} from "./hashing.js";

export type TrailMapTerminal =
  | { readonly kind: "empty" }
  | { readonly kind: "leaf"; readonly head: TrailHead }
  | { readonly kind: "other"; readonly key: Uint8Array; readonly head: TrailHead };

export interface TrailMapProof {
  /** Siblings from the root down, one per level of the key's path; undefined = an empty subtree. */
  readonly siblings: readonly (Uint8Array | undefined)[];
  /** What the path ends at, at depth siblings.length. */
  readonly terminal: TrailMapTerminal;
}

export type TrailMapVerdict =
  | {
      readonly ok: true /** The key's trail head, or undefined when the key is not in the map. */;
      readonly head: TrailHead | undefined;
    }
  | { readonly ok: false; readonly reason: string };

const KIND_EMPTY = 0x00;
const KIND_LEAF = 0x01;
const KIND_OTHER = 0x02;
const HEAD_BYTES = 8 + 32;

export function encodeTrailMapProof(proof: TrailMapProof): Uint8Array {
  const depth = proof.siblings.length;
  if (depth > TRAIL_MAP_KEY_BITS)
    throw new CustosError("BAD_ARGUMENT", "a trail map proof is at most 256 deep");
  const present = proof.siblings.filter((s) => s !== undefined).length;
  const terminal = proof.terminal;
  const tail = terminal.kind === "empty" ? 0 : terminal.kind === "leaf" ? HEAD_BYTES : 32 + HEAD_BYTES;
  const bitmapBytes = (depth + 7) >>> 3;
  const out = new Uint8Array(3 + bitmapBytes + 32 * present + tail);
  out[0] = terminal.kind === "empty" ? KIND_EMPTY : terminal.kind === "leaf" ? KIND_LEAF : KIND_OTHER;
  out[1] = depth >>> 8;
  out[2] = depth & 0xff;
  let offset = 3 + bitmapBytes;
  proof.siblings.forEach((sibling, level) => {
    if (sibling === undefined) return;
    if (sibling.length !== 32) throw new CustosError("BAD_ARGUMENT", "a sibling hash must be 32 bytes");
    out[3 + (level >>> 3)]! |= 0x80 >>> (level & 7);
    out.set(sibling, offset);
    offset += 32;
  });
  if (terminal.kind === "other") {
    out.set(terminal.key, offset);
    offset += 32;
  }
  if (terminal.kind !== "empty") {
    writeCount(out, offset, terminal.head.count);
    out.set(terminal.head.last, offset + 8);
  }
  return out;
}

/** Parses the byte form; throws BAD_PROOF on anything but exactly one well-formed proof. */
export function decodeTrailMapProof(bytes: Uint8Array): TrailMapProof {
  const bad = (why: string) => new CustosError("BAD_PROOF", `malformed trail map proof: ${why}`);
  if (bytes.length < 3) throw bad("too short");
  const kind = bytes[0]!;
  if (kind !== KIND_EMPTY && kind !== KIND_LEAF && kind !== KIND_OTHER) throw bad("unknown kind");
  const depth = (bytes[1]! << 8) | bytes[2]!;
  if (depth > TRAIL_MAP_KEY_BITS) throw bad("deeper than 256 levels");
  const bitmapBytes = (depth + 7) >>> 3;
  if (bytes.length < 3 + bitmapBytes) throw bad("truncated bitmap");
  if (depth % 8 !== 0 && (bytes[2 + bitmapBytes]! & (0xff >>> (depth % 8))) !== 0)
    throw bad("bitmap bits set past the depth");
  let offset = 3 + bitmapBytes;
  const siblings: (Uint8Array | undefined)[] = [];
  for (let level = 0; level < depth; level++) {
    if ((bytes[3 + (level >>> 3)]! & (0x80 >>> (level & 7))) === 0) {
      siblings.push(undefined);
      continue;
    }
    if (bytes.length < offset + 32) throw bad("truncated siblings");
    siblings.push(bytes.slice(offset, offset + 32));
    offset += 32;
  }
  const tail = kind === KIND_EMPTY ? 0 : kind === KIND_LEAF ? HEAD_BYTES : 32 + HEAD_BYTES;
  if (bytes.length !== offset + tail) throw bad("wrong length");
  if (kind === KIND_EMPTY) return { siblings, terminal: { kind: "empty" } };
  const key = kind === KIND_OTHER ? bytes.slice(offset, offset + 32) : undefined;
  if (key) offset += 32;
  const count = readCount(bytes, offset);
  if (count === undefined) throw bad("count too large");
  const head = { count, last: bytes.slice(offset + 8, offset + 40) };
  return { siblings, terminal: key ? { kind: "other", key, head } : { kind: "leaf", head } };
}

/**
 * Checks an encoded proof for `key` against a map root. Answers the key's head (or that it has none);
 * never throws, whatever the input.
 */
export function verifyTrailMapProof(root: Uint8Array, key: Uint8Array, encoded: Uint8Array): TrailMapVerdict {
  if (!(root instanceof Uint8Array) || root.length !== 32)
    return { ok: false, reason: "the root is not 32 bytes" };
  if (!(key instanceof Uint8Array) || key.length !== TRAIL_MAP_KEY_BYTES)
    return { ok: false, reason: "the key is not 32 bytes" };
  if (!(encoded instanceof Uint8Array)) return { ok: false, reason: "the proof is not bytes" };
  let proof: TrailMapProof;
  try {
    proof = decodeTrailMapProof(encoded);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  const { siblings, terminal } = proof;
  const depth = siblings.length;
  // Canonical form: a key alone in a subtree sits at that subtree's top, so the deepest sibling of a
  // path that ends at a leaf or an empty subtree is never empty (soundness does not rest on this).
  if (depth > 0 && siblings[depth - 1] === undefined)
    return { ok: false, reason: "the deepest sibling is empty (not a canonical proof)" };
  let node: Uint8Array;
  if (terminal.kind === "empty") node = EMPTY_SUBTREE;
  else if (terminal.kind === "leaf") node = trailLeafHash(key, terminal.head);
  else {
    if (bytesEqual(terminal.key, key)) return { ok: false, reason: "the other leaf has the key itself" };
    if (sharedPrefixBits(terminal.key, key) < depth)
      return { ok: false, reason: "the other leaf is not on the key's path" };
    node = trailLeafHash(terminal.key, terminal.head);
  }
  for (let level = depth - 1; level >= 0; level--) {
    const sibling = siblings[level] ?? EMPTY_SUBTREE;
    node = keyBit(key, level) === 0 ? trailNodeHash(node, sibling) : trailNodeHash(sibling, node);
  }
  if (!bytesEqual(node, root)) return { ok: false, reason: "the proof does not lead to the map's root" };
  return { ok: true, head: terminal.kind === "leaf" ? terminal.head : undefined };
}
