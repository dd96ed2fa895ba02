// Which side of a leaf mismatch was altered: the entry, or the stored level-0 tile that holds its leaf
// hash. A full level-0 tile is folded into a hash its parent (level 1) stores; when the entries' own
// hashes fold into that stored hash, the entries are intact and the tile was changed, and the finding
// names the tile (level, index), not its sixteen intact entries. The rightmost, partial tile has no
// parent: a signed checkpoint that covers it and still matches the entries decides (finishEdge).

import { bytesEqual } from "../../core/index.js";
import type { LedgerStore } from "../storage.js";
import { TILE_WIDTH } from "../storage.js";
import { foldPerfect, hashAt, tileWidth } from "../tree/index.js";
import type { Finding } from "./findings.js";
import type { TileCursor } from "./leaf-check.js";

/** Entries of a chunk with their own leaf hashes. */
export interface HashedEntry {
  readonly index: number;
  readonly dataHash: Uint8Array;
}

/**
 * Finds the chunk's full level-0 tiles that disagree with the entries although the entries reproduce
 * the tile's stored parent hash; names each as TILE_MODIFIED and returns the indexes whose stored leaf
 * is to be replaced by the entry's own hash (so the tree above is checked against intact leaves).
 */
export async function alteredLeafTiles(
  store: LedgerStore,
  chunk: readonly HashedEntry[],
  leaves: TileCursor,
  findings: Finding[],
): Promise<Set<number>> {
  const trusted = new Set<number>();
  const byTile = new Map<number, HashedEntry[]>();
  for (const entry of chunk) {
    const tile = Math.floor(entry.index / TILE_WIDTH);
    const list = byTile.get(tile) ?? [];
    list.push(entry);
    byTile.set(tile, list);
  }
  for (const [tile, entries] of byTile) {
    const disagrees = entries.some((e) => {
      const leaf = leaves.leaf(e.index);
      return leaf === undefined || !bytesEqual(leaf, e.dataHash);
    });
    if (!disagrees || entries.length !== TILE_WIDTH || entries[0]!.index !== tile * TILE_WIDTH) continue;
    const [parent] = await store.getTiles([{ level: 1, index: Math.floor(tile / TILE_WIDTH) }]);
    const position = tile % TILE_WIDTH;
    if (parent === undefined || position >= tileWidth(parent)) continue;
    if (!bytesEqual(foldPerfect(entries.map((e) => e.dataHash)), hashAt(parent, position))) continue;
    for (const e of entries) trusted.add(e.index);
    findings.push(tileFinding(tile, tile * TILE_WIDTH, tile * TILE_WIDTH + TILE_WIDTH - 1, "its parent"));
  }
  return trusted;
}

/**
 * The rightmost, partial level-0 tile: when every signed checkpoint still matches the entries and one
 * covers the mismatched ones, the entries are intact and the tile was altered. Replaces the
 * ENTRY_MODIFIED findings inside that tile with one TILE_MODIFIED.
 */
export function finishEdge(findings: Finding[], checkpointSizes: readonly number[], size: number): void {
  const edgeTile = Math.floor((size - 1) / TILE_WIDTH);
  if (size % TILE_WIDTH === 0 || size === 0) return;
  if (findings.some((f) => f.code === "CHECKPOINT_MISMATCH")) return;
  const first = edgeTile * TILE_WIDTH;
  const inEdge = findings.filter(
    (f) => f.code === "ENTRY_MODIFIED" && (f.firstIndex ?? -1) >= first && (f.lastIndex ?? -1) < size,
  );
  if (inEdge.length === 0) return;
  const last = Math.max(...inEdge.map((f) => f.lastIndex!));
  if (!checkpointSizes.some((cpSize) => cpSize > last)) return;
  for (const finding of inEdge) findings.splice(findings.indexOf(finding), 1);
  findings.push(tileFinding(edgeTile, first, size - 1, "the signed checkpoint"));
}

function tileFinding(index: number, first: number, last: number, witness: string): Finding {
  return {
    code: "TILE_MODIFIED",
    message: `the stored leaf hashes of entries ${first} to ${last} (tile 0/${index}) were altered: the entries themselves still match ${witness}`,
    firstIndex: first,
    lastIndex: last,
    tile: { level: 0, index },
  };
}
