// The trail map itself: patient tag -> trail head, as the sparse Merkle tree of hashing.ts, kept in
// flat typed arrays (a JavaScript object per node would cost several times the memory at millions of
// patients). Heads are set in batches and the changed paths rehashed once per batch by commit(), so a
// checkpoint pays for the keys its batch touched, not for the whole map. Keys are never removed (a
// trail only grows), so every inner node holds two keys or more, which keeps the tree canonical.

import { CustosError } from "../errors.js";
import {
  EMPTY_SUBTREE,
  keyBit,
  readCount,
  sharedPrefixBits,
  TRAIL_MAP_KEY_BYTES,
  type TrailHead,
  trailLeafHash,
  trailNodeHash,
  writeCount,
} from "./hashing.js";
import { encodeTrailMapProof, type TrailMapProof } from "./proof.js";

/** A reference to a subtree: EMPTY, an inner node id (>= 0) or a leaf (-2 - leaf id). */
type Ref = number;
const EMPTY: Ref = -1;
const leafRef = (leaf: number): Ref => -2 - leaf;
const leafOf = (ref: Ref): number => -2 - ref;
/** A leaf record of the snapshot form: key, u64be count, last. */
export const LEAF_RECORD_BYTES = 72;

export class TrailMap {
  #leafKeys: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #leafLasts: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #leafHashes: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #leafCounts = new Float64Array(0);
  #leaves = 0;
  #left = new Int32Array(0);
  #right = new Int32Array(0);
  #nodeHashes: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #dirty: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #nodes = 0;
  #root: Ref = EMPTY;
  #rootDirty = false;
  /** Counts commits, so a past version computed before one is never used after it. */
  #generation = 0;

  /** The number of keys (patients with a trail). */
  get size(): number {
    return this.#leaves;
  }

  /**
   * Sets a key's head; the root and proofs reflect it after the next commit(). Answers the key's head
   * before (undefined when it was not in the map), so a caller can keep what a commit replaced.
   */
  set(key: Uint8Array, head: TrailHead): TrailHead | undefined {
    if (key.length !== TRAIL_MAP_KEY_BYTES)
      throw new CustosError("BAD_ARGUMENT", "a trail map key is 32 bytes");
    if (head.last.length !== 32)
      throw new CustosError("BAD_ARGUMENT", "a trail head's last hash is 32 bytes");
    if (!Number.isSafeInteger(head.count) || head.count < 0)
      throw new CustosError("BAD_ARGUMENT", "a trail head's count is a whole number");
    this.#rootDirty = true;
    let parent = -1;
    let side = 0;
    let ref = this.#root;
    let depth = 0;
    while (ref >= 0) {
      this.#dirty[ref] = 1;
      parent = ref;
      side = keyBit(key, depth);
      ref = side === 0 ? this.#left[ref]! : this.#right[ref]!;
      depth++;
    }
    if (ref === EMPTY) {
      this.#attach(parent, side, leafRef(this.#newLeaf(key, head)));
      return undefined;
    }
    const existing = leafOf(ref);
    const existingKey = this.#leafKeys.subarray(existing * 32, existing * 32 + 32);
    const shared = sharedPrefixBits(existingKey, key);
    if (shared === 256) {
      const before = this.#head(existing);
      this.#writeLeaf(existing, key, head);
      return before;
    }
    // Two keys now share this subtree: inner nodes down to the first bit where they differ.
    const added = leafRef(this.#newLeaf(key, head));
    let top: Ref = EMPTY;
    let below = -1;
    for (let level = depth; level <= shared; level++) {
      const node = this.#newNode();
      if (top === EMPTY) top = node;
      else if (keyBit(key, level - 1) === 0) this.#left[below] = node;
      else this.#right[below] = node;
      below = node;
    }
    if (keyBit(key, shared) === 0) {
      this.#left[below] = added;
      this.#right[below] = ref;
    } else {
      this.#left[below] = ref;
      this.#right[below] = added;
    }
    this.#attach(parent, side, top);
    return undefined;
  }

  /** A key's head, or undefined (as of the last set, committed or not). */
  get(key: Uint8Array): TrailHead | undefined {
    const ref = this.#descend(key, undefined);
    if (ref >= EMPTY) return undefined;
    const leaf = leafOf(ref);
    if (sharedPrefixBits(this.#leafKeys.subarray(leaf * 32, leaf * 32 + 32), key) !== 256) return undefined;
    return this.#head(leaf);
  }

  /** Rehashes what changed since the last commit; returns the root. */
  commit(): Uint8Array {
    if (this.#rootDirty && this.#root >= 0) this.#rehash(this.#root);
    if (this.#rootDirty) this.#generation++;
    this.#rootDirty = false;
    return this.root();
  }

  /** The root as of the last commit(). */
  root(): Uint8Array {
    return this.#hashOf(this.#root).slice();
  }

  /** The proof for `key` as of the last commit() (inclusion, or non-inclusion when absent). */
  prove(key: Uint8Array): TrailMapProof {
    if (key.length !== TRAIL_MAP_KEY_BYTES)
      throw new CustosError("BAD_ARGUMENT", "a trail map key is 32 bytes");
    if (this.#rootDirty) throw new CustosError("INTERNAL", "the trail map has uncommitted changes");
    const siblings: (Uint8Array | undefined)[] = [];
    const ref = this.#descend(key, siblings);
    if (ref === EMPTY) return { siblings, terminal: { kind: "empty" } };
    const leaf = leafOf(ref);
    const leafKey = this.#leafKeys.slice(leaf * 32, leaf * 32 + 32);
    const head = this.#head(leaf);
    return sharedPrefixBits(leafKey, key) === 256
      ? { siblings, terminal: { kind: "leaf", head } }
      : { siblings, terminal: { kind: "other", key: leafKey, head } };
  }

  /**
   * The committed map's leaves in ascending key order, each `key (32) || u64be(count) || last (32)`
   * (the trail map snapshot's form, docs/formats.md), in parts of at most `perPart` leaves.
   */
  leafRecords(perPart: number): Uint8Array[] {
    if (this.#rootDirty) throw new CustosError("INTERNAL", "the trail map has uncommitted changes");
    const parts: Uint8Array[] = [];
    let part = new Uint8Array(Math.min(perPart, this.#leaves) * LEAF_RECORD_BYTES);
    let at = 0;
    let written = 0;
    // In-order walk: left (bit 0) before right, so keys come out ascending.
    const stack: Ref[] = [this.#root];
    while (stack.length > 0) {
      const ref = stack.pop()!;
      if (ref === EMPTY) continue;
      if (ref >= 0) {
        stack.push(this.#right[ref]!, this.#left[ref]!);
        continue;
      }
      if (at === part.length) {
        parts.push(part);
        part = new Uint8Array(Math.min(perPart, this.#leaves - written) * LEAF_RECORD_BYTES);
        at = 0;
      }
      const leaf = leafOf(ref);
      part.set(this.#leafKeys.subarray(leaf * 32, leaf * 32 + 32), at);
      writeCount(part, at + 32, this.#leafCounts[leaf]!);
      part.set(this.#leafLasts.subarray(leaf * 32, leaf * 32 + 32), at + 40);
      at += LEAF_RECORD_BYTES;
      written++;
    }
    if (at > 0) parts.push(part);
    return parts;
  }

  /**
   * A copy of the committed map's leaves in the order they were added (not key order): three
   * contiguous copies, no walk of the tree, so taking it is cheap enough for the event loop (about
   * 20 ms at 1M keys); leafRecordsOf() puts it in key order elsewhere (a worker thread).
   */
  leafCopy(): LeafCopy {
    if (this.#rootDirty) throw new CustosError("INTERNAL", "the trail map has uncommitted changes");
    const n = this.#leaves;
    return {
      keys: this.#leafKeys.slice(0, n * 32),
      counts: this.#leafCounts.slice(0, n),
      lasts: this.#leafLasts.slice(0, n * 32),
    };
  }

  /**
   * A committed map of leaf records as leafRecords() writes them (any split into parts). Every hash
   * is computed here from the keys and heads, none is read, so the root says what the records hold;
   * keys out of order or repeated, or a part not a whole number of records, throw BAD_ARGUMENT.
   */
  static fromLeafRecords(parts: readonly Uint8Array[]): TrailMap {
    const bad = (why: string) => new CustosError("BAD_ARGUMENT", `trail map leaf records: ${why}`);
    const map = new TrailMap();
    let previous: Uint8Array | undefined;
    for (const part of parts) {
      if (part.length % LEAF_RECORD_BYTES !== 0) throw bad("a part is not a whole number of records");
      for (let at = 0; at < part.length; at += LEAF_RECORD_BYTES) {
        const key = part.subarray(at, at + 32);
        if (previous !== undefined && compareKeys(previous, key) >= 0)
          throw bad("keys are not in ascending order");
        const count = readCount(part, at + 32);
        if (count === undefined) throw bad("a count is past 2^53 - 1");
        map.#newLeaf(key, { count, last: part.subarray(at + 40, at + 72) });
        previous = key;
      }
    }
    const keyOf = (leaf: number) => map.#leafKeys.subarray(leaf * 32, leaf * 32 + 32);
    // Sorted keys under a node share its path, so each node's keys split at one point: 0s then 1s.
    const build = (lo: number, hi: number, depth: number): Ref => {
      if (hi - lo === 1) return leafRef(lo);
      let low = lo;
      let high = hi;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (keyBit(keyOf(mid), depth) === 0) low = mid + 1;
        else high = mid;
      }
      const node = map.#newNode();
      const left = low > lo ? build(lo, low, depth + 1) : EMPTY;
      const right = hi > low ? build(low, hi, depth + 1) : EMPTY;
      map.#left[node] = left;
      map.#right[node] = right;
      return node;
    };
    if (map.#leaves > 0) {
      map.#root = build(0, map.#leaves, 0);
      map.#rootDirty = true;
    }
    map.commit();
    return map;
  }

  /** The proof in its byte form (docs/formats.md). */
  proveEncoded(key: Uint8Array): Uint8Array {
    return encodeTrailMapProof(this.prove(key));
  }

  /**
   * The map as it was before some commits, given the heads those commits replaced (`reverted`: each
   * key whose head changed since, with its head then, or undefined when it was not in the map yet).
   * Only the subtrees holding a reverted key are rehashed (about reverted x depth hashes), once; the
   * version answers roots and proofs until the next commit(), after which it refuses (INTERNAL).
   */
  past(
    reverted: readonly { readonly key: Uint8Array; readonly head: TrailHead | undefined }[],
  ): PastTrailMap {
    if (this.#rootDirty) throw new CustosError("INTERNAL", "the trail map has uncommitted changes");
    const generation = this.#generation;
    const sorted = [...reverted].sort((a, b) => compareKeys(a.key, b.key));
    const memo = new Map<Ref, Summary>();
    const summarize = (ref: Ref, depth: number, lo: number, hi: number): Summary => {
      if (lo === hi) return this.#summary(ref);
      let summary: Summary;
      if (ref >= 0) {
        let mid = lo;
        while (mid < hi && keyBit(sorted[mid]!.key, depth) === 0) mid++;
        summary = combine(
          summarize(this.#left[ref]!, depth + 1, lo, mid),
          summarize(this.#right[ref]!, depth + 1, mid, hi),
        );
      } else {
        // Keys are never removed, so a key whose head changed is in the map now: here, this leaf's.
        const leaf = leafOf(ref);
        const leafKey = this.#leafKeys.subarray(leaf * 32, leaf * 32 + 32);
        const change = sorted[lo]!;
        if (ref === EMPTY || hi - lo !== 1 || sharedPrefixBits(leafKey, change.key) !== 256)
          throw new CustosError("INTERNAL", "a reverted key is not in the trail map");
        summary =
          change.head === undefined
            ? EMPTY_SUMMARY
            : {
                kind: "leaf",
                key: leafKey.slice(),
                head: change.head,
                hash: trailLeafHash(leafKey, change.head),
              };
      }
      memo.set(ref, summary);
      return summary;
    };
    summarize(this.#root, 0, 0, sorted.length);
    const summaryOf = (ref: Ref): Summary => memo.get(ref) ?? this.#summary(ref);
    const fresh = () => {
      if (this.#generation !== generation || this.#rootDirty)
        throw new CustosError("INTERNAL", "the trail map moved on since this past version was taken");
    };
    return {
      root: () => {
        fresh();
        return summaryHash(summaryOf(this.#root)).slice();
      },
      prove: (key: Uint8Array): TrailMapProof => {
        fresh();
        if (key.length !== TRAIL_MAP_KEY_BYTES)
          throw new CustosError("BAD_ARGUMENT", "a trail map key is 32 bytes");
        const siblings: (Uint8Array | undefined)[] = [];
        let ref = this.#root;
        for (let depth = 0; ; depth++) {
          const summary = summaryOf(ref);
          if (summary.kind === "empty") return { siblings, terminal: { kind: "empty" } };
          if (summary.kind === "leaf") {
            const { key: leafKey, head } = summary;
            return sharedPrefixBits(leafKey, key) === 256
              ? { siblings, terminal: { kind: "leaf", head } }
              : { siblings, terminal: { kind: "other", key: leafKey.slice(), head } };
          }
          // A summary of two keys or more comes only from an inner node.
          const bit = keyBit(key, depth);
          const sibling = summaryOf(bit === 0 ? this.#right[ref]! : this.#left[ref]!);
          siblings.push(sibling.kind === "empty" ? undefined : summaryHash(sibling).slice());
          ref = bit === 0 ? this.#left[ref]! : this.#right[ref]!;
        }
      },
    };
  }

  /** What a subtree of the committed map holds, in brief. */
  #summary(ref: Ref): Summary {
    if (ref === EMPTY) return EMPTY_SUMMARY;
    if (ref >= 0) return { kind: "node", hash: this.#hashOf(ref) };
    const leaf = leafOf(ref);
    return {
      kind: "leaf",
      key: this.#leafKeys.subarray(leaf * 32, leaf * 32 + 32),
      head: this.#head(leaf),
      hash: this.#hashOf(ref),
    };
  }

  #descend(key: Uint8Array, siblings: (Uint8Array | undefined)[] | undefined): Ref {
    let ref = this.#root;
    let depth = 0;
    while (ref >= 0) {
      const bit = keyBit(key, depth++);
      const sibling = bit === 0 ? this.#right[ref]! : this.#left[ref]!;
      siblings?.push(sibling === EMPTY ? undefined : this.#hashOf(sibling).slice());
      ref = bit === 0 ? this.#left[ref]! : this.#right[ref]!;
    }
    return ref;
  }

  #head(leaf: number): TrailHead {
    return { count: this.#leafCounts[leaf]!, last: this.#leafLasts.slice(leaf * 32, leaf * 32 + 32) };
  }

  #attach(parent: number, side: number, ref: Ref): void {
    if (parent < 0) this.#root = ref;
    else if (side === 0) this.#left[parent] = ref;
    else this.#right[parent] = ref;
  }

  #hashOf(ref: Ref): Uint8Array {
    if (ref === EMPTY) return EMPTY_SUBTREE;
    if (ref >= 0) return this.#nodeHashes.subarray(ref * 32, ref * 32 + 32);
    const leaf = leafOf(ref);
    return this.#leafHashes.subarray(leaf * 32, leaf * 32 + 32);
  }

  #rehash(node: number): void {
    const left = this.#left[node]!;
    const right = this.#right[node]!;
    if (left >= 0 && this.#dirty[left]) this.#rehash(left);
    if (right >= 0 && this.#dirty[right]) this.#rehash(right);
    this.#nodeHashes.set(trailNodeHash(this.#hashOf(left), this.#hashOf(right)), node * 32);
    this.#dirty[node] = 0;
  }

  #newLeaf(key: Uint8Array, head: TrailHead): number {
    if (this.#leaves === this.#leafCounts.length) {
      const capacity = Math.max(1024, this.#leaves * 2);
      this.#leafKeys = grow(this.#leafKeys, capacity * 32);
      this.#leafLasts = grow(this.#leafLasts, capacity * 32);
      this.#leafHashes = grow(this.#leafHashes, capacity * 32);
      const counts = new Float64Array(capacity);
      counts.set(this.#leafCounts);
      this.#leafCounts = counts;
    }
    const leaf = this.#leaves++;
    this.#writeLeaf(leaf, key, head);
    return leaf;
  }

  #writeLeaf(leaf: number, key: Uint8Array, head: TrailHead): void {
    this.#leafKeys.set(key, leaf * 32);
    this.#leafLasts.set(head.last, leaf * 32);
    this.#leafCounts[leaf] = head.count;
    this.#leafHashes.set(trailLeafHash(key, head), leaf * 32);
  }

  #newNode(): number {
    if (this.#nodes === this.#left.length) {
      const capacity = Math.max(1024, this.#nodes * 2);
      const left = new Int32Array(capacity);
      left.set(this.#left);
      this.#left = left;
      const right = new Int32Array(capacity);
      right.set(this.#right);
      this.#right = right;
      this.#nodeHashes = grow(this.#nodeHashes, capacity * 32);
      this.#dirty = grow(this.#dirty, capacity);
    }
    const node = this.#nodes++;
    this.#left[node] = EMPTY;
    this.#right[node] = EMPTY;
    this.#dirty[node] = 1;
    return node;
  }
}

/** The leaves of a committed map, in the order they were added (TrailMap.leafCopy). */
export interface LeafCopy {
  readonly keys: Uint8Array<ArrayBuffer>;
  readonly counts: Float64Array<ArrayBuffer>;
  readonly lasts: Uint8Array<ArrayBuffer>;
}

/**
 * A leaf copy as leafRecords() would write the map: leaf records in ascending key order, in parts of
 * at most `perPart` (one empty part for an empty map). Keys repeated throw INTERNAL (a map holds
 * each key once).
 */
export function leafRecordsOf(copy: LeafCopy, perPart: number): Uint8Array[] {
  const n = copy.counts.length;
  const { keys } = copy;
  // The keys' first 32 bits decide almost every comparison; the rest only on a tie.
  const view = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  const prefix = new Uint32Array(n);
  for (let i = 0; i < n; i++) prefix[i] = view.getUint32(i * 32);
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    const pa = prefix[a]!;
    const pb = prefix[b]!;
    if (pa !== pb) return pa < pb ? -1 : 1;
    for (let at = 4; at < 32; at++) {
      const x = keys[a * 32 + at]!;
      const y = keys[b * 32 + at]!;
      if (x !== y) return x - y;
    }
    throw new CustosError("INTERNAL", "a key is twice in the trail map");
  });
  if (n === 0) return [new Uint8Array(0)];
  const parts: Uint8Array[] = [];
  for (let first = 0; first < n; first += perPart) {
    const count = Math.min(perPart, n - first);
    const part = new Uint8Array(count * LEAF_RECORD_BYTES);
    for (let j = 0; j < count; j++) {
      const leaf = order[first + j]!;
      const at = j * LEAF_RECORD_BYTES;
      part.set(keys.subarray(leaf * 32, leaf * 32 + 32), at);
      writeCount(part, at + 32, copy.counts[leaf]!);
      part.set(copy.lasts.subarray(leaf * 32, leaf * 32 + 32), at + 40);
    }
    parts.push(part);
  }
  return parts;
}

/** A past version of the map (TrailMap.past). */
export interface PastTrailMap {
  root(): Uint8Array;
  prove(key: Uint8Array): TrailMapProof;
}

/** A subtree in brief: empty, one key (whose leaf stands for the whole subtree), or two keys or more. */
type Summary =
  | { readonly kind: "empty" }
  | { readonly kind: "leaf"; readonly key: Uint8Array; readonly head: TrailHead; readonly hash: Uint8Array }
  | { readonly kind: "node"; readonly hash: Uint8Array };

const EMPTY_SUMMARY: Summary = { kind: "empty" };

function summaryHash(summary: Summary): Uint8Array {
  return summary.kind === "empty" ? EMPTY_SUBTREE : summary.hash;
}

/** Two subtrees under one node; a subtree left with one key is that key's leaf (the canonical form). */
function combine(left: Summary, right: Summary): Summary {
  if (left.kind === "empty" && right.kind !== "node") return right;
  if (right.kind === "empty" && left.kind === "leaf") return left;
  return { kind: "node", hash: trailNodeHash(summaryHash(left), summaryHash(right)) };
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TRAIL_MAP_KEY_BYTES; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function grow(bytes: Uint8Array, length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}
