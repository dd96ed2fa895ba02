// The read side of c2sp.org/tlog-tiles: tile paths, and the 256-wide tiles and entry bundles a
// conforming client expects, assembled from our 16-wide stored tiles and stored entries.
// Invariant: nothing is served beyond the latest signed checkpoint. A tile or bundle is readable only
// if every hash or entry in it is committed to by that checkpoint; such hashes are final (a node hash
// is stored only once its subtree is complete), so the bytes at a given path never change.

import { CustosError } from "../core/index.js";
import { HASH_SIZE } from "../core/merkle/index.js";
import { type LedgerStore, TILE_HEIGHT, TILE_WIDTH, type Tile } from "./storage.js";

export const C2SP_TILE_HEIGHT = 8;
export const C2SP_TILE_WIDTH = 1 << C2SP_TILE_HEIGHT;
/** c2sp.org/tlog-tiles: a tile level is 0 to 63. */
export const MAX_TILE_LEVEL = 63;
/** c2sp.org/tlog-tiles "Log entries": each entry in a bundle has a big-endian uint16 length. */
export const MAX_BUNDLE_ENTRY_BYTES = 0xffff;

// A C2SP tile at level L is the concatenation of STORED_PER_TILE stored tiles at level L * LEVEL_RATIO.
const LEVEL_RATIO = C2SP_TILE_HEIGHT / TILE_HEIGHT;
const STORED_PER_TILE = C2SP_TILE_WIDTH / TILE_WIDTH;
if (!Number.isInteger(LEVEL_RATIO)) {
  throw new CustosError("INTERNAL", `stored tile height ${TILE_HEIGHT} does not divide ${C2SP_TILE_HEIGHT}`);
}

/** A resource under `<prefix>/tile/`: Merkle tree hashes or an entry bundle; no width means full. */
export type TilePath =
  | { readonly kind: "hashes"; readonly level: number; readonly index: number; readonly width?: number }
  | { readonly kind: "entries"; readonly index: number; readonly width?: number };

// The longest valid path is about 43 characters; anything much longer is refused before parsing.
const MAX_PATH_LENGTH = 64;
// 2^53 - 1 has 16 decimal digits, so a safe index needs at most 6 three-digit groups.
const MAX_INDEX_GROUPS = 6;
const LEVEL_TEXT = /^(?:0|[1-9][0-9]?)$/;
const INDEX_GROUP = /^x[0-9]{3}$/;
const INDEX_LAST = /^[0-9]{3}$/;
const WIDTH_TEXT = /^[1-9][0-9]{0,2}$/;

/**
 * Parses the part of a tile URL after `tile/`, e.g. `0/x001/x234/067.p/5` or `entries/000`. Only the
 * canonical spelling is accepted (c2sp.org/tlog-tiles "Merkle Tree"), so one resource has one path.
 */
export function parseTilePath(path: string): TilePath {
  const bad = (why: string) => new CustosError("BAD_ARGUMENT", `malformed tile path: ${why}`);
  if (typeof path !== "string" || path.length === 0) throw bad("it is empty");
  if (path.length > MAX_PATH_LENGTH) throw bad(`it is longer than ${MAX_PATH_LENGTH} characters`);
  const segments = path.split("/");
  const head = segments.shift()!;

  let level: number | undefined;
  if (head !== "entries") {
    if (!LEVEL_TEXT.test(head)) throw bad("the level must be `entries` or a number without leading zeros");
    level = Number(head);
    if (level > MAX_TILE_LEVEL) throw bad(`the level must be at most ${MAX_TILE_LEVEL}`);
  }

  let width: number | undefined;
  const beforeLast = segments.at(-2);
  if (beforeLast?.endsWith(".p")) {
    const widthText = segments.pop()!;
    if (!WIDTH_TEXT.test(widthText) || Number(widthText) >= C2SP_TILE_WIDTH) {
      throw bad(`a partial width must be 1 to ${C2SP_TILE_WIDTH - 1} without leading zeros`);
    }
    width = Number(widthText);
    segments[segments.length - 1] = beforeLast.slice(0, -2);
  }

  const index = parseIndexGroups(segments, bad);
  if (level === undefined)
    return width === undefined ? { kind: "entries", index } : { kind: "entries", index, width };
  return width === undefined ? { kind: "hashes", level, index } : { kind: "hashes", level, index, width };
}

function parseIndexGroups(groups: readonly string[], bad: (why: string) => CustosError): number {
  if (groups.length === 0 || groups.length > MAX_INDEX_GROUPS) {
    throw bad(`the index must be 1 to ${MAX_INDEX_GROUPS} three-digit groups`);
  }
  let value = 0n;
  for (const [i, group] of groups.entries()) {
    const last = i === groups.length - 1;
    if (!(last ? INDEX_LAST : INDEX_GROUP).test(group)) {
      throw bad("the index must be three-digit groups, each but the last prefixed with x (x001/x234/067)");
    }
    if (i === 0 && !last && group === "x000") throw bad("the index has a leading zero group");
    value = value * 1000n + BigInt(last ? group : group.slice(1));
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad("the index is too large");
  return Number(value);
}

/** c2sp.org/tlog-tiles: 1234067 is `x001/x234/067`. */
export function encodeTileIndex(index: number): string {
  checkIndex(index);
  const group = (n: number) => String(n % 1000).padStart(3, "0");
  let out = group(index);
  // (rest - rest % 1000) / 1000 is exact for every safe integer, where Math.floor(rest / 1000) may round up.
  let rest = (index - (index % 1000)) / 1000;
  while (rest > 0) {
    out = `x${group(rest)}/${out}`;
    rest = (rest - (rest % 1000)) / 1000;
  }
  return out;
}

/** The inverse of parseTilePath. */
export function formatTilePath(tile: TilePath): string {
  const head = tile.kind === "entries" ? "entries" : String(checkLevel(tile.level));
  const width = tile.width === undefined ? "" : `.p/${checkWidth(tile.width)}`;
  return `${head}/${encodeTileIndex(tile.index)}${width}`;
}

/**
 * The C2SP tile at `level`, `index`: 256 hashes, or the first `width` of them for a partial tile
 * (c2sp.org/tlog-tiles "Partial Tiles"). NOT_FOUND unless the latest checkpoint covers all of them.
 */
export async function readC2spTile(
  store: LedgerStore,
  level: number,
  index: number,
  width?: number,
): Promise<Uint8Array> {
  checkLevel(level);
  checkIndex(index);
  const count = width === undefined ? C2SP_TILE_WIDTH : checkWidth(width);
  const size = await committedSize(store);
  // Nodes at tree level 8L whose subtree is complete in the checkpoint's tree (exact: a power of two).
  const nodes = Math.floor(size / 2 ** (C2SP_TILE_HEIGHT * level));
  if (index * C2SP_TILE_WIDTH + count > nodes) {
    const path = formatTilePath(
      width === undefined ? { kind: "hashes", level, index } : { kind: "hashes", level, index, width },
    );
    throw new CustosError(
      "NOT_FOUND",
      `tile ${path} is not covered by the latest checkpoint (tree size ${size})`,
    );
  }

  const storedLevel = level * LEVEL_RATIO;
  const refs: { level: number; index: number }[] = [];
  for (let j = 0; j * TILE_WIDTH < count; j++)
    refs.push({ level: storedLevel, index: index * STORED_PER_TILE + j });
  const stored = new Map<number, Tile>();
  for (const tile of await store.getTiles(refs)) if (tile.level === storedLevel) stored.set(tile.index, tile);

  const out = new Uint8Array(count * HASH_SIZE);
  for (const [j, ref] of refs.entries()) {
    // The rightmost stored tile may have grown since the checkpoint; its first hashes are unchanged.
    const needed = Math.min(TILE_WIDTH, count - j * TILE_WIDTH) * HASH_SIZE;
    const tile = stored.get(ref.index);
    if (tile === undefined || tile.hashes.length < needed || tile.hashes.length > TILE_WIDTH * HASH_SIZE) {
      throw new CustosError(
        "STORE_CORRUPT",
        `the stored tree lacks tile ${ref.level}/${ref.index} below the latest checkpoint; run custos verify`,
      );
    }
    out.set(tile.hashes.subarray(0, needed), j * TILE_WIDTH * HASH_SIZE);
  }
  return out;
}

/**
 * Entries 256 * index onward (all 256, or `width` of them), each as a big-endian uint16 length and the
 * entry's bytes (c2sp.org/tlog-tiles "Log entries"). NOT_FOUND unless the latest checkpoint covers
 * them; TOO_LARGE if an entry does not fit a uint16 length.
 */
export async function readEntryBundle(
  store: LedgerStore,
  index: number,
  width?: number,
): Promise<Uint8Array> {
  checkIndex(index);
  const count = width === undefined ? C2SP_TILE_WIDTH : checkWidth(width);
  const size = await committedSize(store);
  const start = index * C2SP_TILE_WIDTH;
  if (start + count > size) {
    const path = formatTilePath(
      width === undefined ? { kind: "entries", index } : { kind: "entries", index, width },
    );
    throw new CustosError(
      "NOT_FOUND",
      `entry bundle ${path} is not covered by the latest checkpoint (tree size ${size})`,
    );
  }

  const entries = await store.getEntries(start, start + count);
  let length = 0;
  for (let i = 0; i < count; i++) {
    const entry = entries[i];
    if (entry === undefined || entry.index !== start + i) {
      throw new CustosError(
        "STORE_CORRUPT",
        `the store lacks entry ${start + i} below the latest checkpoint; run custos verify`,
      );
    }
    if (entry.data.length > MAX_BUNDLE_ENTRY_BYTES) {
      throw new CustosError(
        "TOO_LARGE",
        `entry ${entry.index} is ${entry.data.length} bytes, more than the ${MAX_BUNDLE_ENTRY_BYTES} an entry bundle can carry`,
      );
    }
    length += 2 + entry.data.length;
  }

  const out = new Uint8Array(length);
  let offset = 0;
  for (const { data } of entries.slice(0, count)) {
    out[offset] = data.length >>> 8;
    out[offset + 1] = data.length & 0xff;
    out.set(data, offset + 2);
    offset += 2 + data.length;
  }
  return out;
}

async function committedSize(store: LedgerStore): Promise<number> {
  const checkpoint = await store.getLatestCheckpoint();
  if (checkpoint === undefined) throw new CustosError("NOT_FOUND", "the log has no signed checkpoint yet");
  return checkpoint.size;
}

function checkLevel(level: number): number {
  if (!Number.isSafeInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw new CustosError("BAD_ARGUMENT", `a tile level must be a whole number from 0 to ${MAX_TILE_LEVEL}`);
  }
  return level;
}

function checkIndex(index: number): number {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new CustosError("BAD_ARGUMENT", "a tile index must be a non-negative safe integer");
  }
  return index;
}

function checkWidth(width: number): number {
  if (!Number.isSafeInteger(width) || width < 1 || width >= C2SP_TILE_WIDTH) {
    throw new CustosError("BAD_ARGUMENT", `a partial tile width must be 1 to ${C2SP_TILE_WIDTH - 1}`);
  }
  return width;
}
