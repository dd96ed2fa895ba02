// The content side of `custos verify`: the encrypted content each entry commits to, and the trail
// copies kept in the lookup rows, checked against the log's own entries and contents.

import { bytesEqual, fromHex, sha256, toHex } from "../../core/index.js";
import type { LedgerStore, StoredEntry } from "../storage.js";
import type { Finding } from "./findings.js";

export interface ContentCheck {
  readonly index: number;
  readonly hash: Uint8Array;
}

/** Content hashes per store read: a bounded reply each (the PostgreSQL store splits likewise). */
const CONTENTS_PER_READ = 4096;

/** What a chunk's content check found for an entry naming content. */
export interface ContentFound {
  readonly hash: Uint8Array;
  /** The stored content, when it is there and matches the hash. */
  readonly intact: Uint8Array | undefined;
}

/**
 * Checks the content of a chunk's entries, in index order, reading it in a few batched calls.
 * Returns what was found, by entry index.
 */
export async function checkContents(
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
export async function checkTrailCopies(
  store: LedgerStore,
  checked: {
    readonly chunk: readonly StoredEntry[];
    /** Entries that do not match their leaf (named ENTRY_MODIFIED or the like; their copies are not). */
    readonly unmatched: ReadonlySet<number>;
    readonly contents: ReadonlyMap<number, ContentFound>;
  },
  copiesOfMissing: ContentCheck[],
  findings: Finding[],
): Promise<Set<string>> {
  const { chunk, unmatched, contents } = checked;
  const copied = new Set<string>();
  if (chunk.length === 0) return copied;
  const entries = new Map(chunk.map((stored) => [stored.index, stored.data]));
  const copies = await store.lookupCopiesInRange(chunk[0]!.index, chunk[chunk.length - 1]!.index + 1);
  const altered = new Set<number>();
  for (const copy of copies) {
    copied.add(`${copy.index}:${toHex(copy.key)}`);
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
  return copied;
}

/** The subject of an erasure made by `custos erase`: the patient's tag. */
export const PATIENT_SUBJECT = /^patient-tag:([0-9a-f]{64})$/;

/**
 * In an incremental run, the copies of entries before `from` that still hold content an erasure in
 * the range names: found through the patient's tag (each entry's copies under every key it is filed
 * under), a read per entry, so the cost follows the erased patients, not the log.
 */
export async function copiesOfErasedBefore(
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
