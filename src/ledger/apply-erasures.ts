// Erasure reaches every copy: a store that copies a log (a mirror following a node, a node restored
// from a mirror) applies each signed erasure entry it copies, deleting the content it names and the
// trail copies of the entries that commit to it, exactly as the node did. Applying is idempotent, so a
// pass that stops half-way is finished by the next.

import { contentHashOf, decodeEntry, decodeErasureEntry, ENTRY_KINDS } from "../core/entry/index.js";
import { fromHex, toHex } from "../core/index.js";
import type { LedgerStore, StoredEntry } from "./storage.js";

/** The subject of an erasure made by `custos erase` or retention expiry: the patient's tag. */
const PATIENT_SUBJECT = /^patient-tag:([0-9a-f]{64})$/;
const PAGE = 4096;

/**
 * Applies the erasure entries among `entries` (already stored) to `store`. Returns how many content
 * items were deleted.
 */
export async function applyErasures(store: LedgerStore, entries: readonly StoredEntry[]): Promise<number> {
  // A clean-up an earlier pass could not finish (a reader held the SQLite WAL) is finished first.
  await store.finishErasure?.();
  let deleted = 0;
  for (const stored of entries) {
    if (stored.data[1] !== ENTRY_KINDS.erasure) continue;
    const erasure = decodeErasureEntry(stored.data);
    const wanted = new Set(erasure.contentHashes.map(toHex));
    const held = await store.hasContent(erasure.contentHashes);
    const hashes = erasure.contentHashes.filter((_, i) => held[i]);
    const indexes = await entriesNaming(store, erasure.subject, wanted, stored.index);
    if (hashes.length === 0 && indexes.length === 0) continue;
    await store.deleteContent(hashes, indexes);
    deleted += hashes.length;
  }
  return deleted;
}

/** Applies every erasure entry in the store (after a bulk copy such as a restore from a mirror). */
export async function applyAllErasures(store: LedgerStore): Promise<number> {
  let deleted = 0;
  for await (const chunk of store.scanEntries(0, await store.getSize(), PAGE)) {
    deleted += await applyErasures(
      store,
      chunk.filter((e) => e.data[1] === ENTRY_KINDS.erasure),
    );
  }
  return deleted;
}

/**
 * The entries before `before` that commit to one of the `wanted` hashes, found through the patient's
 * tag the erasure names (their trail copies are cleared with the content). Without a patient subject,
 * none: verify then names any copy left.
 */
async function entriesNaming(
  store: LedgerStore,
  subject: string,
  wanted: ReadonlySet<string>,
  before: number,
): Promise<number[]> {
  const tag = PATIENT_SUBJECT.exec(subject)?.[1];
  if (tag === undefined) return [];
  const key = fromHex(tag);
  const found: number[] = [];
  let fromIndex = 0;
  for (;;) {
    const page = await store.entriesByLookupKey({ key, fromIndex, toIndex: before, limit: PAGE });
    for (const stored of page) {
      if (stored.data[1] === ENTRY_KINDS.data) continue;
      const hash = contentHashOf(decodeEntry(stored.data));
      if (hash !== undefined && wanted.has(toHex(hash))) found.push(stored.index);
    }
    if (page.length < PAGE) return found;
    fromIndex = page[page.length - 1]!.index + 1;
  }
}
