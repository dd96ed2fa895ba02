// The SQLite rows of the trail map snapshot (docs/formats.md, "Trail map snapshot"). The table came
// without a schema version step: it is a cache that checks itself (its map must have the root signed
// at its size), so an older Custos that ignores it, or a store that lacks it, only means a rebuild.

import type Database from "better-sqlite3";
import type { TrailMapSnapshotRow } from "../storage.js";
import { bytes, integer, type Row } from "./row-values.js";

export function readTrailMapSnapshot(db: Database.Database): TrailMapSnapshotRow[] {
  const present = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trail_map_snapshot'")
    .get();
  // A store last written by a Custos before the snapshot, opened read-only.
  if (present === undefined) return [];
  const rows = db.prepare("SELECT part, size, leaves FROM trail_map_snapshot ORDER BY part").all() as Row[];
  return rows.map((row) => ({ part: integer(row.part), size: integer(row.size), leaves: bytes(row.leaves) }));
}

export function writeTrailMapSnapshot(
  db: Database.Database,
  size: number,
  parts: readonly Uint8Array[],
): void {
  const insert = db.prepare("INSERT INTO trail_map_snapshot (part, size, leaves) VALUES (?, ?, ?)");
  db.transaction(() => {
    db.prepare("DELETE FROM trail_map_snapshot").run();
    for (const [part, leaves] of parts.entries()) insert.run(part, size, leaves);
  })();
}
