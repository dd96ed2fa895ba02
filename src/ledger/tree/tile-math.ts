// Where a perfect subtree's hash lives among the stored tiles. A subtree at tree level h is either
// stored directly (h a multiple of TILE_HEIGHT) or is hashed up from 2^(h mod TILE_HEIGHT) stored
// hashes that sit in one tile, so any node costs one tile read and at most TILE_WIDTH-1 node hashes.

import { nodeHash, type SubtreeRef } from "../../core/merkle/index.js";
import { TILE_HEIGHT, TILE_WIDTH, type Tile } from "../storage.js";

export interface TileSlice {
  readonly tileLevel: number;
  readonly tileIndex: number;
  /** First hash within the tile. */
  readonly offset: number;
  /** Number of stored hashes to fold: 2^(level mod TILE_HEIGHT). */
  readonly count: number;
}

export function tileSliceFor(ref: SubtreeRef): TileSlice {
  const tileLevel = Math.floor(ref.level / TILE_HEIGHT);
  const rise = ref.level - tileLevel * TILE_HEIGHT;
  const count = 2 ** rise;
  const firstNode = ref.index * count;
  return {
    tileLevel,
    tileIndex: Math.floor(firstNode / TILE_WIDTH),
    offset: firstNode % TILE_WIDTH,
    count,
  };
}

export function tileKey(level: number, index: number): string {
  return `${level}/${index}`;
}

export function tileWidth(tile: Tile): number {
  return tile.hashes.length / 32;
}

export function hashAt(tile: Tile, position: number): Uint8Array {
  return tile.hashes.subarray(position * 32, position * 32 + 32);
}

/** Folds 2^k consecutive hashes of one level into their perfect subtree's hash (RFC 6962 2.1). */
export function foldPerfect(hashes: readonly Uint8Array[]): Uint8Array {
  let layer = hashes.slice();
  while (layer.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < layer.length; i += 2) next.push(nodeHash(layer[i]!, layer[i + 1]!));
    layer = next;
  }
  return layer[0]!;
}

/** The hash of a perfect subtree read from its tile; undefined if the tile does not reach it. */
export function subtreeFromTile(tile: Tile, slice: TileSlice): Uint8Array | undefined {
  if (slice.offset + slice.count > tileWidth(tile)) return undefined;
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < slice.count; i++) hashes.push(hashAt(tile, slice.offset + i));
  return foldPerfect(hashes);
}
