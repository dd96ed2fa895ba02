// A Custos log: the sequencer (write path), the tree reader (proofs) and checkpoint signing over one
// store. This is what the CLI, the service and the benchmarks hold.

import { formatCheckpoint } from "../core/checkpoint/index.js";
import { CustosError } from "../core/index.js";
import { signNote } from "../core/note/index.js";
import { formatTrailMapLine, type LeafCopy } from "../core/trail-map/index.js";
import {
  type AppendItem,
  type AppendOptions,
  type AppendResult,
  Sequencer,
  type SequencerState,
  type WriteFailure,
} from "./sequencer.js";
import { sortLeavesOffLoop } from "./snapshot-sort.js";
import type { LedgerStore, LogMeta, StoredCheckpoint, StoredEntry } from "./storage.js";
import { TrailHeads } from "./trail-heads.js";
import {
  followerTrailHeads,
  openTrailHeads,
  SNAPSHOT_MIN_ENTRIES,
  SNAPSHOT_PART_LEAVES,
  snapshotDue,
  type TrailMapOpening,
} from "./trail-map-snapshot.js";
import { TreeReader } from "./tree/index.js";

export interface LedgerOptions {
  /** The log's signer key (Go sumdb/note text form). Without it the ledger is read-only. */
  readonly signerKey?: string;
  readonly checkpointIntervalMs?: number;
  readonly maxBatchEntries?: number;
  readonly now?: () => number;
  /** Entries after the trail map snapshot before a new one is written (SNAPSHOT_MIN_ENTRIES). */
  readonly trailMapSnapshotEntries?: number;
  /** Leaves per stored part of the trail map snapshot (SNAPSHOT_PART_LEAVES; tests use a few). */
  readonly trailMapSnapshotPartLeaves?: number;
}

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;

/** A store failure as readiness says it: the kind only (a message may name a host or a path). */
function shortCause(cause: CustosError): string {
  const message = cause.message;
  if (/disk .*full|SQLITE_FULL|ENOSPC|No space/i.test(message)) return "disk full";
  if (/read-only|READONLY|EROFS/i.test(message)) return "read-only file system";
  if (/connection|session|lock/i.test(message)) return "database connection lost";
  return cause.code;
}
export const DEFAULT_MAX_BATCH_ENTRIES = 20_000;

export class Ledger {
  readonly store: LedgerStore;
  readonly meta: LogMeta;
  readonly reader: TreeReader;
  readonly #sequencer: Sequencer | undefined;
  readonly #trailHeads: TrailMapKeeper | undefined;

  private constructor(
    store: LedgerStore,
    meta: LogMeta,
    sequencer: Sequencer | undefined,
    trailHeads: TrailMapKeeper | undefined,
  ) {
    this.store = store;
    this.meta = meta;
    this.reader = new TreeReader(store);
    this.#sequencer = sequencer;
    this.#trailHeads = trailHeads;
  }

  /** How the sequencer's trail map was opened (snapshot or entries, and why a snapshot was not used). */
  get trailMapOpening(): TrailMapOpening | undefined {
    return this.#trailHeads?.opening;
  }

  /** Resolves once a trail map snapshot write under way (if any) has finished or failed. */
  async trailMapSnapshotWritten(): Promise<void> {
    await this.#trailHeads?.writing;
  }

  /** A read-only ledger's trail map, built from the store on first use and caught up as it grows. */
  #follower: Promise<TrailHeads> | undefined;
  /** One follower step at a time (a catch-up reads and commits entries in order). */
  #followerQueue: Promise<unknown> = Promise.resolve();

  /**
   * The trail map proof (docs/formats.md) for a patient tag against the map root of the checkpoint of
   * size `size`; undefined when this node no longer holds the map at that size (older than its undo
   * records, or lost with a rebuild after a failed write). A read-only ledger (a read replica, a
   * mirror) keeps its own map, rebuilt from the store's entries and caught up to each size asked.
   */
  async trailMapProof(patientTag: Uint8Array, size: number): Promise<Uint8Array | undefined> {
    if (this.#trailHeads !== undefined) {
      const proof = this.#trailHeads.current.prove(patientTag, size);
      // An older checkpoint than the sequencer's map keeps (e.g. the witnessed one after a restart,
      // before the witnesses cosign the new one): prove it from a map built up to that size.
      if (proof !== undefined || size > this.#trailHeads.current.size) return proof;
    }
    const step = this.#followerQueue.then(async () => {
      const heads = await this.#followerAt(size);
      if (size > heads.size) await heads.catchUp(this.store, size);
      return heads.prove(patientTag, size);
    });
    this.#followerQueue = step.catch(() => undefined);
    return step;
  }

  /** Starts building a read-only ledger's trail map now (a server does, so its first reply does not wait). */
  warmTrailMap(size: number): void {
    if (this.#trailHeads !== undefined) return;
    const step = this.#followerQueue.then(() => this.#followerAt(size));
    this.#followerQueue = step.catch(() => undefined);
  }

  #followerAt(size: number): Promise<TrailHeads> {
    if (this.#follower === undefined) {
      const building = followerTrailHeads(this.store, this.meta.verifierKey, size);
      this.#follower = building;
      // A failed build (store unreachable) is tried again on the next request.
      building.catch(() => {
        if (this.#follower === building) this.#follower = undefined;
      });
    }
    return this.#follower;
  }

  static async open(store: LedgerStore, options: LedgerOptions = {}): Promise<Ledger> {
    const meta = await store.getMeta();
    if (meta === undefined) throw new CustosError("STORE_NOT_FOUND", "the store holds no initialized log");
    let sequencer: Sequencer | undefined;
    let trailHeads: TrailMapKeeper | undefined;
    if (options.signerKey !== undefined) {
      const signerKey = options.signerKey;
      // The trail map follows every committed entry; each checkpoint commits to its root.
      const keeper = new TrailMapKeeper(
        store,
        meta.verifierKey,
        options.trailMapSnapshotEntries ?? SNAPSHOT_MIN_ENTRIES,
        options.trailMapSnapshotPartLeaves ?? SNAPSHOT_PART_LEAVES,
      );
      await keeper.open();
      trailHeads = keeper;
      sequencer = await Sequencer.start(store, {
        maxBatchEntries: options.maxBatchEntries ?? DEFAULT_MAX_BATCH_ENTRIES,
        checkpointIntervalMs: options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
        now: options.now ?? Date.now,
        signCheckpoint: (size, rootHash) => {
          const extensions = [formatTrailMapLine(keeper.commit())];
          return signNote(formatCheckpoint({ origin: meta.origin, size, rootHash, extensions }), signerKey);
        },
        onEntries: (entries, leaves) => keeper.current.observe(entries, leaves),
        onReload: () => keeper.open(),
      });
      // A node killed after acknowledging entries, before its next checkpoint, comes back with a store
      // ahead of its latest checkpoint. It signs one covering the whole store before anything is
      // served, so receipts and readiness never wait for new traffic that a not-ready node would not get.
      // (An empty store has nothing to cover: its creator signs the empty tree's checkpoint.)
      if ((sequencer.latestCheckpoint?.size ?? 0) < sequencer.size) {
        try {
          await sequencer.checkpoint();
        } catch (error) {
          await sequencer.close().catch(() => undefined);
          throw error;
        }
      }
    }
    return new Ledger(store, meta, sequencer, trailHeads);
  }

  get writable(): boolean {
    return this.#sequencer !== undefined;
  }

  /** The write path's state (undefined on a read-only ledger). */
  get writeState(): SequencerState | undefined {
    return this.#sequencer?.state;
  }

  /** Each failed write with its cause (for the node's log); nothing on a read-only ledger. */
  onWriteFailure(listener: (failure: WriteFailure) => void): void {
    this.#sequencer?.onWriteFailure(listener);
  }

  /** Once, when the store moved on without this sequencer: the log must be reopened to write again. */
  onSuperseded(listener: (reason: string) => void): void {
    this.#sequencer?.onSuperseded(listener);
  }

  /** "ok" when an append can be taken now, else a short reason (readiness; writes nothing). */
  async writeReadiness(): Promise<string> {
    const state = this.#sequencer?.state;
    if (state === undefined) return "read-only";
    if (state.state === "superseded") return "superseded: another node sequences the log";
    if (state.state === "retrying") return `failing writes: ${shortCause(state.cause)}`;
    return (await this.store.writeReadiness?.()) ?? "ok";
  }

  #writer(): Sequencer {
    if (this.#sequencer === undefined) {
      throw new CustosError("KEY_MISSING", "this log was opened without its signing key, so it is read-only");
    }
    return this.#sequencer;
  }

  /** Appends entries as one atomic group; resolves once they are durable and in the tree. */
  append(items: readonly AppendItem[], options?: AppendOptions): Promise<AppendResult[]> {
    return this.#writer().append(items, options);
  }

  async appendOne(item: AppendItem): Promise<AppendResult> {
    const [result] = await this.append([item]);
    return result!;
  }

  /** Signs (if anything is new) and returns the checkpoint covering every committed entry. */
  checkpoint(): Promise<StoredCheckpoint> {
    return this.#writer().checkpoint();
  }

  async size(): Promise<number> {
    return this.#sequencer?.size ?? this.store.getSize();
  }

  get queueDepth(): number {
    return this.#sequencer?.queueDepth ?? 0;
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.#sequencer?.latestCheckpoint ?? this.store.getLatestCheckpoint();
  }

  async getEntry(index: number): Promise<StoredEntry> {
    const [entry] = await this.store.getEntries(index, index + 1);
    if (entry === undefined) throw new CustosError("NOT_FOUND", `the log has no entry ${index}`);
    return entry;
  }

  /** The entries at these indexes, in the order asked, in one store read; NOT_FOUND if any is missing. */
  async getEntriesAt(indexes: readonly number[]): Promise<StoredEntry[]> {
    const entries = await this.store.getEntriesAt(indexes);
    if (entries.length !== indexes.length) {
      const found = new Set(entries.map((entry) => entry.index));
      const lacking = indexes.find((index) => !found.has(index));
      throw new CustosError("NOT_FOUND", `the log has no entry ${lacking}`);
    }
    return entries;
  }

  async #checkSize(size: number, what: string): Promise<void> {
    const current = await this.size();
    if (!Number.isSafeInteger(size) || size < 0 || size > current) {
      throw new CustosError("BAD_ARGUMENT", `${what} ${size} is not between 0 and the log size ${current}`);
    }
  }

  async rootAt(size: number): Promise<Uint8Array> {
    await this.#checkSize(size, "tree size");
    return this.reader.rootAt(size);
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    await this.#checkSize(size, "tree size");
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new CustosError("BAD_ARGUMENT", `index ${index} is not in a tree of size ${size}`);
    }
    return this.reader.inclusionProof(index, size);
  }

  /** Inclusion proofs of many entries against one tree size, with their tile reads shared. */
  async inclusionProofs(indexes: readonly number[], size: number): Promise<Uint8Array[][]> {
    await this.#checkSize(size, "tree size");
    for (const index of indexes) {
      if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
        throw new CustosError("BAD_ARGUMENT", `index ${index} is not in a tree of size ${size}`);
      }
    }
    return this.reader.inclusionProofs(indexes, size);
  }

  async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
    await this.#checkSize(size2, "tree size");
    if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
      throw new CustosError("BAD_ARGUMENT", `old size ${size1} is not between 0 and ${size2}`);
    }
    return this.reader.consistencyProof(size1, size2);
  }

  async close(): Promise<void> {
    await this.#sequencer?.close();
    await this.#trailHeads?.closing().catch(() => undefined);
    await this.store.close();
  }
}

/** Checkpoint sizes whose maps a writable ledger keeps provable after opening (trail-map-snapshot.ts). */
const KEEP_CHECKPOINT_SIZES = 64;

/**
 * The sequencer's trail map: opened from the snapshot (or the entries), committed at each checkpoint,
 * and written back as a new snapshot once enough entries came after the last one: after the
 * checkpoint that makes it due, and when the ledger closes. Off the event loop's hot path: at the
 * checkpoint only a copy of the leaves is taken (TrailMap.leafCopy, contiguous copies); a worker
 * thread puts it in key order and cuts it into parts (snapshot-sort.ts); the store writes the parts
 * without holding the loop for the whole map (SQLite: one part per turn into a staging table, swapped
 * in by one small transaction; PostgreSQL: one transaction on a pooled connection). A crash at any
 * point leaves the previous snapshot whole; the snapshot written is still checked at every load
 * against the root signed at its size. A failed write is left for the next one: the snapshot is a
 * cache, and an older one only means more entries to replay.
 */
class TrailMapKeeper {
  current = new TrailHeads();
  opening: TrailMapOpening = { source: "entries", snapshotSize: undefined };
  readonly #store: LedgerStore;
  readonly #verifierKey: string;
  readonly #minEntries: number;
  readonly #partLeaves: number;
  #writing: Promise<void> | undefined;

  constructor(store: LedgerStore, verifierKey: string, minEntries: number, partLeaves: number) {
    this.#store = store;
    this.#verifierKey = verifierKey;
    this.#minEntries = minEntries;
    this.#partLeaves = partLeaves;
  }

  async open(): Promise<void> {
    await this.#writing;
    const { heads, opening } = await openTrailHeads(this.#store, this.#verifierKey, KEEP_CHECKPOINT_SIZES);
    this.current = heads;
    this.opening = opening;
  }

  commit(): Uint8Array {
    const root = this.current.commit();
    if (this.#writing === undefined && this.#due()) {
      const size = this.current.size;
      const copy = this.current.map.leafCopy();
      this.#writing = this.#write(size, copy).finally(() => {
        this.#writing = undefined;
      });
    }
    return root;
  }

  /** A snapshot write under way, if any (tests wait for it). */
  get writing(): Promise<void> | undefined {
    return this.#writing;
  }

  /** Waits for a write under way and writes the map if a snapshot is due. */
  async closing(): Promise<void> {
    await this.#writing;
    if (this.#due()) await this.#write(this.current.size, this.current.map.leafCopy());
  }

  #due(): boolean {
    return (
      this.#store.putTrailMapSnapshot !== undefined &&
      snapshotDue(this.current.size, this.opening.snapshotSize, this.#minEntries)
    );
  }

  async #write(size: number, copy: LeafCopy): Promise<void> {
    try {
      const parts = await sortLeavesOffLoop(copy, this.#partLeaves);
      await this.#store.putTrailMapSnapshot!(size, parts);
      this.opening = { ...this.opening, snapshotSize: size };
    } catch {
      // Left for the next due point (see above).
    }
  }
}
