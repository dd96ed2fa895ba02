// The storage interface every backend implements (SQLite embedded, PostgreSQL). Async at the edges,
// batched writes: one appendBatch is one durable transaction, so an append is acknowledged only after
// the whole batch (entries, tree tiles, content, idempotency keys) is on disk.
//
// The tree is stored as tiles (docs/formats.md): a tile at level L, index N holds up to TILE_WIDTH
// hashes of perfect subtrees at tree level L*TILE_HEIGHT, for node indexes N*TILE_WIDTH onward. Full
// tiles never change; the rightmost tile of each level is rewritten as it grows.
//
// What only some backends can do (a sequencer lock, snapshot reads, PostgreSQL's outbox and shared
// witnessed checkpoint) is an optional member the caller checks for, never a test of the class.

import { CustosError } from "../core/index.js";
import type { PostgresOutbox } from "./postgres/outbox.js";

export const TILE_HEIGHT = 4;
export const TILE_WIDTH = 1 << TILE_HEIGHT;

export interface Tile {
  readonly level: number;
  readonly index: number;
  /** width * 32 bytes of hashes, 1 <= width <= TILE_WIDTH. */
  readonly hashes: Uint8Array;
}

export interface StoredEntry {
  readonly index: number;
  readonly data: Uint8Array;
}

export interface StoredEntryWithContent extends StoredEntry {
  readonly content: Uint8Array | undefined;
}

export interface StoredCheckpoint {
  readonly size: number;
  /** The signed note, exactly as signed. */
  readonly note: string;
  /** When this node stored it (ms since epoch); informational, not signed. */
  readonly storedAt: number;
}

export interface ContentBlob {
  readonly hash: Uint8Array;
  readonly data: Uint8Array;
}

export interface AppendBatch {
  /** Index of the first entry; must equal the store's current size. */
  readonly startIndex: number;
  readonly entries: readonly Uint8Array[];
  readonly tiles: readonly Tile[];
  readonly contents: readonly ContentBlob[];
  readonly idempotencyKeys: readonly { readonly key: Uint8Array; readonly index: number }[];
  /** Lookup keys (e.g. a patient tag) under which entries can be found again, in index order. */
  readonly lookupKeys: readonly { readonly key: Uint8Array; readonly index: number }[];
  readonly checkpoint?: StoredCheckpoint;
}

export interface LookupQuery {
  readonly key: Uint8Array;
  /** Only entries with index >= fromIndex and < toIndex. */
  readonly fromIndex?: number;
  readonly toIndex?: number;
  /** Newest first when true. */
  readonly descending?: boolean;
  readonly limit: number;
}

/**
 * A lookup row's trail copy: the entry filed under the key and the content its last 32 bytes name,
 * kept beside the key so a patient's history is one range read (docs/postgres.md). `custos verify`
 * checks every copy against the log's own entries and contents.
 */
export interface LookupCopy {
  readonly key: Uint8Array;
  readonly index: number;
  readonly entry: Uint8Array;
  readonly content: Uint8Array | undefined;
}

/** A stored value of the wrong SQL type (a SQLite column accepts any): where it is, never what. */
export interface MistypedValue {
  readonly table: "entries" | "tiles" | "contents" | "lookup" | "idempotency";
  readonly column: string;
  /** The type found (SQLite's typeof: text, integer, real, null). */
  readonly sqlType: string;
  /** The entry index (entries, lookup, idempotency) or tile index (tiles), when it is a number. */
  readonly index?: number;
  readonly level?: number;
  /** The content hash (contents), as stored. */
  readonly hash?: Uint8Array;
}

/** A trail map snapshot part whose stored value is of the wrong type (STORE_CORRUPT, with the part). */
export class SnapshotPartCorrupt extends CustosError {
  readonly part: number;

  constructor(part: number, cause: CustosError) {
    super("STORE_CORRUPT", `trail map snapshot part ${part}: ${cause.message}`, { cause });
    this.part = part;
  }
}

/** One stored part of the trail map snapshot. */
export interface TrailMapSnapshotRow {
  readonly part: number;
  /** The log size the snapshot's map is of. */
  readonly size: number;
  /** Leaf records (trail-map.ts, LEAF_RECORD_BYTES each). */
  readonly leaves: Uint8Array;
}

export interface LogMeta {
  readonly origin: string;
  /** The log's verifier key (Go sumdb/note text form). */
  readonly verifierKey: string;
  readonly createdAt: number;
  readonly formatVersion: number;
}

export interface LedgerStore {
  readonly backend: "sqlite" | "postgres";
  /** Writes the log's metadata into an empty store; throws STORE_EXISTS if it already has one. */
  initialize(meta: LogMeta): Promise<void>;
  getMeta(): Promise<LogMeta | undefined>;

  /** Number of entries as recorded by the store (max index + 1 of the last batch committed). */
  getSize(): Promise<number>;
  appendBatch(batch: AppendBatch): Promise<void>;

  getEntries(start: number, end: number): Promise<StoredEntry[]>;
  /**
   * The entries at these indexes, in the order asked (repeats included); indexes the store lacks are
   * skipped. One read however many are asked, so a patient's history costs no round trip per entry.
   */
  getEntriesAt(indexes: readonly number[]): Promise<StoredEntry[]>;
  /** Streams entries in index order in chunks, for verification and mirroring. */
  scanEntries(start: number, end: number, chunkSize: number): AsyncIterable<StoredEntry[]>;
  countEntries(): Promise<number>;

  getTiles(refs: readonly { level: number; index: number }[]): Promise<Tile[]>;
  scanTiles(level: number, fromIndex: number): AsyncIterable<Tile[]>;
  /** The rightmost tile of each level, to resume the tree after a restart. */
  getEdgeTiles(): Promise<Tile[]>;

  getContent(hash: Uint8Array): Promise<Uint8Array | undefined>;
  /** The content of each hash, aligned with the hashes asked: undefined where none is held. */
  getContents(hashes: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  hasContent(hashes: readonly Uint8Array[]): Promise<boolean[]>;
  /**
   * Destroys content (only under a signed erasure entry, which the caller appends first), with the
   * copies kept in the lookup rows of the entries that name it (`entryIndexes`).
   */
  deleteContent(hashes: readonly Uint8Array[], entryIndexes: readonly number[]): Promise<void>;

  findIdempotencyKeys(keys: readonly Uint8Array[]): Promise<Map<string, number>>;
  /** Idempotency or lookup keys of the entries in [start, end), for moving a log between stores. */
  keysInRange(
    table: "idempotency" | "lookup",
    start: number,
    end: number,
  ): Promise<{ key: Uint8Array; index: number }[]>;
  /** Entry indexes filed under a lookup key, in index order (or reverse). */
  findByLookupKey(query: LookupQuery): Promise<number[]>;
  /** The entries filed under a lookup key, as findByLookupKey would list them, in one read. */
  entriesByLookupKey(query: LookupQuery): Promise<StoredEntry[]>;
  /**
   * Like entriesByLookupKey, each entry with the stored content whose hash is the entry's last 32
   * bytes (where an entry that names a content has its content hash: field 0xF0 comes last), in the
   * same read; undefined when no such content is stored. The caller checks that the entry does name
   * that hash (an entry without content can end in any 32 bytes).
   */
  entriesWithContentsByLookupKey(query: LookupQuery): Promise<StoredEntryWithContent[]>;

  /**
   * Largest trail copy (entry plus content bytes) this store keeps in a lookup row; undefined when it
   * keeps none (an older SQLite store opened read-only). `custos verify` expects a copy in every lookup
   * row of an entry within it.
   */
  readonly trailCopyLimit?: number;
  /**
   * Optional (SQLite, whose columns accept any type): every stored value of the wrong SQL type, from
   * entry index `from` on (tiles and contents: all), for `custos verify` to name each. The reads verify
   * makes read such a value as its bytes instead of refusing it.
   */
  mistypedValues?(from: number): Promise<MistypedValue[]>;
  /** The trail copies of the entries in [start, end), by index then key (rows without one left out). */
  lookupCopiesInRange(start: number, end: number): Promise<LookupCopy[]>;

  /**
   * The persisted trail map snapshot (docs/formats.md, "Trail map snapshot"): its rows in part order,
   * as stored (the caller checks them against the signed checkpoint of that size); [] when none.
   */
  getTrailMapSnapshot?(): Promise<TrailMapSnapshotRow[]>;
  /** Replaces the trail map snapshot with these parts of the map at log size `size`, atomically. */
  putTrailMapSnapshot?(size: number, parts: readonly Uint8Array[]): Promise<void>;
  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  getLatestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  listCheckpoints(): Promise<StoredCheckpoint[]>;

  /**
   * Where erased bytes may outlive their rows (SQLite: a write-ahead log not yet emptied after an
   * erasure, a free page not zeroed), one sentence each; empty when none. Optional: a backend that
   * cannot tell leaves it out (docs/operations.md, "What erasure reaches").
   */
  erasureResidue?(): Promise<string[]>;
  /** Finishes an erasure whose clean-up a concurrent reader held back (SQLite: empties the WAL). */
  finishErasure?(): Promise<void>;

  /**
   * Housekeeping after a bulk load (custos migrate-store): PostgreSQL runs VACUUM (ANALYZE) on the
   * log's tables, so reads get planner statistics and index-only scans at once rather than after
   * autovacuum's next pass. Optional; best effort.
   */
  afterBulkLoad?(): Promise<void>;

  /**
   * Optional, for stores whose writer holds a lock that a lost session drops (PostgreSQL's advisory
   * lock): re-takes it after a failure. "held": this store may write; "taken": another writer has it.
   * Throws when the store cannot be reached (the sequencer then waits and asks again).
   */
  regainWriter?(): Promise<"held" | "taken">;

  /**
   * Optional: "ok" when the store can take a write now, else a short reason without paths or URLs
   * ("disk full", "read-only file system", "sequencer lock lost"), for readiness checks. Writes nothing.
   */
  writeReadiness?(): Promise<string>;

  /**
   * Optional: makes this store the log's single writer (its sequencer) until close; false when another
   * holds the lock. PostgreSQL: a session advisory lock that every node of the database contends for
   * (a standby takes over when it frees); SQLite: DIR/sequencer.lock, one process at a time.
   */
  acquireSequencerLock?(): Promise<boolean>;

  /**
   * Optional: runs `read` against one snapshot of the log, so a scan beside a running writer never
   * sees a batch half-read as tampering (`custos verify`). PostgreSQL: any store (a READ ONLY
   * transaction); SQLite: only a store opened readonly (BAD_ARGUMENT otherwise).
   */
  readConsistent?<T>(read: () => Promise<T>): Promise<T>;

  /** Optional (PostgreSQL): true when the server accepts only reads (a hot standby): never a sequencer. */
  readonly serverReadOnly?: boolean;

  /**
   * Optional (PostgreSQL): the outbox in which a read replica records the notices it serves for the
   * sequencer to append; offered only where this store can write to it (not opened read-only, not on a
   * read-only server).
   */
  readonly noticeOutbox?: PostgresOutbox;

  /**
   * Optional (PostgreSQL): the latest witnessed checkpoint (the note with its cosignature lines), which
   * the sequencer publishes in the database for the read replicas of the same log to serve.
   */
  readonly sharedCheckpoint?: SharedCheckpointAccess;

  close(): Promise<void>;
}

/** A witnessed checkpoint kept in the store for every node of the log (LedgerStore.sharedCheckpoint). */
export interface SharedCheckpointAccess {
  putWitnessedCheckpoint(checkpoint: { readonly size: number; readonly note: string }): Promise<void>;
  getWitnessedCheckpoint(): Promise<{ size: number; note: string } | undefined>;
}
