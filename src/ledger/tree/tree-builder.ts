// Grows the tiled tree one leaf hash at a time, keeping only the rightmost tile of each level in
// memory (O(log n)). Used by the sequencer to produce the tiles each batch must store, and by verify
// to rebuild the tree from the entries and compare it with what is stored.

import { CustosError } from "../../core/index.js";
import { EMPTY_ROOT, foldSubtrees, planRangeHash } from "../../core/merkle/index.js";
import { TILE_WIDTH, type Tile } from "../storage.js";
import { foldPerfect, hashAt, subtreeFromTile, tileSliceFor, tileWidth } from "./tile-math.js";

interface EdgeTile {
  index: number;
  hashes: Uint8Array[];
}

export class TreeBuilder {
  #size: number;
  readonly #edges: EdgeTile[];
  /** Full tiles completed since the last takeChangedTiles(). */
  #completed: Tile[] = [];
  readonly #dirtyLevels = new Set<number>();

  private constructor(size: number, edges: EdgeTile[]) {
    this.#size = size;
    this.#edges = edges;
  }

  static empty(): TreeBuilder {
    return new TreeBuilder(0, []);
  }

  /**
   * Resumes from the stored rightmost tile of each level. Checks that the tiles agree with `size`,
   * so a store whose tree was cut or padded is refused rather than extended.
   */
  static resume(size: number, edgeTiles: readonly Tile[]): TreeBuilder {
    const edges: EdgeTile[] = [];
    let nodesAtLevel = size;
    for (let level = 0; nodesAtLevel > 0 || level < edgeTiles.length; level++) {
      const expectedIndex = Math.floor(nodesAtLevel / TILE_WIDTH);
      const expectedWidth = nodesAtLevel % TILE_WIDTH;
      const tile = edgeTiles.find((t) => t.level === level && t.index === expectedIndex);
      if (expectedWidth === 0) {
        edges.push({ index: expectedIndex, hashes: [] });
      } else {
        if (tile === undefined || tileWidth(tile) !== expectedWidth) {
          throw new CustosError(
            "STORE_CORRUPT",
            `the stored tree does not match the log size ${size} at tile level ${level}; run custos verify`,
          );
        }
        const hashes: Uint8Array[] = [];
        for (let i = 0; i < expectedWidth; i++) hashes.push(hashAt(tile, i).slice());
        edges.push({ index: expectedIndex, hashes });
      }
      nodesAtLevel = expectedIndex;
      if (nodesAtLevel === 0) break;
    }
    return new TreeBuilder(size, edges);
  }

  /** An independent copy (O(log n)): verify forks one when stored and recomputed trees diverge. */
  clone(): TreeBuilder {
    return new TreeBuilder(
      this.#size,
      this.#edges.map((edge) => ({ index: edge.index, hashes: edge.hashes.slice() })),
    );
  }

  get size(): number {
    return this.#size;
  }

  append(leafHash: Uint8Array): void {
    this.#push(0, leafHash);
    this.#size++;
  }

  #push(level: number, hash: Uint8Array): void {
    let edge = this.#edges[level];
    if (edge === undefined) {
      edge = { index: 0, hashes: [] };
      this.#edges[level] = edge;
    }
    edge.hashes.push(hash);
    this.#dirtyLevels.add(level);
    if (edge.hashes.length === TILE_WIDTH) {
      this.#completed.push({ level, index: edge.index, hashes: joinHashes(edge.hashes) });
      const parent = foldPerfect(edge.hashes);
      edge.index++;
      edge.hashes = [];
      this.#push(level + 1, parent);
    }
  }

  /** Full tiles completed and the current partial edge tiles, since the last call. */
  takeChangedTiles(): Tile[] {
    const changed = this.#completed;
    for (const level of this.#dirtyLevels) {
      const edge = this.#edges[level]!;
      if (edge.hashes.length > 0) changed.push({ level, index: edge.index, hashes: joinHashes(edge.hashes) });
    }
    this.#completed = [];
    this.#dirtyLevels.clear();
    return changed;
  }

  /** The current edge tiles (non-empty), as a store would hold them. */
  edgeTiles(): Tile[] {
    const tiles: Tile[] = [];
    this.#edges.forEach((edge, level) => {
      if (edge.hashes.length > 0) tiles.push({ level, index: edge.index, hashes: joinHashes(edge.hashes) });
    });
    return tiles;
  }

  /** Root of the tree at its current size (RFC 6962 2.1), from the edge tiles alone. */
  root(): Uint8Array {
    if (this.#size === 0) return EMPTY_ROOT.slice();
    const hashes = planRangeHash(0, this.#size).map((ref) => {
      const slice = tileSliceFor(ref);
      const edge = this.#edges[slice.tileLevel];
      if (edge === undefined || edge.index !== slice.tileIndex) {
        throw new CustosError("INTERNAL", "tree edge does not hold a subtree of the current root");
      }
      const tile: Tile = { level: slice.tileLevel, index: edge.index, hashes: joinHashes(edge.hashes) };
      const hash = subtreeFromTile(tile, slice);
      if (hash === undefined) throw new CustosError("INTERNAL", "tree edge tile is too short");
      return hash;
    });
    return foldSubtrees(hashes);
  }
}

export function joinHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 32);
  for (const [i, hash] of hashes.entries()) out.set(hash, i * 32);
  return out;
}
