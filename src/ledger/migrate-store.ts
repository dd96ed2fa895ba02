// Moves a log from one store to another (SQLite -> PostgreSQL, or back) and proves that nothing
// changed: the tree is rebuilt from the copied entries, its root must equal the root of the latest
// signed checkpoint, and the copy must verify clean. The source is only read.

import { parseCheckpoint } from "../core/checkpoint/index.js";
import { contentHashOf, decodeEntry } from "../core/entry/index.js";
import { bytesEqual, CustosError, toBase64 } from "../core/index.js";
import { leafHash } from "../core/merkle/index.js";
import { openNote } from "../core/note/index.js";
import type { ContentBlob, LedgerStore, StoredCheckpoint } from "./storage.js";
import { TreeBuilder } from "./tree/index.js";
import { verifyStore } from "./verify/verifier.js";

export interface MigrationReport {
  readonly entries: number;
  readonly checkpoints: number;
  readonly contents: number;
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** The latest signed checkpoint's size, whose root the copy reproduces. */
  readonly checkpointSize: number;
}

export async function migrateStore(
  source: LedgerStore,
  target: LedgerStore,
  onProgress?: (copied: number, total: number) => void,
): Promise<MigrationReport> {
  const meta = await source.getMeta();
  if (meta === undefined) throw new CustosError("STORE_NOT_FOUND", "the source holds no log");
  if ((await target.getMeta()) !== undefined) {
    throw new CustosError("STORE_EXISTS", "the target already holds a log; migrate into an empty store");
  }
  const before = await verifyStore(source);
  if (!before.ok) {
    throw new CustosError(
      "TAMPERED_ENTRY",
      `the source does not verify (${before.findings[0]?.message ?? "tampering found"}); fix or restore it before moving it`,
    );
  }
  const { size, checkpoints, contents } = await copyStore(source, target, onProgress);
  const latest = checkpoints.reduce((best, cp) => (cp.size > best.size ? cp : best), checkpoints[0]!);

  const signedRoot = parseCheckpoint(openNote(latest.note, [meta.verifierKey]).text).rootHash;
  const copied = await verifyStore(target);
  if (
    !copied.ok ||
    copied.latestCheckpoint === undefined ||
    !bytesEqual(copied.latestCheckpoint.rootHash, signedRoot)
  ) {
    throw new CustosError(
      "STORE_CORRUPT",
      "the copy does not reproduce the signed root; the target is left for inspection",
    );
  }
  return {
    entries: size,
    checkpoints: checkpoints.length,
    contents,
    size,
    rootHash: signedRoot,
    checkpointSize: latest.size,
  };
}

/**
 * The copy itself, without the verification before and after that migrateStore adds: every entry,
 * the tree rebuilt from them, the contents held, the idempotency and lookup keys and the checkpoints,
 * into an empty target. For tools that verify separately (the scale benchmark).
 */
export async function copyStore(
  source: LedgerStore,
  target: LedgerStore,
  onProgress?: (copied: number, total: number) => void,
): Promise<{ size: number; checkpoints: StoredCheckpoint[]; contents: number }> {
  const meta = await source.getMeta();
  if (meta === undefined) throw new CustosError("STORE_NOT_FOUND", "the source holds no log");
  const size = await source.getSize();
  const checkpoints = await source.listCheckpoints();
  await target.initialize(meta);

  const builder = TreeBuilder.empty();
  let contents = 0;
  const chunk = 10_000;
  for (let start = 0; start < size; start += chunk) {
    const end = Math.min(size, start + chunk);
    const entries = await source.getEntries(start, end);
    if (entries.length !== end - start)
      throw new CustosError("STORE_CORRUPT", `entries ${start} to ${end - 1} are incomplete`);
    const hashes: Uint8Array[] = [];
    for (const entry of entries) {
      builder.append(leafHash(entry.data));
      const hash = contentHashOf(decodeEntry(entry.data));
      if (hash !== undefined) hashes.push(hash);
    }
    // One batched read of the chunk's contents (not a round trip per entry).
    const found = await source.getContents(hashes);
    const blobs: ContentBlob[] = [];
    hashes.forEach((hash, i) => {
      const data = found[i];
      if (data !== undefined) blobs.push({ hash, data });
    });
    contents += blobs.length;
    await target.appendBatch({
      startIndex: start,
      entries: entries.map((e) => e.data),
      tiles: builder.takeChangedTiles(),
      contents: blobs,
      idempotencyKeys: await source.keysInRange("idempotency", start, end),
      lookupKeys: await source.keysInRange("lookup", start, end),
    });
    onProgress?.(end, size);
  }
  for (const checkpoint of checkpoints) await target.putCheckpoint(checkpoint);
  // A bulk load leaves PostgreSQL without statistics or a visibility map until (auto)vacuum runs.
  await target.afterBulkLoad?.();
  return { size, checkpoints, contents };
}

export function describeMigration(report: MigrationReport): string {
  return `moved ${report.entries} entries, ${report.contents} content items and ${report.checkpoints} checkpoints; the copy reproduces the signed root at size ${report.checkpointSize}: ${toBase64(report.rootHash)}`;
}
