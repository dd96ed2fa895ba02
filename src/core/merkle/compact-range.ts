// The right edge of a growing tree: the hashes of the perfect subtrees of planRangeHash(0, size),
// O(log n) of them. Appending a leaf costs amortized one node hash; the root folds them.

import { CustosError } from "../errors.js";
import { EMPTY_ROOT, nodeHash } from "./hashing.js";
import { foldSubtrees, planRangeHash } from "./proof-plan.js";

export class CompactRange {
  #size: number;
  /** Perfect subtree hashes, left to right, strictly decreasing sizes (binary digits of size). */
  #hashes: Uint8Array[];
  readonly #onComplete: ((level: number, index: number, hash: Uint8Array) => void) | undefined;

  private constructor(
    size: number,
    hashes: Uint8Array[],
    onComplete?: (level: number, index: number, hash: Uint8Array) => void,
  ) {
    this.#size = size;
    this.#hashes = hashes;
    this.#onComplete = onComplete;
  }

  static empty(onComplete?: (level: number, index: number, hash: Uint8Array) => void): CompactRange {
    return new CompactRange(0, [], onComplete);
  }

  /** Resumes from the subtree hashes of planRangeHash(0, size), left to right. */
  static fromSubtrees(size: number, hashes: readonly Uint8Array[]): CompactRange {
    const expected = planRangeHash(0, size).length;
    if (hashes.length !== expected || hashes.some((h) => h.length !== 32)) {
      throw new CustosError("BAD_ARGUMENT", `a tree of size ${size} has ${expected} edge subtrees`);
    }
    return new CompactRange(
      size,
      hashes.map((h) => h.slice()),
    );
  }

  get size(): number {
    return this.#size;
  }

  append(leafHash: Uint8Array): void {
    let hash = leafHash;
    let level = 0;
    let index = this.#size;
    // Merge with the last subtree while sizes match: the binary carry of size + 1.
    while (Math.floor(this.#size / 2 ** level) % 2 === 1) {
      const left = this.#hashes.pop()!;
      hash = nodeHash(left, hash);
      level++;
      index = Math.floor(index / 2);
      this.#onComplete?.(level, index, hash);
    }
    this.#hashes.push(hash);
    this.#size++;
  }

  appendMany(hashes: readonly Uint8Array[]): void {
    for (const hash of hashes) this.append(hash);
  }

  root(): Uint8Array {
    return this.#size === 0 ? EMPTY_ROOT.slice() : foldSubtrees(this.#hashes);
  }

  subtrees(): Uint8Array[] {
    return this.#hashes.map((h) => h.slice());
  }
}
