// A cache of at most `limit` values in two generations: new values go to the young map; when it is
// full it becomes the old one and the previous old one is dropped whole. Every operation is O(1):
// evicting one key at a time from the front of a Map makes V8 skip ever more deleted slots, which
// cost seconds once a batch of proofs cycled tens of thousands of subtree hashes through it.

export class BoundedCache<V> {
  readonly #half: number;
  #young = new Map<string, V>();
  #old = new Map<string, V>();

  constructor(limit: number) {
    this.#half = Math.max(1, Math.floor(limit / 2));
  }

  get(key: string): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    // A value still in use moves to the young generation, so it outlives the next turnover.
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: V): void {
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }
}
