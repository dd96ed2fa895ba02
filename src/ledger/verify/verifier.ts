// `custos verify`: re-derives the whole tree from the stored entries and checks it against the
// stored tiles, the stored content and every signed checkpoint, reporting each discrepancy with the
// exact positions. Memory stays O(log n) plus one chunk of entries; the scan is streaming.

import { bytesEqual, fromHex, toHex } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint/index.js";
import {
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  decodeErasureEntry,
  ENTRY_KINDS,
} from "../../core/entry/index.js";
import { CustosError } from "../../core/errors.js";
import { leafHash } from "../../core/merkle/index.js";
import { openNote } from "../../core/note/index.js";
import { sha256 } from "../../core/platform.js";
import type { LedgerStore, StoredEntry, Tile } from "../storage.js";
import { TILE_WIDTH } from "../storage.js";
import { hashAt, TreeBuilder, TreeReader, tileWidth } from "../tree/index.js";
import { erasedContentFindings } from "./erased-content.js";
import { type Finding, rangeText } from "./findings.js";
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
  /** When ok: the state to remember for the next (incremental) run. */
  readonly nextState?: VerifyState;
}

interface ValidCheckpoint {
  readonly position: number;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
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

  await checkTrailMap(store, checkpoints, from, findings);

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

async function checkCheckpoints(
  store: LedgerStore,
  origin: string,
  verifierKey: string,
  state: VerifyState | undefined,
  findings: Finding[],
): Promise<ValidCheckpoint[]> {
  const stored = await store.listCheckpoints();
  const valid: ValidCheckpoint[] = [];
  let largestSoFar = -1;
  stored.forEach((cp, position) => {
    let text: string;
    try {
      text = openNote(cp.note, [verifierKey]).text;
    } catch (error) {
      findings.push({
        code: "CHECKPOINT_BAD_SIGNATURE",
        message: `checkpoint ${position + 1} of ${stored.length} (claiming size ${cp.size}) does not carry a valid signature of the log: it was forged or altered (${(error as Error).message})`,
        checkpointSize: cp.size,
        checkpointPosition: position,
      });
      return;
    }
    let parsed: ReturnType<typeof parseCheckpoint>;
    try {
      parsed = parseCheckpoint(text);
    } catch (error) {
      findings.push({
        code: "CHECKPOINT_MALFORMED",
        message: `checkpoint ${position + 1} of ${stored.length} is signed but malformed: ${(error as Error).message}`,
        checkpointPosition: position,
      });
      return;
    }
    if (parsed.origin !== origin || parsed.size !== cp.size) {
      findings.push({
        code: "CHECKPOINT_MALFORMED",
        message: `checkpoint ${position + 1} of ${stored.length} is filed under size ${cp.size} but is for "${parsed.origin}" at size ${parsed.size}`,
        checkpointPosition: position,
      });
      return;
    }
    if (parsed.size < largestSoFar) {
      findings.push({
        code: "CHECKPOINT_ROLLED_BACK",
        message: `checkpoint ${position + 1} of ${stored.length} rolls the log back to size ${parsed.size} after a checkpoint for size ${largestSoFar} was stored`,
        checkpointSize: parsed.size,
        checkpointPosition: position,
      });
    }
    largestSoFar = Math.max(largestSoFar, parsed.size);
    for (const other of valid) {
      if (other.size === parsed.size && !bytesEqual(other.rootHash, parsed.rootHash)) {
        findings.push({
          code: "CHECKPOINT_FORK",
          message: `two checkpoints signed by the log for size ${parsed.size} have different roots: the log key signed two different histories`,
          checkpointSize: parsed.size,
          checkpointPosition: position,
        });
      }
    }
    valid.push({ position, size: parsed.size, rootHash: parsed.rootHash, note: cp.note });
  });
  if (state !== undefined) {
    const latestSize = valid.reduce((max, cp) => Math.max(max, cp.size), -1);
    if (latestSize < state.size) {
      findings.push({
        code: "CHECKPOINT_ROLLED_BACK",
        message: `the newest checkpoint in the store is for size ${Math.max(latestSize, 0)}, but size ${state.size} was verified on ${new Date(state.verifiedAt).toISOString()}: checkpoints were removed or rolled back`,
        checkpointSize: state.size,
      });
    }
    for (const cp of valid) {
      if (cp.size === state.size && !bytesEqual(cp.rootHash, state.rootHash)) {
        findings.push({
          code: "CHECKPOINT_FORK",
          message: `a checkpoint for size ${cp.size} has a different root than the one verified before: the log's history was replaced`,
          checkpointSize: cp.size,
          checkpointPosition: cp.position,
        });
      }
    }
  }
  return valid;
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

interface Mismatch {
  readonly index: number;
  readonly dataHash: Uint8Array;
}

/** Streams entries and level-0 tiles side by side, rebuilding the tree and comparing as it goes. */
async function scanEntries(
  store: LedgerStore,
  ctx: ScanContext,
): Promise<{ checked: number; present: number }> {
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
        });
      }
    }
  };

  const sizesWanted = await collectCheckpointSizes(store);
  for (const size of sizesWanted) if (size > ctx.from) checkpointSizes.add(size);

  for await (const chunk of store.scanEntries(ctx.from, Number.MAX_SAFE_INTEGER, ctx.chunkSize)) {
    await storedLeaves.load(Math.floor(chunk[chunk.length - 1]!.index / TILE_WIDTH));
    // Content is read for the whole chunk at once: one round trip, not one per entry.
    const contentChecks: ContentCheck[] = [];
    // Entries that no longer match their leaf: their copies are not blamed for it.
    const unmatched = new Set<number>();
    for (const stored of chunk) {
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
      const dataHash = leafHash(stored.data);
      const storedLeaf = storedLeaves.leaf(stored.index);
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
    await checkTrailCopies(store, { chunk, unmatched, contents }, copiesOfMissing, findings);
    await trails.flush();
    await compareTiles(builder.takeChangedTiles());
    ctx.onProgress?.(checked, total);
  }
  await trails.finish(expected - 1);
  await compareTiles(builder.edgeTiles());
  classifyMismatches(mismatches, await storedLeaves.leavesAround(mismatches), findings);
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
  return { checked, present: lastPresent + 1 };
}

async function collectCheckpointSizes(store: LedgerStore): Promise<number[]> {
  return (await store.listCheckpoints()).map((cp) => cp.size);
}

interface ContentCheck {
  readonly index: number;
  readonly hash: Uint8Array;
}

/** Content hashes per store read: a bounded reply each (the PostgreSQL store splits likewise). */
const CONTENTS_PER_READ = 4096;

/** What a chunk's content check found for an entry naming content. */
interface ContentFound {
  readonly hash: Uint8Array;
  /** The stored content, when it is there and matches the hash. */
  readonly intact: Uint8Array | undefined;
}

/**
 * Checks the content of a chunk's entries, in index order, reading it in a few batched calls.
 * Returns what was found, by entry index.
 */
async function checkContents(
  store: LedgerStore,
  checks: readonly ContentCheck[],
  missing: ContentCheck[],
  findings: Finding[],
): Promise<Map<number, ContentFound>> {
  const found = new Map<number, ContentFound>();
  for (let start = 0; start < checks.length; start += CONTENTS_PER_READ) {
    const slice = checks.slice(start, start + CONTENTS_PER_READ);
    const contents = await store.getContents(slice.map((check) => check.hash));
    slice.forEach(({ index, hash }, i) => {
      const content = contents[i];
      let intact: Uint8Array | undefined;
      if (content === undefined) {
        missing.push({ index, hash });
      } else if (!bytesEqual(sha256(content), hash)) {
        findings.push({
          code: "CONTENT_MODIFIED",
          message: `the encrypted content of entry ${index} was altered: it no longer matches the hash the entry commits to`,
          firstIndex: index,
          lastIndex: index,
        });
      } else {
        intact = content;
      }
      found.set(index, { hash, intact });
    });
  }
  return found;
}

/**
 * Checks the trail copies of a chunk's entries (kept in the lookup rows, which history queries read):
 * a copy's entry must be the log's entry, its content (if any) the content the entry commits to, and
 * intact content in the log must be in the copy too, or a reader would be shown a record that is not
 * the log's or told its content was erased. Copies of content the log no longer holds are collected,
 * so that copies of erased content can be named once every erasure entry has been seen.
 */
async function checkTrailCopies(
  store: LedgerStore,
  checked: {
    readonly chunk: readonly StoredEntry[];
    /** Entries that do not match their leaf (named ENTRY_MODIFIED or the like; their copies are not). */
    readonly unmatched: ReadonlySet<number>;
    readonly contents: ReadonlyMap<number, ContentFound>;
  },
  copiesOfMissing: ContentCheck[],
  findings: Finding[],
): Promise<void> {
  const { chunk, unmatched, contents } = checked;
  if (chunk.length === 0) return;
  const entries = new Map(chunk.map((stored) => [stored.index, stored.data]));
  const copies = await store.lookupCopiesInRange(chunk[0]!.index, chunk[chunk.length - 1]!.index + 1);
  const altered = new Set<number>();
  for (const copy of copies) {
    const entry = entries.get(copy.index);
    // A copy of an entry missing from the store, or of one edited in place: ENTRIES_MISSING or
    // ENTRY_MODIFIED already names it (the copy may well be the faithful one).
    if (entry === undefined || unmatched.has(copy.index)) continue;
    let faithful = bytesEqual(copy.entry, entry);
    const named = contents.get(copy.index);
    if (faithful && named === undefined && copy.content !== undefined) {
      // An entry that names no content: a copied content can only be one whose hash its last 32 bytes
      // happen to be.
      faithful = bytesEqual(sha256(copy.content), copy.entry.subarray(copy.entry.length - 32));
    } else if (faithful && named !== undefined) {
      if (copy.content === undefined) {
        faithful = named.intact === undefined;
      } else if (named.intact !== undefined) {
        faithful = bytesEqual(copy.content, named.intact);
      } else {
        faithful = bytesEqual(sha256(copy.content), named.hash);
        // One finding per entry, however many keys it is filed under.
        if (faithful && copiesOfMissing[copiesOfMissing.length - 1]?.index !== copy.index) {
          copiesOfMissing.push({ index: copy.index, hash: named.hash });
        }
      }
    }
    if (!faithful) altered.add(copy.index);
  }
  for (const index of altered) {
    findings.push({
      code: "TRAIL_COPY_MODIFIED",
      message: `the copy of entry ${index} kept in its trail index (what history queries read) differs from the log's entry or content: it was altered`,
      firstIndex: index,
      lastIndex: index,
    });
  }
}

/** The subject of an erasure made by `custos erase`: the patient's tag. */
const PATIENT_SUBJECT = /^patient-tag:([0-9a-f]{64})$/;

/**
 * In an incremental run, the copies of entries before `from` that still hold content an erasure in
 * the range names: found through the patient's tag (each entry's copies under every key it is filed
 * under), a read per entry, so the cost follows the erased patients, not the log.
 */
async function copiesOfErasedBefore(
  store: LedgerStore,
  from: number,
  erasedPatients: ReadonlyMap<string, ReadonlySet<string>>,
): Promise<ContentCheck[]> {
  const kept: ContentCheck[] = [];
  for (const [patient, hashes] of erasedPatients) {
    let toIndex = from;
    for (;;) {
      const indexes = await store.findByLookupKey({
        key: fromHex(patient),
        toIndex,
        descending: true,
        limit: ERASED_SCAN_CHUNK,
      });
      for (const index of indexes) {
        for (const copy of await store.lookupCopiesInRange(index, index + 1)) {
          if (copy.content === undefined) continue;
          const hash = copy.entry.subarray(copy.entry.length - 32);
          if (hashes.has(toHex(hash)) && bytesEqual(sha256(copy.content), hash)) {
            kept.push({ index, hash });
            break;
          }
        }
      }
      if (indexes.length < ERASED_SCAN_CHUNK) break;
      toIndex = indexes[indexes.length - 1]!;
    }
  }
  return kept.sort((a, b) => a.index - b.index);
}

const ERASED_SCAN_CHUNK = 4096;

/**
 * Names what happened to entries whose data no longer hashes to the stored leaf: content that
 * belongs at another position means rows were shifted (inserted or removed with renumbering) or
 * swapped; content found nowhere means the entry was edited.
 */
function classifyMismatches(
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
class TileCursor {
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
