// The trail map check of `custos verify`: the map of patient tag -> trail head (docs/formats.md) is
// rebuilt from the stored entries, and each signed checkpoint's `custos-trail-map/v1` line is compared
// with the root of the map of that checkpoint's entries. A mismatch means the entries were altered
// after signing, or the node signed a map that hides or misstates a patient's newest records.
// A full run rebuilds from entry 0; an incremental run (from > 0) starts from the stored trail map
// snapshot, once it is checked against the root signed at its size, and checks the checkpoints signed
// after it. The snapshot itself is checked either way (TRAIL_MAP_SNAPSHOT_MISMATCH). Checkpoints
// signed before the line existed carry none and are passed over.

import { parseCheckpoint } from "../../core/checkpoint/index.js";
import { bytesEqual } from "../../core/index.js";
import { leafHash } from "../../core/merkle/index.js";
import { trailMapRootOf } from "../../core/trail-map/index.js";
import type { LedgerStore } from "../storage.js";
import { TrailHeads } from "../trail-heads.js";
import { loadTrailMapSnapshot, locateSnapshotPart } from "../trail-map-snapshot.js";
import type { Finding } from "./findings.js";

interface SignedCheckpoint {
  readonly position: number;
  readonly size: number;
  readonly note: string;
}

/** The map roots the checkpoints commit to, by size (checkpoints without a line are left out). */
function committedRoots(checkpoints: readonly SignedCheckpoint[]) {
  const roots: { position: number; size: number; root: Uint8Array }[] = [];
  for (const checkpoint of checkpoints) {
    try {
      // The signature was checked by the caller; the body is the note up to its blank line.
      const body = parseCheckpoint(checkpoint.note.slice(0, checkpoint.note.indexOf("\n\n") + 1));
      const root = trailMapRootOf(body.extensions);
      if (root !== undefined) roots.push({ position: checkpoint.position, size: checkpoint.size, root });
    } catch {
      // A malformed body or trail map line is reported with the checkpoints (CHECKPOINT_MALFORMED).
    }
  }
  return roots.sort((a, b) => a.size - b.size);
}

/**
 * For a snapshot whose rows parse but whose map is not the one signed at its size: the part that
 * differs from the map rebuilt from the entries at that size (read again; only on this finding).
 * Undefined when no checkpoint of that size was signed with a map (nothing to rebuild against) or
 * the entries give the same records (then the signed root is what differs, reported with it).
 */
async function rebuiltPart(
  store: LedgerStore,
  size: number | undefined,
  roots: readonly { size: number }[],
): Promise<number | undefined> {
  if (size === undefined || !roots.some((signed) => signed.size === size)) return undefined;
  try {
    const rows = (await store.getTrailMapSnapshot?.()) ?? [];
    if (rows.length === 1) return rows[0]!.part;
    if (size > (await store.getSize())) return undefined;
    return locateSnapshotPart(rows, await TrailHeads.rebuild(store, size));
  } catch {
    // Entries that cannot be read are the entry scan's findings.
    return undefined;
  }
}

export async function checkTrailMap(
  store: LedgerStore,
  checkpoints: readonly SignedCheckpoint[],
  from: number,
  findings: Finding[],
): Promise<string[]> {
  const roots = committedRoots(checkpoints);
  if (roots.length === 0) return [];
  const snapshot = await loadTrailMapSnapshot(
    store,
    (size) => roots.find((signed) => signed.size === size)?.root,
    Number.MAX_SAFE_INTEGER,
  );
  if (snapshot.kind === "rejected") {
    const part = snapshot.part ?? (await rebuiltPart(store, snapshot.size, roots));
    findings.push({
      code: "TRAIL_MAP_SNAPSHOT_MISMATCH",
      message: `the stored trail map snapshot${snapshot.size === undefined ? "" : ` of size ${snapshot.size}`} is not the map signed at its size${part === undefined ? "" : ` (part ${part})`}: ${snapshot.reason} (the node rebuilds its map from the entries and rewrites it)`,
      table: "trail_map_snapshot",
      ...(part === undefined ? {} : { snapshotPart: part }),
      ...(snapshot.size === undefined ? {} : { checkpointSize: snapshot.size }),
    });
  }
  // An incremental run starts from the snapshot (checked above against its signed root) and checks
  // the checkpoints signed after it; without one it leaves the map out (it would need every entry).
  let heads = new TrailHeads();
  const unchecked: string[] = [];
  if (from > 0) {
    if (snapshot.kind !== "loaded")
      return [
        "the trail map: an incremental run checks it from the stored trail map snapshot, and this store has none that checks out; run a full verify",
      ];
    heads = snapshot.heads;
    if (heads.size > from)
      unchecked.push(
        `the trail map of the checkpoints between ${from} and ${heads.size} entries: the incremental run starts from the trail map snapshot of size ${heads.size}`,
      );
  }
  const start = heads.size;
  const mismatched: (typeof roots)[number][] = [];
  let next = start === 0 ? 0 : roots.findIndex((signed) => signed.size > start);
  if (next < 0) return unchecked;
  const compareAt = (size: number) => {
    while (next < roots.length && roots[next]!.size <= size) {
      const signed = roots[next++]!;
      if (signed.size !== size || !bytesEqual(heads.commit(), signed.root)) mismatched.push(signed);
    }
  };
  if (start === 0) compareAt(0);
  const end = roots[roots.length - 1]!.size;
  let size = start;
  for await (const chunk of store.scanEntries(start, end, 8192)) {
    for (const stored of chunk) {
      // A gap (rows deleted) is reported by the entry scan; the map simply lacks what is gone.
      if (stored.index >= end) break;
      heads.observe([stored.data], [leafHash(stored.data)]);
      size = stored.index + 1;
      compareAt(size);
    }
  }
  for (const signed of roots.slice(next)) mismatched.push(signed);
  const first = mismatched[0];
  if (first === undefined) return unchecked;
  const later = mismatched.length - 1;
  findings.push({
    code: "TRAIL_MAP_MISMATCH",
    message: `the patients' trail heads rebuilt from the entries do not match the trail map signed in the checkpoint at size ${first.size}${later > 0 ? ` (nor in ${later} later checkpoint${later === 1 ? "" : "s"})` : ""}: entries were altered after signing, or the log signed a map that misstates a patient's newest records`,
    checkpointSize: first.size,
    checkpointPosition: first.position,
  });
  return unchecked;
}
