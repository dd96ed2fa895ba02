// The trail map snapshot (docs/formats.md, "Trail map snapshot"): the map's leaves in key order at one
// signed checkpoint's size, stored in the log's own database, so opening a log loads the map and
// replays only the entries after it instead of rebuilding it from every entry. A snapshot is used only
// when the map built from it (every hash computed, none read) has the trail map root of a checkpoint
// of that size whose signature verifies with the log's key: a snapshot altered in the store is
// rejected (and the map rebuilt from the entries), never signed on.

import { parseCheckpoint } from "../core/checkpoint/index.js";
import { bytesEqual, CustosError } from "../core/index.js";
import { openNote } from "../core/note/index.js";
import { LEAF_RECORD_BYTES, TrailMap, trailMapRootOf } from "../core/trail-map/index.js";
import {
  type LedgerStore,
  SnapshotPartCorrupt,
  type StoredCheckpoint,
  type TrailMapSnapshotRow,
} from "./storage.js";
import { TrailHeads } from "./trail-heads.js";

/** Leaves per stored part (3.6 MB): well under SQLite's and PostgreSQL's value limits. */
export const SNAPSHOT_PART_LEAVES = 50_000;
/** A new snapshot is written once this many entries, and an eighth of the log, came after the last. */
export const SNAPSHOT_MIN_ENTRIES = 10_000;

/** Whether the map at `size` should replace a snapshot of `snapshotSize` (none: undefined). */
export function snapshotDue(size: number, snapshotSize: number | undefined, minEntries: number): boolean {
  const base = snapshotSize ?? 0;
  return size > base && size - base >= Math.max(minEntries, base / 8);
}

export type SnapshotLoad =
  | { readonly kind: "none" }
  | { readonly kind: "loaded"; readonly heads: TrailHeads }
  | {
      readonly kind: "rejected";
      readonly size: number | undefined;
      readonly reason: string;
      /** The stored part found at fault, when the rows alone tell (locateSnapshotPart finds more). */
      readonly part?: number;
    };

/** The trail map root signed (with `verifierKey`) in a checkpoint of `size`; undefined if none. */
export function signedRoots(
  checkpoints: readonly StoredCheckpoint[],
  verifierKey: string,
): (size: number) => Uint8Array | undefined {
  return (size) => {
    for (const checkpoint of checkpoints) {
      if (checkpoint.size !== size) continue;
      try {
        const opened = openNote(checkpoint.note, [verifierKey]);
        if (!opened.signatures.some((s) => s.verified)) continue;
        const root = trailMapRootOf(parseCheckpoint(opened.text).extensions);
        if (root !== undefined) return root;
      } catch {
        // A checkpoint that does not verify or parse is verify's to report; it vouches for nothing here.
      }
    }
    return undefined;
  };
}

/**
 * The stored snapshot, checked: "none" when there is none, "rejected" with the reason when it cannot
 * be used (parts missing or of different sizes, past the log's end, no signed checkpoint of its size,
 * leaf records malformed, or a root other than the signed one).
 */
export async function loadTrailMapSnapshot(
  store: LedgerStore,
  signedRootAt: (size: number) => Uint8Array | undefined,
  storeSize: number,
): Promise<SnapshotLoad> {
  let rows: TrailMapSnapshotRow[];
  try {
    rows = (await store.getTrailMapSnapshot?.()) ?? [];
  } catch (error) {
    // A value of the wrong type (STORE_CORRUPT) makes the snapshot unusable, not the log unopenable.
    if (!(error instanceof CustosError) || error.code !== "STORE_CORRUPT") throw error;
    return {
      kind: "rejected",
      size: undefined,
      reason: error.message,
      ...(error instanceof SnapshotPartCorrupt ? { part: error.part } : {}),
    };
  }
  if (rows.length === 0) return { kind: "none" };
  // The snapshot's size is the one most parts carry (part 0's on a tie), so a part whose size alone
  // was changed is the one named.
  const counts = new Map<number, number>();
  for (const row of rows) counts.set(row.size, (counts.get(row.size) ?? 0) + 1);
  let size = rows[0]!.size;
  for (const [candidate, count] of counts) if (count > counts.get(size)!) size = candidate;
  const rejected = (reason: string, part?: number): SnapshotLoad => ({
    kind: "rejected",
    size,
    reason,
    ...(part === undefined ? {} : { part }),
  });
  for (const [position, row] of rows.entries()) {
    if (row.part !== position) return rejected(`part ${position} is missing`, position);
    if (row.size !== size)
      return rejected(`part ${position} is of size ${row.size}, the others of size ${size}`, position);
  }
  if (size > storeSize) return rejected(`it is of size ${size}, past the log's ${storeSize} entries`);
  const signed = signedRootAt(size);
  if (signed === undefined) return rejected(`no signed checkpoint of size ${size} carries a trail map root`);
  let map: TrailMap;
  try {
    map = TrailMap.fromLeafRecords(rows.map((row) => row.leaves));
  } catch (error) {
    if (!(error instanceof CustosError)) throw error;
    return rejected(error.message, malformedPart(rows));
  }
  if (!bytesEqual(map.root(), signed))
    return rejected(`its map's root is not the trail map root signed at size ${size}`);
  return { kind: "loaded", heads: new TrailHeads(map, size) };
}

/** The first part that is not a whole number of leaf records. */
function malformedPart(rows: readonly TrailMapSnapshotRow[]): number | undefined {
  return rows.find((row) => row.leaves.length % LEAF_RECORD_BYTES !== 0)?.part;
}

/**
 * The stored part that differs from the map `rebuilt` from the entries at the snapshot's size (the
 * first differing leaf record), for a snapshot whose rows parse but whose root is not the signed one.
 */
export function locateSnapshotPart(
  rows: readonly TrailMapSnapshotRow[],
  rebuilt: TrailHeads,
): number | undefined {
  const expected = Buffer.concat(rebuilt.map.leafRecords(Number.MAX_SAFE_INTEGER));
  let offset = 0;
  for (const row of rows) {
    const stored = row.leaves;
    const against = expected.subarray(offset, offset + stored.length);
    if (against.length !== stored.length || !Buffer.from(against).equals(stored)) return row.part;
    offset += stored.length;
  }
  // Every stored record matches: a part after the last is missing, or none differs.
  return offset === expected.length ? undefined : (rows[rows.length - 1]?.part ?? -1) + 1;
}

/** The map of `heads` in stored parts (one empty part for an empty map, so its size is kept). */
export function snapshotParts(heads: TrailHeads): Uint8Array[] {
  const parts = heads.map.leafRecords(SNAPSHOT_PART_LEAVES);
  return parts.length > 0 ? parts : [new Uint8Array(0)];
}

/** How a writable ledger's trail map was opened (for the node's log and the tests). */
export interface TrailMapOpening {
  readonly source: "snapshot" | "entries";
  /** The size of the snapshot loaded or written last; undefined when there is none. */
  readonly snapshotSize: number | undefined;
  /** Why a stored snapshot was not used. */
  readonly rejected?: string;
}

/**
 * The sequencer's map over the whole store: from the snapshot when it checks out, else from the
 * entries; then the entries after it, committed at each of the last `keepSizes` checkpoint sizes on
 * the way, so those checkpoints (the one witnesses cosigned last lags the newest) stay provable.
 */
export async function openTrailHeads(
  store: LedgerStore,
  verifierKey: string,
  keepSizes: number,
): Promise<{ heads: TrailHeads; opening: TrailMapOpening }> {
  const size = await store.getSize();
  const checkpoints = await store.listCheckpoints();
  const loaded = await loadTrailMapSnapshot(store, signedRoots(checkpoints, verifierKey), size);
  const recent = [...new Set(checkpoints.slice(-keepSizes).map((c) => c.size))]
    .filter((s) => s <= size)
    .sort((a, b) => a - b);
  let heads: TrailHeads;
  let opening: TrailMapOpening;
  if (loaded.kind === "loaded") {
    heads = loaded.heads;
    opening = { source: "snapshot", snapshotSize: heads.size };
  } else {
    heads = await TrailHeads.rebuild(store, recent.find((s) => s > 0) ?? size);
    opening = {
      source: "entries",
      snapshotSize: undefined,
      ...(loaded.kind === "rejected"
        ? {
            rejected: `the trail map snapshot${loaded.size === undefined ? "" : ` of size ${loaded.size}`} is not used: ${loaded.reason}`,
          }
        : {}),
    };
  }
  for (const stop of recent) if (stop > heads.size) await heads.catchUp(store, stop);
  if (heads.size < size) await heads.catchUp(store, size);
  return { heads, opening };
}

/**
 * A read-only ledger's map of the first `size` entries (a read replica on the same database, a
 * mirror's copy): from the snapshot when it checks out and is not past `size`, else from the entries.
 */
export async function followerTrailHeads(
  store: LedgerStore,
  verifierKey: string,
  size: number,
): Promise<TrailHeads> {
  const checkpoints = await store.listCheckpoints();
  const loaded = await loadTrailMapSnapshot(store, signedRoots(checkpoints, verifierKey), size);
  if (loaded.kind !== "loaded") return TrailHeads.rebuild(store, size);
  await loaded.heads.catchUp(store, size);
  return loaded.heads;
}
