// The write path: add -> sequence -> integrate -> commit -> (checkpoint). Appends that arrive while a
// batch is being written wait and go together into the next one (group commit). An append resolves
// only after its batch's transaction, which holds the entries, the tree tiles and any checkpoint, is
// durable. A group of entries submitted together is never split across transactions.
//
// A failed write (a full or read-only disk, a lost database session) never spins: the sequencer
// rolls its tree back to the last committed state, refuses appends with STORE_BUSY (and when to retry)
// for a backoff that doubles up to a cap, then checks the store again (re-taking a lost PostgreSQL
// lock). If the store holds other than what this node committed (another node sequenced meanwhile, or
// a commit whose answer was lost), it never writes again: the node must reopen the log (`superseded`).

import { CustosError, sha256, toHex } from "../core/index.js";
import { leafHash } from "../core/merkle/index.js";
import { type AppendItem, type AppendOptions, type AppendResult, validateAppendItem } from "./append-item.js";
import type { ContentBlob, LedgerStore, StoredCheckpoint, Tile } from "./storage.js";
import { TreeBuilder } from "./tree/index.js";

export type { AppendItem, AppendOptions, AppendResult } from "./append-item.js";

interface PendingGroup {
  readonly items: readonly AppendItem[];
  readonly options: AppendOptions;
  readonly resolve: (results: AppendResult[]) => void;
  readonly reject: (error: unknown) => void;
}

function failGroup(group: PendingGroup, error: unknown): void {
  group.options.onFailure?.();
  group.reject(error);
}

export interface SequencerOptions {
  /** Most entries written in one transaction. */
  readonly maxBatchEntries: number;
  /** Called inside the write path when a checkpoint is due; returns the signed note for the root. */
  readonly signCheckpoint: (size: number, root: Uint8Array) => string;
  readonly checkpointIntervalMs: number;
  readonly now: () => number;
  /**
   * Told of each batch's new entries and their leaf hashes, in log order, before the batch's
   * checkpoint (if any) is signed: state derived from the entries (the trail map) follows the log.
   */
  readonly onEntries?: (entries: readonly Uint8Array[], leaves: readonly Uint8Array[]) => void;
  /**
   * After a failed write, once the store is found to hold what this node committed and before writing
   * resumes: state derived from the entries must be reloaded from the store (it may be ahead).
   */
  readonly onReload?: () => Promise<void>;
  /** First pause after a failed write (ms, default 250); it doubles on each failure up to retryMaxMs. */
  readonly retryBaseMs?: number;
  /** Longest pause between attempts after failed writes (ms, default 5 s). */
  readonly retryMaxMs?: number;
}

/** What the write path is doing: writing, pausing after a failed write, or never writing again. */
export type SequencerState =
  | { readonly state: "writing" }
  | { readonly state: "retrying"; readonly cause: CustosError; readonly retryAt: number }
  | { readonly state: "superseded"; readonly reason: string };

/** A failed write, reported once per failure to whoever watches the node (its log). */
export interface WriteFailure {
  readonly cause: CustosError;
  readonly retryInMs: number;
}

const DEFAULT_RETRY_BASE_MS = 250;
const DEFAULT_RETRY_MAX_MS = 5_000;

export class Sequencer {
  readonly #store: LedgerStore;
  readonly #options: SequencerOptions;
  #builder: TreeBuilder;
  #pending: PendingGroup[] = [];
  #pendingEntries = 0;
  #running: Promise<void> | undefined;
  #checkpointWanted: { resolve: (c: StoredCheckpoint) => void; reject: (e: unknown) => void }[] = [];
  #lastCheckpoint: StoredCheckpoint | undefined;
  #lastCheckpointAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #state: SequencerState = { state: "writing" };
  #retryDelayMs = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #failureListeners: ((failure: WriteFailure) => void)[] = [];
  readonly #supersededListeners: ((reason: string) => void)[] = [];

  private constructor(
    store: LedgerStore,
    builder: TreeBuilder,
    last: StoredCheckpoint | undefined,
    options: SequencerOptions,
  ) {
    this.#store = store;
    this.#builder = builder;
    this.#lastCheckpoint = last;
    this.#lastCheckpointAt = last?.storedAt ?? 0;
    this.#options = options;
  }

  static async start(store: LedgerStore, options: SequencerOptions): Promise<Sequencer> {
    const builder = await resumeTree(store);
    return new Sequencer(store, builder, await store.getLatestCheckpoint(), options);
  }

  get size(): number {
    return this.#builder.size;
  }

  get queueDepth(): number {
    return this.#pendingEntries;
  }

  get latestCheckpoint(): StoredCheckpoint | undefined {
    return this.#lastCheckpoint;
  }

  get state(): SequencerState {
    return this.#state;
  }

  /** Called on every failed write, with its cause and the pause before the next attempt. */
  onWriteFailure(listener: (failure: WriteFailure) => void): void {
    this.#failureListeners.push(listener);
  }

  /** Called once when this sequencer stops for good because the store moved on without it. */
  onSuperseded(listener: (reason: string) => void): void {
    if (this.#state.state === "superseded") listener(this.#state.reason);
    else this.#supersededListeners.push(listener);
  }

  /** Why an append or checkpoint cannot be taken now (STORE_BUSY with when to retry), if it cannot. */
  #refusal(): CustosError | undefined {
    if (this.#closed) return new CustosError("STORE_BUSY", "the log is closed");
    const state = this.#state;
    if (state.state === "superseded") return new CustosError("STORE_BUSY", state.reason);
    if (state.state === "retrying") {
      const seconds = Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000));
      return new CustosError(
        "STORE_BUSY",
        `${state.cause.message} (appends pause after a failed write; retry in ${seconds} s)`,
        { cause: state.cause, retryAfterSeconds: seconds },
      );
    }
    return undefined;
  }

  append(items: readonly AppendItem[], options: AppendOptions = {}): Promise<AppendResult[]> {
    const refused = this.#refusal();
    if (refused) {
      options.onFailure?.();
      return Promise.reject(refused);
    }
    try {
      for (const item of items) validateAppendItem(item);
    } catch (error) {
      options.onFailure?.();
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ items, options, resolve, reject });
      this.#pendingEntries += items.length;
      this.#kick();
    });
  }

  /** Signs a checkpoint for everything committed so far (or returns the latest if nothing is new). */
  checkpoint(): Promise<StoredCheckpoint> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.#checkpointWanted.push({ resolve, reject });
      this.#kick();
    });
  }

  /** Waits for queued appends, writes a final checkpoint if one is due, and stops the timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.checkpoint().catch(() => undefined);
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#running;
  }

  #kick(): void {
    if (this.#running !== undefined) return;
    this.#running = this.#drain()
      .catch((error: unknown) => this.#failed(error))
      .finally(() => {
        this.#running = undefined;
        if (this.#state.state !== "writing") this.#failQueued();
        else if (this.#pending.length > 0 || this.#checkpointWanted.length > 0) this.#kick();
        else this.#scheduleCheckpoint();
      });
  }

  /** Refuses everything queued (the write path is pausing or has stopped). */
  #failQueued(): void {
    const refused = this.#refusal() ?? new CustosError("STORE_BUSY", "the log's store is unavailable");
    const groups = this.#pending;
    const waiters = this.#checkpointWanted;
    this.#pending = [];
    this.#pendingEntries = 0;
    this.#checkpointWanted = [];
    for (const group of groups) failGroup(group, refused);
    for (const waiter of waiters) waiter.reject(refused);
  }

  /** After a failed write: report it, and pause before checking the store again (doubling pauses). */
  #failed(error: unknown): void {
    const cause =
      error instanceof CustosError
        ? error
        : new CustosError("STORE_BUSY", `the store failed a write: ${errorText(error)}`, { cause: error });
    if (this.#state.state === "superseded") return;
    const base = this.#options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    const max = this.#options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
    this.#retryDelayMs = Math.min(max, this.#retryDelayMs === 0 ? base : this.#retryDelayMs * 2);
    this.#state = { state: "retrying", cause, retryAt: Date.now() + this.#retryDelayMs };
    for (const listener of this.#failureListeners) listener({ cause, retryInMs: this.#retryDelayMs });
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#recover();
    }, this.#retryDelayMs);
    this.#retryTimer.unref?.();
  }

  /**
   * Checks the store after a pause: re-takes a lost writer lock, and compares the store's size with
   * what this sequencer committed. Equal: write again. Different, or another node holds the lock: the
   * store moved on (another sequencer, or a commit whose answer was lost), so this one stops for good.
   */
  async #recover(): Promise<void> {
    if (this.#closed || this.#state.state !== "retrying") return;
    try {
      const writer = (await this.#store.regainWriter?.()) ?? "held";
      if (writer === "taken") {
        this.#supersede("another node now sequences this log; this node stopped appending");
        return;
      }
      const stored = await this.#store.getSize();
      if (stored !== this.#builder.size) {
        this.#supersede(
          `the log's store holds ${stored} entries where this node committed ${this.#builder.size}; reopening`,
        );
        return;
      }
      await this.#options.onReload?.();
    } catch (error) {
      this.#failed(error);
      return;
    }
    this.#state = { state: "writing" };
    this.#kick();
  }

  #supersede(reason: string): void {
    this.#state = { state: "superseded", reason };
    this.#failQueued();
    const listeners = this.#supersededListeners.splice(0);
    for (const listener of listeners) listener(reason);
  }

  #scheduleCheckpoint(): void {
    if (this.#closed || this.#timer !== undefined || this.#state.state !== "writing") return;
    if (this.#builder.size === (this.#lastCheckpoint?.size ?? 0)) return;
    const wait = Math.max(
      0,
      this.#lastCheckpointAt + this.#options.checkpointIntervalMs - this.#options.now(),
    );
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, wait);
    this.#timer.unref?.();
  }

  async #drain(): Promise<void> {
    // Let appends made in the same tick join this batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (
      this.#state.state === "writing" &&
      (this.#pending.length > 0 || this.#checkpointWanted.length > 0 || this.#checkpointDue())
    ) {
      const groups = this.#takeGroups().filter((group) => {
        try {
          group.options.precondition?.();
          return true;
        } catch (error) {
          failGroup(group, error);
          return false;
        }
      });
      const waiters = this.#checkpointWanted;
      this.#checkpointWanted = [];
      // The committed tree: what to go back to if this write fails (O(log n) to copy).
      const committed = this.#builder.clone();
      try {
        const results = await this.#writeBatch(groups, waiters.length > 0);
        this.#retryDelayMs = 0;
        for (const [i, group] of groups.entries()) group.resolve(results[i]!);
        for (const waiter of waiters) waiter.resolve(this.#lastCheckpoint!);
      } catch (error) {
        let refused = error;
        if (error instanceof StoreWriteFailed) {
          // Never retried at once (a full disk would spin): the groups fail, the tree goes back to
          // the committed state, and the write path pauses (#failed). Whether the store took the
          // batch after all (a lost answer to COMMIT) is found out by #recover, comparing sizes.
          this.#builder = committed;
          this.#failed(error.cause);
          refused = this.#refusal() ?? error.cause;
        }
        for (const group of groups) failGroup(group, refused);
        for (const waiter of waiters) waiter.reject(refused);
      }
    }
  }

  #checkpointDue(): boolean {
    return (
      this.#builder.size > (this.#lastCheckpoint?.size ?? 0) &&
      this.#options.now() - this.#lastCheckpointAt >= this.#options.checkpointIntervalMs
    );
  }

  #takeGroups(): PendingGroup[] {
    const groups: PendingGroup[] = [];
    let count = 0;
    while (this.#pending.length > 0) {
      const next = this.#pending[0]!;
      if (groups.length > 0 && count + next.items.length > this.#options.maxBatchEntries) break;
      groups.push(next);
      count += next.items.length;
      this.#pending.shift();
    }
    this.#pendingEntries -= count;
    return groups;
  }

  async #writeBatch(groups: readonly PendingGroup[], forceCheckpoint: boolean): Promise<AppendResult[][]> {
    const keys: Uint8Array[] = [];
    for (const group of groups)
      for (const item of group.items) if (item.idempotencyKey) keys.push(item.idempotencyKey);
    let known = new Map<string, number>();
    try {
      if (keys.length > 0) known = await this.#store.findIdempotencyKeys(keys);
    } catch (error) {
      throw new StoreWriteFailed(error);
    }

    const startIndex = this.#builder.size;
    const entries: Uint8Array[] = [];
    const leaves: Uint8Array[] = [];
    const contents: ContentBlob[] = [];
    const idempotencyKeys: { key: Uint8Array; index: number }[] = [];
    const lookupKeys: { key: Uint8Array; index: number }[] = [];
    const results: AppendResult[][] = [];
    const duplicates: { result: AppendResult[]; position: number; index: number }[] = [];
    for (const group of groups) {
      const groupResults: AppendResult[] = [];
      for (const item of group.items) {
        const keyHex = item.idempotencyKey ? toHex(item.idempotencyKey) : undefined;
        const earlier = keyHex === undefined ? undefined : known.get(keyHex);
        if (earlier !== undefined) {
          duplicates.push({ result: groupResults, position: groupResults.length, index: earlier });
          groupResults.push({ index: earlier, leafHash: new Uint8Array(32), duplicate: true });
          continue;
        }
        const index = this.#builder.size;
        const hash = leafHash(item.entry);
        this.#builder.append(hash);
        entries.push(item.entry);
        leaves.push(hash);
        if (item.content) contents.push({ hash: sha256(item.content), data: item.content });
        for (const key of item.lookupKeys ?? []) lookupKeys.push({ key, index });
        if (item.idempotencyKey && keyHex !== undefined) {
          idempotencyKeys.push({ key: item.idempotencyKey, index });
          known.set(keyHex, index);
        }
        groupResults.push({ index, leafHash: hash, duplicate: false });
      }
      results.push(groupResults);
    }

    if (entries.length > 0) this.#options.onEntries?.(entries, leaves);
    let checkpoint: StoredCheckpoint | undefined;
    const size = this.#builder.size;
    const now = this.#options.now();
    const grew = size > (this.#lastCheckpoint?.size ?? 0);
    if (grew && (forceCheckpoint || now - this.#lastCheckpointAt >= this.#options.checkpointIntervalMs)) {
      checkpoint = { size, note: this.#options.signCheckpoint(size, this.#builder.root()), storedAt: now };
    } else if (forceCheckpoint && this.#lastCheckpoint === undefined) {
      checkpoint = { size, note: this.#options.signCheckpoint(size, this.#builder.root()), storedAt: now };
    }

    const tiles: Tile[] = this.#builder.takeChangedTiles();
    if (entries.length > 0 || checkpoint !== undefined) {
      try {
        await this.#store.appendBatch({
          startIndex,
          entries,
          tiles,
          contents,
          idempotencyKeys,
          lookupKeys,
          ...(checkpoint ? { checkpoint } : {}),
        });
      } catch (error) {
        throw new StoreWriteFailed(error);
      }
    }
    if (checkpoint) {
      this.#lastCheckpoint = checkpoint;
      this.#lastCheckpointAt = now;
    }
    if (duplicates.length > 0) await this.#fillDuplicateHashes(duplicates, startIndex, entries);
    return results;
  }

  /** A replay gets the original entry's leaf hash, so its acknowledgement matches the first one. */
  async #fillDuplicateHashes(
    duplicates: readonly { result: AppendResult[]; position: number; index: number }[],
    batchStart: number,
    batchEntries: readonly Uint8Array[],
  ): Promise<void> {
    for (const duplicate of duplicates) {
      let entry: Uint8Array | undefined;
      if (duplicate.index >= batchStart) entry = batchEntries[duplicate.index - batchStart];
      else entry = (await this.#store.getEntries(duplicate.index, duplicate.index + 1))[0]?.data;
      if (entry === undefined)
        throw new CustosError("STORE_CORRUPT", `entry ${duplicate.index} is missing; run custos verify`);
      duplicate.result[duplicate.position] = {
        index: duplicate.index,
        leafHash: leafHash(entry),
        duplicate: true,
      };
    }
  }
}

/** The store refused or lost a batch (as opposed to a caller's mistake): the write path pauses. */
class StoreWriteFailed extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super("the store failed a write");
    this.cause = cause;
  }
}

function errorText(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : "unknown error";
  return typeof code === "string" ? `${message} (${code})` : message;
}

async function resumeTree(store: LedgerStore): Promise<TreeBuilder> {
  // One snapshot where the store offers it: a size and tiles read apart could straddle another
  // writer's commit and look like a damaged tree. (SQLite's snapshot is for read-only stores; a
  // writable one is already its directory's only writer.)
  const read = async () => TreeBuilder.resume(await store.getSize(), await store.getEdgeTiles());
  if (store.backend === "postgres" && store.readConsistent) return store.readConsistent(read);
  return read();
}
