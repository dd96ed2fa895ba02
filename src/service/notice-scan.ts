// Notices (query records and refusals) concerning a patient, newest first, read a chunk at a time
// from the patient's notice key (older notices: by scanning the patient's tag), instead of a round
// trip per entry. Used by a patient's query history and an audit company's refusals, on the
// node and on a serving mirror.

import {
  contentHashOf,
  decodeEntry,
  ENTRY_KINDS,
  NOTICES_FILED_KEY,
  noticeLookupKey,
} from "../core/entry/index.js";
import { bytesEqual, toBase64 } from "../core/index.js";
import type { Ledger } from "../ledger/index.js";

/** Entries under one tag looked at, at most, per request (the newest first). */
export const NOTICE_SCAN_LIMIT = 100_000;
const CHUNK = 1024;

export interface FoundNotice {
  readonly index: number;
  readonly kind: number;
  readonly entry: Uint8Array;
  readonly content: Uint8Array | undefined;
}

/**
 * The notices under `tag` below `size` that `keep` accepts, newest first, at most `max`. Notices are
 * filed under the patient's notice key, read directly (one joined read per chunk, contents
 * included); notices written before that (by an older Custos) are found by scanning the patient's
 * tag below the first notice so filed, at most NOTICE_SCAN_LIMIT entries.
 */
export async function noticesUnder(
  ledger: Ledger,
  tag: Uint8Array,
  size: number,
  max: number,
  keep: (notice: FoundNotice) => boolean = () => true,
): Promise<FoundNotice[]> {
  const found: FoundNotice[] = [];
  const take = (notice: FoundNotice): void => {
    if (found.length < max && keep(notice)) found.push(notice);
  };
  const key = noticeLookupKey(tag);
  let before = size;
  for (;;) {
    const rows = await ledger.store.entriesWithContentsByLookupKey({
      key,
      toIndex: before,
      descending: true,
      limit: CHUNK,
    });
    for (const { index, data, content } of rows) {
      const decoded = decodeEntry(data);
      if (decoded.kind !== ENTRY_KINDS.queryRecord && decoded.kind !== ENTRY_KINDS.refusal) continue;
      const hash = contentHashOf(decoded);
      // The join used the entry's last 32 bytes, which are its content hash (field 0xF0 is last): its
      // result stands, including "none stored" (erased). Read by hash only should that not hold.
      const joinedIsNamed = hash !== undefined && bytesEqual(data.subarray(data.length - hash.length), hash);
      take({
        index,
        kind: decoded.kind,
        entry: data,
        content:
          hash === undefined
            ? undefined
            : joinedIsNamed
              ? content
              : (await ledger.store.getContents([hash]))[0],
      });
    }
    if (found.length >= max || rows.length < CHUNK) break;
    before = rows[rows.length - 1]!.index;
  }
  if (found.length >= max) return found;
  // Where filing by notice key began (undefined: no notice so filed yet, anywhere in the log).
  const [firstFiled] = await ledger.store.findByLookupKey({
    key: NOTICES_FILED_KEY,
    toIndex: size,
    limit: 1,
  });
  before = firstFiled ?? size;
  let scanned = 0;
  while (scanned < NOTICE_SCAN_LIMIT && found.length < max) {
    const indexes = await ledger.store.findByLookupKey({
      key: tag,
      toIndex: before,
      descending: true,
      limit: Math.min(CHUNK, NOTICE_SCAN_LIMIT - scanned),
    });
    if (indexes.length === 0) break;
    scanned += indexes.length;
    before = indexes[indexes.length - 1]!;
    const notices = (await ledger.getEntriesAt(indexes))
      .map((stored) => ({ stored, decoded: decodeEntry(stored.data) }))
      .filter(
        ({ decoded }) => decoded.kind === ENTRY_KINDS.queryRecord || decoded.kind === ENTRY_KINDS.refusal,
      );
    const hashes = notices.map(({ decoded }) => contentHashOf(decoded));
    const contents = await ledger.store.getContents(hashes.filter((h): h is Uint8Array => h !== undefined));
    let nextContent = 0;
    notices.forEach(({ stored, decoded }, i) => {
      const content = hashes[i] === undefined ? undefined : contents[nextContent++];
      take({ index: stored.index, kind: decoded.kind, entry: stored.data, content });
    });
    if (indexes.length < CHUNK) break;
  }
  return found;
}

/** Notices as a reply carries them: each with its content and an inclusion proof against `size`. */
export async function provenNotices(ledger: Ledger, notices: readonly FoundNotice[], size: number) {
  const proofs = await ledger.inclusionProofs(
    notices.map((n) => n.index),
    size,
  );
  return notices.map((notice, i) => ({
    index: notice.index,
    entry: toBase64(notice.entry),
    content: notice.content === undefined ? null : toBase64(notice.content),
    proof: proofs[i]!.map(toBase64),
  }));
}
