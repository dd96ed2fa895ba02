// The leaf side of `custos verify`: stored tiles read in order beside the entries, and what a run of
// entries that no longer match their leaves means (edited, inserted, removed or reordered).

import { toHex } from "../../core/index.js";
import type { LedgerStore, Tile } from "../storage.js";
import { TILE_WIDTH } from "../storage.js";
import { hashAt, tileWidth } from "../tree/index.js";
import { type Finding, rangeText } from "./findings.js";

export interface Mismatch {
  readonly index: number;
  readonly dataHash: Uint8Array;
}

/**
 * Names what happened to entries whose data no longer hashes to the stored leaf: content that
 * belongs at another position means rows were shifted (inserted or removed with renumbering) or
 * swapped; content found nowhere means the entry was edited.
 */
export function classifyMismatches(
  mismatches: readonly Mismatch[],
  leafIndex: Map<string, number>,
  findings: Finding[],
): void {
  let i = 0;
  while (i < mismatches.length) {
    const first = mismatches[i]!;
    const origin = leafIndex.get(toHex(first.dataHash));
    if (origin === undefined) {
      let j = i;
      while (
        j + 1 < mismatches.length &&
        mismatches[j + 1]!.index === mismatches[j]!.index + 1 &&
        !leafIndex.has(toHex(mismatches[j + 1]!.dataHash))
      )
        j++;
      const last = mismatches[j]!.index;
      findings.push({
        code: "ENTRY_MODIFIED",
        message: `${rangeText(first.index, last)} ${first.index === last ? "was" : "were"} modified: the stored content no longer matches the hash recorded in the tree`,
        firstIndex: first.index,
        lastIndex: last,
      });
      i = j + 1;
      continue;
    }
    const shift = first.index - origin;
    let j = i;
    while (
      j + 1 < mismatches.length &&
      mismatches[j + 1]!.index === mismatches[j]!.index + 1 &&
      leafIndex.get(toHex(mismatches[j + 1]!.dataHash)) === mismatches[j + 1]!.index - shift
    ) {
      j++;
    }
    const last = mismatches[j]!.index;
    const runLength = j - i + 1;
    if (Math.abs(shift) < runLength) {
      findings.push(
        shift > 0
          ? {
              code: "ENTRIES_INSERTED",
              message: `${shift} ${shift === 1 ? "entry was" : "entries were"} inserted at position ${first.index - shift}: ${rangeText(first.index, last)} hold content that belongs ${shift} position${shift === 1 ? "" : "s"} earlier`,
              firstIndex: first.index - shift,
              lastIndex: last,
            }
          : {
              code: "ENTRIES_MISSING",
              message: `${-shift} ${shift === -1 ? "entry was" : "entries were"} removed at position ${first.index} and the later ones renumbered: ${rangeText(first.index, last)} hold content that belongs ${-shift} position${shift === -1 ? "" : "s"} later`,
              firstIndex: first.index,
              lastIndex: last,
            },
      );
    } else {
      findings.push({
        code: "ENTRIES_REORDERED",
        message: `entries were reordered: ${rangeText(first.index, last)} hold the content of ${rangeText(origin, origin + runLength - 1)}`,
        firstIndex: first.index,
        lastIndex: last,
      });
    }
    i = j + 1;
  }
}

/** Reads stored tiles of one level in index order, a window at a time. */
export class TileCursor {
  readonly #store: LedgerStore;
  readonly #level: number;
  #tiles = new Map<number, Tile>();
  #iterator: AsyncIterator<Tile[]> | undefined;
  readonly #startIndex: number;
  #loadedUpTo = -1;
  #done = false;

  constructor(store: LedgerStore, level: number, startIndex: number) {
    this.#store = store;
    this.#level = level;
    this.#startIndex = startIndex;
  }

  /** Loads tiles up to `index` so that leaf() and get() answer from memory. */
  async load(index: number): Promise<void> {
    await this.get(index);
  }

  async get(index: number): Promise<Tile | undefined> {
    while (!this.#done && this.#loadedUpTo < index) {
      this.#iterator ??= this.#store.scanTiles(this.#level, this.#startIndex)[Symbol.asyncIterator]();
      const next = await this.#iterator.next();
      if (next.done) {
        this.#done = true;
        break;
      }
      // Keep a bounded window: tiles behind the cursor are no longer needed.
      for (const key of this.#tiles.keys()) if (key < index - 4096) this.#tiles.delete(key);
      for (const tile of next.value) this.#tiles.set(tile.index, tile);
      this.#loadedUpTo = next.value[next.value.length - 1]!.index;
    }
    return this.#tiles.get(index);
  }

  /** The stored leaf hash at index, from tiles already loaded (see load). */
  leaf(index: number): Uint8Array | undefined {
    const tile = this.#tiles.get(Math.floor(index / TILE_WIDTH));
    const position = index % TILE_WIDTH;
    if (tile === undefined || position >= tileWidth(tile)) return undefined;
    return hashAt(tile, position);
  }

  /** Stored leaf hash -> index around the mismatched positions (for classification). */
  async leavesAround(mismatches: readonly Mismatch[]): Promise<Map<string, number>> {
    const map = new Map<string, number>();
    if (mismatches.length === 0) return map;
    const wanted = new Set<number>();
    for (const m of mismatches) {
      const tile = Math.floor(m.index / TILE_WIDTH);
      for (let t = tile - 2; t <= tile + 2; t++) if (t >= 0) wanted.add(t);
    }
    const tiles = await this.#store.getTiles([...wanted].map((index) => ({ level: this.#level, index })));
    for (const tile of tiles) {
      for (let p = 0; p < tileWidth(tile); p++) map.set(toHex(hashAt(tile, p)), tile.index * TILE_WIDTH + p);
    }
    return map;
  }
}
