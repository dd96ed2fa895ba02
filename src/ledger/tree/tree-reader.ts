// Reads perfect-subtree hashes from stored tiles to build roots and proofs for any size the log has
// reached. A proof costs O(log n) tile reads; full tiles never change, so they are cached.

import { BoundedCache, CustosError } from "../../core/index.js";
import {
  assembleProof,
  EMPTY_ROOT,
  foldSubtrees,
  nodeHash,
  type ProofPlan,
  planConsistencyProof,
  planInclusionProof,
  planRangeHash,
  type SubtreeRef,
  uniqueRefs,
} from "../../core/merkle/index.js";
import { type LedgerStore, TILE_HEIGHT, TILE_WIDTH, type Tile } from "../storage.js";
import { hashAt, tileKey, tileSliceFor, tileWidth } from "./tile-math.js";

const CACHE_LIMIT = 8192;
/** Subtree hashes kept (32 bytes each plus the key): about 10 MB at most. */
const SUBTREE_CACHE_LIMIT = 65_536;

export class TreeReader {
  readonly #store: LedgerStore;
  readonly #fullTiles = new BoundedCache<Tile>(CACHE_LIMIT);
  readonly #subtrees = new BoundedCache<Uint8Array>(SUBTREE_CACHE_LIMIT);

  constructor(store: LedgerStore) {
    this.#store = store;
  }

  async subtreeHashes(refs: readonly SubtreeRef[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    // Subtree hashes folded from full tiles never change: proofs for nearby leaves share most of them.
    const pending: SubtreeRef[] = [];
    for (const ref of refs) {
      const key = refKey(ref);
      const known = this.#subtrees.get(key);
      if (known) out.set(key, known);
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
        if (tileWidth(tile) === TILE_WIDTH) this.#fullTiles.set(key, tile);
      }
    }
    // Nodes folded on the way, shared by the refs of this call: a batch of proofs for nearby leaves
    // asks for overlapping subtrees of one tile, and each inner node is then hashed once.
    const folded = new Map<string, Uint8Array>();
    for (const { ref, slice } of slices) {
      const tile = tiles.get(tileKey(slice.tileLevel, slice.tileIndex));
      const hash = tile === undefined ? undefined : foldFromTile(tile, ref, slice.tileLevel, folded);
      if (hash === undefined) {
        throw new CustosError(
          "STORE_CORRUPT",
          `the stored tree lacks the node at level ${ref.level}, index ${ref.index}; run custos verify`,
        );
      }
      const key = refKey(ref);
      out.set(key, hash);
      if (tileWidth(tile!) === TILE_WIDTH) this.#subtrees.set(key, hash);
    }
    return out;
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

/**
 * The hash of `ref` from the stored hashes of its tile (RFC 6962 2.1), folding its two halves
 * recursively and remembering every inner node in `folded`; undefined if the tile does not reach it.
 */
function foldFromTile(
  tile: Tile,
  ref: SubtreeRef,
  tileLevel: number,
  folded: Map<string, Uint8Array>,
): Uint8Array | undefined {
  if (ref.level === tileLevel * TILE_HEIGHT) {
    const position = ref.index - tile.index * TILE_WIDTH;
    return position < tileWidth(tile) ? hashAt(tile, position) : undefined;
  }
  const key = refKey(ref);
  const known = folded.get(key);
  if (known !== undefined) return known;
  const left = foldFromTile(tile, { level: ref.level - 1, index: ref.index * 2 }, tileLevel, folded);
  const right = foldFromTile(tile, { level: ref.level - 1, index: ref.index * 2 + 1 }, tileLevel, folded);
  if (left === undefined || right === undefined) return undefined;
  const hash = nodeHash(left, right);
  folded.set(key, hash);
  return hash;
}
