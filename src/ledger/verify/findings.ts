// What `custos verify` can find, with stable codes for --json and sentences a compliance officer can
// act on. A finding never quotes entry contents (they may be personal data), only positions.

export const FINDING_CODES = [
  "ENTRY_MODIFIED",
  "ENTRIES_MISSING",
  "ENTRIES_INSERTED",
  "ENTRIES_REORDERED",
  "ENTRY_UNREADABLE",
  "EXTRA_ENTRIES",
  "LOG_TRUNCATED",
  "SIZE_MISMATCH",
  "TREE_MODIFIED",
  "CHECKPOINT_BAD_SIGNATURE",
  "CHECKPOINT_MALFORMED",
  "CHECKPOINT_ROLLED_BACK",
  "CHECKPOINT_MISMATCH",
  "CHECKPOINT_FORK",
  "CONTENT_MISSING",
  "CONTENT_MODIFIED",
  "ERASED_CONTENT_KEPT",
  "HISTORY_REWRITTEN",
  "STORE_LOST",
  "TRAIL_BROKEN",
  "TRAIL_COPY_MODIFIED",
  "TRAIL_FORKED",
  "TRAIL_COPY_MISSING",
  "TILE_MODIFIED",
  /** A registry entry or operator action not signed by whom it must be (checked by `custos verify`). */
  "SIGNATURE_INVALID",
  "INDEX_ROW_MISSING",
  "INDEX_ROW_EXTRA",
  "INDEX_ROW_MOVED",
  "IDEMPOTENCY_ROW_MISSING",
  "IDEMPOTENCY_ROW_EXTRA",
  "IDEMPOTENCY_ROW_MOVED",
  "VALUE_MISTYPED",
  "TRAIL_MAP_MISMATCH",
  "TRAIL_MAP_SNAPSHOT_MISMATCH",
] as const;

export type FindingCode = (typeof FINDING_CODES)[number];

export interface Finding {
  readonly code: FindingCode;
  readonly message: string;
  /** First and last entry index concerned, when the finding is about entries. */
  readonly firstIndex?: number;
  readonly lastIndex?: number;
  /** Tree size of the checkpoint concerned, when the finding is about a checkpoint. */
  readonly checkpointSize?: number;
  /** Position of the checkpoint in the store's checkpoint history (0 = oldest). */
  readonly checkpointPosition?: number;
  /** The stored tile concerned (level, index), when the finding is about a tile. */
  readonly tile?: { readonly level: number; readonly index: number };
  /** The stored table concerned, when the finding is about a row beside the log (lookup, idempotency...). */
  readonly table?: string;
  /** The trail map snapshot's stored part concerned (its `part` number), when one can be named. */
  readonly snapshotPart?: number;
  /** Kinds of the entries concerned (names from ENTRY_KINDS), when compared with a mirror. */
  readonly entryKinds?: readonly string[];
  /** A fork's evidence: both signed checkpoints, exactly as signed. */
  readonly notes?: { readonly local: string; readonly reference: string };
}

export function rangeText(first: number, last: number): string {
  return first === last ? `entry ${first}` : `entries ${first} to ${last}`;
}
