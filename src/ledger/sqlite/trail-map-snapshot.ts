// The SQLite rows of the trail map snapshot (docs/formats.md, "Trail map snapshot"). The table came
// without a schema version step: it is a cache that checks itself (its map must have the root signed
// at its size), so an older Custos that ignores it, or a store that lacks it, only means a rebuild.

import type Database from "better-sqlite3";
import { CustosError } from "../../core/index.js";
import { LEAF_RECORD_BYTES } from "../../core/trail-map/index.js";
import { SnapshotPartCorrupt, type TrailMapSnapshotRow } from "../storage.js";
import { bytes, integer, type Row } from "./row-values.js";

export function readTrailMapSnapshot(db: Database.Database): TrailMapSnapshotRow[] {
  const present = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trail_map_snapshot'")
    .get();
  // A store last written by a Custos before the snapshot, opened read-only.
  if (present === undefined) return [];
  const rows = db.prepare("SELECT part, size, leaves FROM trail_map_snapshot ORDER BY part").all() as Row[];
  return rows.map((row) => {
    const part = integer(row.part);
    try {
      return { part, size: integer(row.size), leaves: bytes(row.leaves) };
    } catch (error) {
      throw error instanceof CustosError ? new SnapshotPartCorrupt(part, error) : error;
    }
  });
}

/** Where a snapshot being written is staged, and where the one it replaces waits to be dropped. */
const STAGING = "trail_map_snapshot_next";
const RETIRED = "trail_map_snapshot_old";
/** Leaves per stored row as SQLite writes them (504,000 bytes: some 25 ms of writing per row). */
const SQLITE_ROW_LEAVES = 7_000;

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Replaces the snapshot without holding the event loop for the whole map (72 MB at 1M patients, some
 * 700 ms of synchronous writing in one transaction, and as much again to drop the old one): the
 * parts, cut into rows of at most SQLITE_ROW_LEAVES leaves (any split loads the same map), go into a
 * staging table one row per turn of the event loop, each its own transaction written without an
 * fsync of its own (the swap's commit syncs the write-ahead log, and with it every frame before it);
 * one small transaction swaps the tables by renaming (no part's bytes are touched); the old rows are
 * then deleted one per turn. A crash before the swap leaves the previous snapshot whole; whatever a
 * crash leaves in the staging or retired table is dropped by the next write, and no reader reads them.
 * The freed pages are zero-filled as every delete's are (secure_delete; verify checks free pages).
 */
export async function writeTrailMapSnapshot(
  db: Database.Database,
  size: number,
  parts: readonly Uint8Array[],
): Promise<void> {
  await dropInSlices(db, STAGING);
  await dropInSlices(db, RETIRED);
  if (!db.open) return;
  db.exec(`CREATE TABLE ${STAGING} (part INTEGER PRIMARY KEY, size INTEGER NOT NULL, leaves BLOB NOT NULL)`);
  const insert = db.prepare(`INSERT INTO ${STAGING} (part, size, leaves) VALUES (?, ?, ?)`);
  const rowBytes = SQLITE_ROW_LEAVES * LEAF_RECORD_BYTES;
  let row = 0;
  for (const part of parts) {
    for (let at = 0; at === 0 || at < part.length; at += rowBytes) {
      await nextTurn();
      if (!db.open) return;
      const synchronous = db.pragma("synchronous", { simple: true });
      db.pragma("synchronous = OFF");
      try {
        insert.run(row++, size, part.subarray(at, at + rowBytes));
      } finally {
        db.pragma(`synchronous = ${Number(synchronous)}`);
      }
    }
  }
  await nextTurn();
  if (!db.open) return;
  db.transaction(() => {
    const present = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trail_map_snapshot'")
      .get();
    if (present !== undefined) db.exec(`ALTER TABLE trail_map_snapshot RENAME TO ${RETIRED}`);
    db.exec(`ALTER TABLE ${STAGING} RENAME TO trail_map_snapshot`);
  })();
  await dropInSlices(db, RETIRED);
}

/** Drops `table` if present, its rows first, one per turn of the event loop. */
async function dropInSlices(db: Database.Database, table: string): Promise<void> {
  if (!db.open) return;
  const present = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
  if (present === undefined) return;
  const parts = (db.prepare(`SELECT part FROM ${table} ORDER BY part`).all() as Row[]).map((r) => r.part);
  const remove = db.prepare(`DELETE FROM ${table} WHERE part = ?`);
  for (const part of parts) {
    await nextTurn();
    if (!db.open) return;
    remove.run(part);
  }
  await nextTurn();
  if (!db.open) return;
  db.exec(`DROP TABLE IF EXISTS ${table}`);
}
