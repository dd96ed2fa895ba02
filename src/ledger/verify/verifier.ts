// `custos verify`: re-derives the whole tree from the stored entries and checks it against the
// stored tiles, the stored content and every signed checkpoint, reporting each discrepancy with the
// exact positions. Memory stays O(log n) plus one chunk of entries; the scan is streaming.

import {
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  decodeErasureEntry,
  ENTRY_KINDS,
} from "../../core/entry/index.js";
import { bytesEqual, CustosError, toHex } from "../../core/index.js";
import { leafHash } from "../../core/merkle/index.js";
import type { LedgerStore, Tile } from "../storage.js";
import { TILE_WIDTH } from "../storage.js";
import { TreeBuilder, TreeReader, tileWidth } from "../tree/index.js";
import { checkCheckpoints, type ValidCheckpoint } from "./checkpoint-check.js";
import {
  type ContentCheck,
  checkContents,
  checkTrailCopies,
  copiesOfErasedBefore,
  PATIENT_SUBJECT,
} from "./content-check.js";
import { erasedContentFindings } from "./erased-content.js";
import { type Finding, rangeText } from "./findings.js";
import { IndexChecker, type IndexedEntry } from "./index-check.js";
import { classifyMismatches, type Mismatch, TileCursor } from "./leaf-check.js";
import { checkMistyped, mistypedContent } from "./mistyped-check.js";
import { alteredLeafTiles, finishEdge } from "./tile-check.js";
import { TrailChecker } from "./trail-chain.js";
import { checkTrailMap } from "./trail-map-check.js";
import type { VerifyState } from "./verify-state.js";

export interface VerifyOptions {
  /** The log's verifier key to trust; by default the one recorded in the store (and in the state). */
  readonly verifierKey?: string;
  /** Last verified state: enables rollback detection, and incremental mode if `incremental`. */
  readonly state?: VerifyState;
  /** Check only what was appended since `state`. */
  readonly incremental?: boolean;
  readonly chunkSize?: number;
  /** Patients whose newest access record is kept in memory for the trail check (default 200,000). */
  readonly trailCacheSize?: number;
  readonly onProgress?: (checked: number, total: number) => void;
}

export interface VerifiedCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly origin: string;
  readonly incremental: boolean;
  /** First entry index checked (0, or the state's size in incremental mode). */
  readonly from: number;
  readonly entriesChecked: number;
  readonly recordedSize: number;
  readonly checkpointsChecked: number;
  readonly latestCheckpoint?: VerifiedCheckpoint;
  readonly findings: readonly Finding[];
  /** What this run could not check (and why), in sentences; empty when everything was checked. */
  readonly unchecked: readonly string[];
  /** When ok: the state to remember for the next (incremental) run. */
  readonly nextState?: VerifyState;
}

export async function verifyStore(store: LedgerStore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const meta = await store.getMeta();
  if (meta === undefined) throw new CustosError("STORE_NOT_FOUND", "the store holds no initialized log");
  const findings: Finding[] = [];
  const state = options.state;
  const verifierKey = options.verifierKey ?? state?.verifierKey ?? meta.verifierKey;
  if (state !== undefined && state.origin !== meta.origin) {
    throw new CustosError("CONFIG", `the verify state is for log "${state.origin}", not "${meta.origin}"`);
  }
  if (verifierKey !== meta.verifierKey) {
    findings.push({
      code: "CHECKPOINT_BAD_SIGNATURE",
      message:
        "the log key recorded in the store is not the trusted log key: the store's identity was replaced",
    });
  }

  // 1. Checkpoints: signatures, origin, order, forks, rollback against what we verified before.
  const checkpoints = await checkCheckpoints(store, meta.origin, verifierKey, state, findings);

  // 2. Entries, tree and content.
  const recordedSize = await safeSize(store, findings);
  const incremental = options.incremental === true && state !== undefined;
  const from = incremental ? state.size : 0;
  let builder = TreeBuilder.empty();
  if (incremental) {
    builder = TreeBuilder.resume(state.size, state.edgeTiles);
    if (!bytesEqual(builder.root(), state.rootHash)) {
      throw new CustosError(
        "CONFIG",
        "the verify state file is inconsistent; remove it to verify from scratch",
      );
    }
    const storedRoot = await new TreeReader(store).rootAt(state.size).catch(() => undefined);
    if (storedRoot === undefined || !bytesEqual(storedRoot, state.rootHash)) {
      findings.push({
        code: "HISTORY_REWRITTEN",
        message: `the stored tree no longer reproduces the root verified at size ${state.size}: entries before ${state.size} were changed since the last verification (run a full verify to locate them)`,
        checkpointSize: state.size,
      });
    }
  }

  const checkpointsBySize = new Map<number, ValidCheckpoint[]>();
  for (const cp of checkpoints) {
    const list = checkpointsBySize.get(cp.size) ?? [];
    list.push(cp);
    checkpointsBySize.set(cp.size, list);
  }
  const checkpointRoot = (size: number, root: Uint8Array): void => {
    for (const cp of checkpointsBySize.get(size) ?? []) {
      if (!bytesEqual(cp.rootHash, root)) {
        findings.push({
          code: "CHECKPOINT_MISMATCH",
          message: `the entries stored no longer match the checkpoint signed at size ${size}: the log's first ${size} entries were altered after they were signed`,
          checkpointSize: size,
          checkpointPosition: cp.position,
        });
      }
    }
  };
  if (from === 0) checkpointRoot(0, builder.root());

  const scan = await scanEntries(store, {
    from,
    builder,
    recordedSize,
    chunkSize: options.chunkSize ?? 8192,
    trailCacheSize: options.trailCacheSize,
    findings,
    onSize: checkpointRoot,
    onProgress: options.onProgress,
  });

  const mapUnchecked = await checkTrailMap(store, checkpoints, from, findings);

  // 3. Sizes: truncation below a signed size, entries beyond the recorded size.
  const maxSigned = checkpoints.reduce((max, cp) => Math.max(max, cp.size), state?.size ?? 0);
  if (scan.present < maxSigned) {
    findings.push({
      code: "LOG_TRUNCATED",
      message: `the log was truncated: it holds ${scan.present} entries but a checkpoint was signed for ${maxSigned}; entries ${scan.present} to ${maxSigned - 1} are gone`,
      firstIndex: scan.present,
      lastIndex: maxSigned - 1,
      checkpointSize: maxSigned,
    });
  }
  if (recordedSize !== undefined && scan.present < recordedSize && scan.present >= maxSigned) {
    findings.push({
      code: "ENTRIES_MISSING",
      message: `${rangeText(scan.present, recordedSize - 1)} (appended after the last checkpoint) ${recordedSize - scan.present === 1 ? "is" : "are"} missing from the store`,
      firstIndex: scan.present,
      lastIndex: recordedSize - 1,
    });
  } else if (recordedSize !== undefined && scan.present > recordedSize) {
    findings.push({
      code: "SIZE_MISMATCH",
      message: `the store records a size of ${recordedSize} but holds entries up to ${scan.present - 1}`,
    });
  }

  const latest = checkpoints.reduce<ValidCheckpoint | undefined>(
    (best, cp) => (best === undefined || cp.size >= best.size ? cp : best),
    undefined,
  );
  // Most specific first: what happened to which entries, then the tree, then checkpoints.
  findings.sort((a, b) => findingRank(a) - findingRank(b) || (a.firstIndex ?? 0) - (b.firstIndex ?? 0));
  const ok = findings.length === 0;
  let nextState: VerifyState | undefined;
  if (ok && latest !== undefined && latest.size <= builder.size) {
    // Remember the right edge at the latest checkpoint's size (rebuild it if the log grew past it).
    const edgeBuilder = latest.size === builder.size ? builder : await edgeAt(store, latest.size);
    nextState = {
      origin: meta.origin,
      verifierKey,
      size: latest.size,
      rootHash: latest.rootHash,
      edgeTiles: edgeBuilder.edgeTiles(),
      verifiedAt: Date.now(),
    };
  }
  return {
    ok,
    origin: meta.origin,
    incremental,
    from,
    entriesChecked: scan.checked,
    recordedSize: recordedSize ?? -1,
    checkpointsChecked: checkpoints.length,
    ...(latest
      ? { latestCheckpoint: { size: latest.size, rootHash: latest.rootHash, note: latest.note } }
      : {}),
    findings,
    unchecked: [...scan.unchecked, ...mapUnchecked],
    ...(nextState ? { nextState } : {}),
  };
}

const RANK: Partial<Record<Finding["code"], number>> = {
  ENTRY_MODIFIED: 0,
  ENTRIES_MISSING: 0,
  ENTRIES_INSERTED: 0,
  ENTRIES_REORDERED: 0,
  ENTRY_UNREADABLE: 0,
  EXTRA_ENTRIES: 0,
  CONTENT_MODIFIED: 0,
  CONTENT_MISSING: 0,
  LOG_TRUNCATED: 1,
  TREE_MODIFIED: 2,
  HISTORY_REWRITTEN: 2,
  // Often the consequence of an entry above (a modified record breaks its successor's link).
  TRAIL_BROKEN: 1,
  TRAIL_FORKED: 1,
};

function findingRank(finding: Finding): number {
  return RANK[finding.code] ?? 3;
}

async function safeSize(store: LedgerStore, findings: Finding[]): Promise<number | undefined> {
  try {
    return await store.getSize();
  } catch (error) {
    findings.push({
      code: "SIZE_MISMATCH",
      message: `the store's recorded size is unreadable: ${(error as Error).message}`,
    });
    return undefined;
  }
}

async function edgeAt(store: LedgerStore, size: number): Promise<TreeBuilder> {
  // The tiles at `size` have been verified by the scan; rebuild the edge from them.
  const builder = TreeBuilder.empty();
  for await (const chunk of store.scanEntries(0, size, 8192))
    for (const e of chunk) builder.append(leafHash(e.data));
  return builder;
}

interface ScanContext {
  readonly from: number;
  readonly builder: TreeBuilder;
  readonly recordedSize: number | undefined;
  readonly chunkSize: number;
  readonly trailCacheSize: number | undefined;
  readonly findings: Finding[];
  readonly onSize: (size: number, root: Uint8Array) => void;
  readonly onProgress: ((checked: number, total: number) => void) | undefined;
}

/** Streams entries and level-0 tiles side by side, rebuilding the tree and comparing as it goes. */
async function scanEntries(
  store: LedgerStore,
  ctx: ScanContext,
): Promise<{ checked: number; present: number; unchecked: string[] }> {
  const { builder, findings } = ctx;
  // `builder` rebuilds the upper tree from the stored leaf hashes, to check the stored tiles; a second
  // tree from the entries' own hashes forks off only where an entry no longer matches its leaf, and
  // is what the signed checkpoints are compared with.
  let dataBuilder: TreeBuilder | undefined;
  // Counting rows is a full table scan on PostgreSQL: only for progress reports.
  const total = ctx.onProgress ? Math.max(ctx.recordedSize ?? 0, await store.countEntries()) : 0;
  const storedLeaves = new TileCursor(store, 0, Math.floor(ctx.from / TILE_WIDTH));
  const upperTiles = new Map<number, TileCursor>();
  const checkpointSizes = new Set<number>();
  const mismatches: Mismatch[] = [];
  const missingContent: ContentCheck[] = [];
  const erased = new Set<string>();
  // Each erased content hash and the erasure entry naming it, to check the content is really gone.
  const erasedBy = new Map<string, number>();
  const copiesOfMissing: ContentCheck[] = [];
  // Patients whose content an erasure in the range names (subject patient-tag:<hex>), for the copies
  // of their older entries, which an incremental run does not scan.
  const erasedPatients = new Map<string, Set<string>>();
  const trails = new TrailChecker(store, {
    fullScan: ctx.from === 0,
    ...(ctx.trailCacheSize === undefined ? {} : { cacheSize: ctx.trailCacheSize }),
    findings,
  });
  const indexes = new IndexChecker(store, { from: ctx.from, findings });
  const mistypedContents = await checkMistyped(store, ctx.from, findings);
  let expected = ctx.from;
  let checked = 0;
  let lastPresent = ctx.from - 1;

  const compareTiles = async (tiles: Tile[]): Promise<void> => {
    for (const tile of tiles) {
      if (tile.level === 0) continue;
      let cursor = upperTiles.get(tile.level);
      if (cursor === undefined) {
        cursor = new TileCursor(store, tile.level, tile.index);
        upperTiles.set(tile.level, cursor);
      }
      const stored = await cursor.get(tile.index);
      if (stored === undefined || !bytesEqual(stored.hashes.subarray(0, tile.hashes.length), tile.hashes)) {
        const span = TILE_WIDTH ** tile.level;
        const first = tile.index * TILE_WIDTH * span;
        findings.push({
          code: "TREE_MODIFIED",
          message: `the stored Merkle tree above ${rangeText(first, first + tileWidth(tile) * span - 1)} was altered (tile ${tile.level}/${tile.index})`,
          firstIndex: first,
          lastIndex: first + tileWidth(tile) * span - 1,
          tile: { level: tile.level, index: tile.index },
        });
      }
    }
  };

  const sizesWanted = await collectCheckpointSizes(store);
  for (const size of sizesWanted) if (size > ctx.from) checkpointSizes.add(size);

  for await (const chunk of store.scanEntries(ctx.from, Number.MAX_SAFE_INTEGER, ctx.chunkSize)) {
    await storedLeaves.load(Math.floor(chunk[chunk.length - 1]!.index / TILE_WIDTH));
    const hashed = chunk.map((stored) => ({ index: stored.index, dataHash: leafHash(stored.data) }));
    // Leaves of a level-0 tile that was altered while its entries were not: the entries' own hashes.
    const trusted = await alteredLeafTiles(store, hashed, storedLeaves, findings);
    const filed: IndexedEntry[] = [];
    // Content is read for the whole chunk at once: one round trip, not one per entry.
    const contentChecks: ContentCheck[] = [];
    // Entries that no longer match their leaf: their copies are not blamed for it.
    const unmatched = new Set<number>();
    for (const [position, stored] of chunk.entries()) {
      if (stored.index > expected) {
        // A gap: rows deleted. Keep the tree comparable by using the stored leaf hashes for them.
        findings.push({
          code: "ENTRIES_MISSING",
          message: `${rangeText(expected, stored.index - 1)} ${stored.index - expected === 1 ? "is" : "are"} missing from the store`,
          firstIndex: expected,
          lastIndex: stored.index - 1,
        });
        for (let i = expected; i < stored.index; i++) {
          await storedLeaves.load(Math.floor(i / TILE_WIDTH));
          const leaf = storedLeaves.leaf(i) ?? new Uint8Array(32);
          builder.append(leaf);
          dataBuilder?.append(leaf);
          const signedTree = dataBuilder ?? builder;
          if (checkpointSizes.has(signedTree.size)) ctx.onSize(signedTree.size, signedTree.root());
        }
        expected = stored.index;
      }
      const dataHash = hashed[position]!.dataHash;
      const storedLeaf = trusted.has(stored.index) ? dataHash : storedLeaves.leaf(stored.index);
      if (storedLeaf === undefined) {
        if (ctx.recordedSize !== undefined && stored.index >= ctx.recordedSize) {
          findings.push({
            code: "EXTRA_ENTRIES",
            message: `entry ${stored.index} lies beyond the log's end (${ctx.recordedSize}) and is in no tree: it was inserted into the store`,
            firstIndex: stored.index,
            lastIndex: stored.index,
          });
          expected = stored.index + 1;
          continue;
        }
        mismatches.push({ index: stored.index, dataHash });
        unmatched.add(stored.index);
      } else if (!bytesEqual(dataHash, storedLeaf)) {
        mismatches.push({ index: stored.index, dataHash });
        unmatched.add(stored.index);
      }
      try {
        // Plain data entries (the bulk of a raw log) carry no content; skip the full parse for them.
        const decoded = stored.data[1] === ENTRY_KINDS.data ? undefined : decodeEntry(stored.data);
        const contentHash = decoded === undefined ? undefined : contentHashOf(decoded);
        if (contentHash !== undefined) contentChecks.push({ index: stored.index, hash: contentHash });
        if (contentHash !== undefined && mistypedContents.has(toHex(contentHash)))
          findings.push(mistypedContent(stored.index));
        if (!unmatched.has(stored.index)) filed.push({ index: stored.index, data: stored.data, decoded });
        if (decoded?.kind === ENTRY_KINDS.accessRecord) {
          trails.observe(stored.index, dataHash, accessRecordFromEntry(decoded).header);
        }
        if (decoded?.kind === ENTRY_KINDS.erasure) {
          const erasure = decodeErasureEntry(stored.data);
          for (const hash of erasure.contentHashes) {
            erased.add(toHex(hash));
            erasedBy.set(toHex(hash), stored.index);
          }
          const patient = PATIENT_SUBJECT.exec(erasure.subject)?.[1];
          if (patient !== undefined && ctx.from > 0) {
            const hashes = erasedPatients.get(patient) ?? new Set<string>();
            for (const hash of erasure.contentHashes) hashes.add(toHex(hash));
            erasedPatients.set(patient, hashes);
          }
        }
      } catch (error) {
        if (!(error instanceof CustosError)) throw error;
        findings.push({
          code: "ENTRY_UNREADABLE",
          message: `entry ${stored.index} is not a valid Custos entry (${error.message})`,
          firstIndex: stored.index,
          lastIndex: stored.index,
        });
      }
      if (storedLeaf !== undefined && !bytesEqual(dataHash, storedLeaf)) dataBuilder ??= builder.clone();
      builder.append(storedLeaf ?? dataHash);
      dataBuilder?.append(dataHash);
      const signedTree = dataBuilder ?? builder;
      if (checkpointSizes.has(signedTree.size)) ctx.onSize(signedTree.size, signedTree.root());
      expected = stored.index + 1;
      lastPresent = stored.index;
      checked++;
    }
    const contents = await checkContents(store, contentChecks, missingContent, findings);
    const copied = await checkTrailCopies(store, { chunk, unmatched, contents }, copiesOfMissing, findings);
    await indexes.checkChunk({ entries: filed, end: chunk[chunk.length - 1]!.index + 1, copied, contents });
    await trails.flush();
    await compareTiles(builder.takeChangedTiles());
    ctx.onProgress?.(checked, total);
  }
  await trails.finish(expected - 1);
  await indexes.finish();
  await compareTiles(builder.edgeTiles());
  classifyMismatches(mismatches, await storedLeaves.leavesAround(mismatches), findings);
  finishEdge(findings, sizesWanted, lastPresent + 1);
  copiesOfMissing.push(...(await copiesOfErasedBefore(store, ctx.from, erasedPatients)));
  for (const kept of copiesOfMissing) {
    if (!erased.has(toHex(kept.hash))) continue;
    findings.push({
      code: "ERASED_CONTENT_KEPT",
      message: `the encrypted content of entry ${kept.index} was erased under a signed erasure entry but a copy of it is still stored in its trail index`,
      firstIndex: kept.index,
      lastIndex: kept.index,
    });
  }
  // The files themselves only in a full run: an incremental one must stay cheap.
  findings.push(...(await erasedContentFindings(store, erasedBy, { files: ctx.from === 0 })));
  for (const missing of missingContent) {
    if (erased.has(toHex(missing.hash))) continue;
    findings.push({
      code: "CONTENT_MISSING",
      message: `the encrypted content of entry ${missing.index} is missing and no signed erasure entry covers it`,
      firstIndex: missing.index,
      lastIndex: missing.index,
    });
  }
  return { checked, present: lastPresent + 1, unchecked: indexes.unchecked() };
}

async function collectCheckpointSizes(store: LedgerStore): Promise<number[]> {
  return (await store.listCheckpoints()).map((cp) => cp.size);
}
