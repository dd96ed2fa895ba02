// Reads perfect-subtree hashes from stored tiles to build roots and proofs for any size the log has
// reached. A proof costs O(log n) tile reads; full tiles never change, so they are cached.

import { CustosError } from "../../core/errors.js";
import {
  assembleProof,
  EMPTY_ROOT,
  foldSubtrees,
  type ProofPlan,
  planConsistencyProof,
  planInclusionProof,
  planRangeHash,
  type SubtreeRef,
  uniqueRefs,
} from "../../core/merkle/index.js";
import { type LedgerStore, TILE_WIDTH, type Tile } from "../storage.js";
import { subtreeFromTile, tileKey, tileSliceFor, tileWidth } from "./tile-math.js";

const CACHE_LIMIT = 8192;
/** Subtree hashes kept (32 bytes each plus the key): about 10 MB at most. */
const SUBTREE_CACHE_LIMIT = 65_536;

export class TreeReader {
  readonly #store: LedgerStore;
  readonly #fullTiles = new Map<string, Tile>();
  readonly #subtrees = new Map<string, Uint8Array>();

  constructor(store: LedgerStore) {
    this.#store = store;
  }

  async subtreeHashes(refs: readonly SubtreeRef[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    // Subtree hashes folded from full tiles never change: proofs for nearby leaves share most of them.
    const pending: SubtreeRef[] = [];
    for (const ref of refs) {
      const known = this.#subtrees.get(refKey(ref));
      if (known) out.set(refKey(ref), known);
      else pending.push(ref);
    }
    if (pending.length === 0) return out;
    const slices = pending.map((ref) => ({ ref, slice: tileSliceFor(ref) }));
    const tiles = new Map<string, Tile>();
    // Each tile read once however many of the refs it holds (a batch of proofs shares most of them).
    const missing = new Map<string, { level: number; index: number }>();
    for (const { slice } of slices) {
      const key = tileKey(slice.tileLevel, slice.tileIndex);
      if (tiles.has(key) || missing.has(key)) continue;
      const cached = this.#fullTiles.get(key);
      if (cached) tiles.set(key, cached);
      else missing.set(key, { level: slice.tileLevel, index: slice.tileIndex });
    }
    if (missing.size > 0) {
      for (const tile of await this.#store.getTiles([...missing.values()])) {
        const key = tileKey(tile.level, tile.index);
        tiles.set(key, tile);
        if (tileWidth(tile) === TILE_WIDTH) this.#remember(key, tile);
      }
    }
    for (const { ref, slice } of slices) {
      const tile = tiles.get(tileKey(slice.tileLevel, slice.tileIndex));
      const hash = tile === undefined ? undefined : subtreeFromTile(tile, slice);
      if (hash === undefined) {
        throw new CustosError(
          "STORE_CORRUPT",
          `the stored tree lacks the node at level ${ref.level}, index ${ref.index}; run custos verify`,
        );
      }
      out.set(refKey(ref), hash);
      if (tileWidth(tile!) === TILE_WIDTH) {
        if (this.#subtrees.size >= SUBTREE_CACHE_LIMIT) {
          const oldest = this.#subtrees.keys().next().value;
          if (oldest !== undefined) this.#subtrees.delete(oldest);
        }
        this.#subtrees.set(refKey(ref), hash);
      }
    }
    return out;
  }

  #remember(key: string, tile: Tile): void {
    if (this.#fullTiles.size >= CACHE_LIMIT) {
      const oldest = this.#fullTiles.keys().next().value;
      if (oldest !== undefined) this.#fullTiles.delete(oldest);
    }
    this.#fullTiles.set(key, tile);
  }

  async #assemble(plan: ProofPlan): Promise<Uint8Array[]> {
    const hashes = await this.subtreeHashes(uniqueRefs(plan));
    return assembleProof(plan, (ref) => hashes.get(refKey(ref))!);
  }

  async rootAt(size: number): Promise<Uint8Array> {
    if (size === 0) return EMPTY_ROOT.slice();
    const refs = planRangeHash(0, size);
    const hashes = await this.subtreeHashes(refs);
    return foldSubtrees(refs.map((ref) => hashes.get(refKey(ref))!));
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return this.#assemble(planInclusionProof(index, size));
  }

  /**
   * Inclusion proofs for many leaves against one tree size, equal to inclusionProof for each: the
   * subtree hashes of all the plans are collected first and read in one batch (one tile read each),
   * so a patient's history costs a few reads rather than a few per entry. Memory grows with the
   * number of proofs asked, never with the log.
   */
  async inclusionProofs(indexes: readonly number[], size: number): Promise<Uint8Array[][]> {
    const plans = indexes.map((index) => planInclusionProof(index, size));
    const refs = new Map<string, SubtreeRef>();
    for (const plan of plans) {
      for (const step of plan) for (const ref of step) refs.set(refKey(ref), ref);
    }
    const hashes = await this.subtreeHashes([...refs.values()]);
    return plans.map((plan) => assembleProof(plan, (ref) => hashes.get(refKey(ref))!));
  }

  async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
    return this.#assemble(planConsistencyProof(size1, size2));
  }
}

function refKey(ref: SubtreeRef): string {
  return `${ref.level}:${ref.index}`;
}
