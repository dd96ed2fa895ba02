// What a caller hands the sequencer (an entry with its content, idempotency key and lookup keys) and
// what it gets back, and the checks every item passes before it is queued: an entry the log takes is
// well-formed and commits to exactly the content given with it.

import { contentHashOf, decodeEntry, MAX_ENTRY_BYTES } from "../core/entry/index.js";
import { bytesEqual, CustosError, sha256 } from "../core/index.js";

export interface AppendItem {
  /** An encoded entry (src/core/entry). */
  readonly entry: Uint8Array;
  /** Replays carrying the same key get the original index back and are not stored again. */
  readonly idempotencyKey?: Uint8Array;
  /** Content kept beside the tree; the entry must commit to its SHA-256 (CONTENT_HASH_TAG). */
  readonly content?: Uint8Array;
  /** Keys to find this entry by later (e.g. its patient tag); never personal data in clear. */
  readonly lookupKeys?: readonly Uint8Array[];
}

export interface AppendResult {
  readonly index: number;
  readonly leafHash: Uint8Array;
  /** True when the idempotency key was already in the log: nothing new was stored. */
  readonly duplicate: boolean;
}

/**
 * Conditions on one append group, for callers whose groups depend on each other (a patient's trail:
 * a record links to the one sealed before it, which may be in a group still waiting to be written).
 */
export interface AppendOptions {
  /**
   * Checked just before the group is written, in the same turn as the write: throws when the group
   * may no longer be written (the group is then refused with that error and nothing of it is stored).
   */
  readonly precondition?: () => void;
  /**
   * Called synchronously when the group fails (its write failed, or its precondition refused it),
   * before any later group is written, so a dependent group's precondition sees the failure.
   */
  readonly onFailure?: () => void;
}

/** Refuses an item the log must not take: a malformed entry, bad key sizes, content it does not commit to. */
export function validateAppendItem(item: AppendItem): void {
  if (!(item.entry instanceof Uint8Array) || item.entry.length === 0 || item.entry.length > MAX_ENTRY_BYTES) {
    throw new CustosError("BAD_ARGUMENT", `an entry must be 1 to ${MAX_ENTRY_BYTES} bytes`);
  }
  const entry = decodeEntry(item.entry);
  if (item.idempotencyKey && (item.idempotencyKey.length < 1 || item.idempotencyKey.length > 64)) {
    throw new CustosError("BAD_ARGUMENT", "an idempotency key must be 1 to 64 bytes");
  }
  for (const key of item.lookupKeys ?? []) {
    if (key.length < 1 || key.length > 64)
      throw new CustosError("BAD_ARGUMENT", "a lookup key must be 1 to 64 bytes");
  }
  const committed = contentHashOf(entry);
  if (committed === undefined && item.content !== undefined) {
    throw new CustosError("BAD_ARGUMENT", "content was given with an entry that does not commit to any");
  }
  if (
    committed !== undefined &&
    (item.content === undefined || !bytesEqual(committed, sha256(item.content)))
  ) {
    throw new CustosError("BAD_ARGUMENT", "the entry does not commit to the content given with it");
  }
}
