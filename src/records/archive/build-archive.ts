// Building an archive of a time range (docs/formats.md, "Archives"): one pass over the log collects
// the access records whose hour lies in the range, the key envelopes of their epochs addressed to the
// named readers and the erasure entries naming any of their content; each goes in with its content
// (left out where an erasure names it) and its inclusion proof in the anchor checkpoint, beside the
// witnessed checkpoint and its consistency proof to the anchor. The log's key signs the file.

import {
  type ArchiveBody,
  type ArchiveEntry,
  type ArchiveReader,
  encodeArchive,
} from "../../core/archive/index.js";
import { openCheckpoint } from "../../core/checkpoint/index.js";
import {
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  decodeErasureEntry,
  ENTRY_KINDS,
  hourOf,
  keyEnvelopeFromEntry,
} from "../../core/entry/index.js";
import { CustosError, toBase64, toHex } from "../../core/index.js";
import { signNote } from "../../core/note/index.js";
import type { Ledger, StoredEntry } from "../../ledger/index.js";

const SCAN_CHUNK = 2000;
const PROOF_CHUNK = 1000;

export interface ArchiveRange {
  /** Records whose hour lies in [hourOf(from), to). */
  readonly from: number;
  readonly to: number;
}

/** The epochs (patient tag and epoch ID) that records in the range were sealed under. */
export interface RangeEpoch {
  readonly patientTag: Uint8Array;
  readonly epochId: Uint8Array;
}

export function inRange(range: ArchiveRange, hour: number): boolean {
  return hour >= hourOf(range.from) && hour < range.to;
}

/** The epochs of the records in the range, by patient tag (hex): what readers need keys for. */
export async function epochsInRange(ledger: Ledger, range: ArchiveRange): Promise<Map<string, RangeEpoch[]>> {
  const byTag = new Map<string, RangeEpoch[]>();
  const seen = new Set<string>();
  const size = await ledger.size();
  for await (const chunk of ledger.store.scanEntries(0, size, SCAN_CHUNK)) {
    for (const stored of chunk) {
      if (stored.data[1] !== ENTRY_KINDS.accessRecord) continue;
      const { header } = accessRecordFromEntry(decodeEntry(stored.data));
      if (!inRange(range, header.hour)) continue;
      const key = `${toHex(header.patientTag)}:${toHex(header.epochId)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const tag = toHex(header.patientTag);
      byTag.set(tag, [...(byTag.get(tag) ?? []), { patientTag: header.patientTag, epochId: header.epochId }]);
    }
  }
  return byTag;
}

export interface BuildArchiveOptions {
  readonly ledger: Ledger;
  readonly range: ArchiveRange;
  readonly readers: readonly ArchiveReader[];
  /** The log's signer key: signs the archive (and is the key its checkpoints are signed with). */
  readonly signerKey: string;
  /** The latest checkpoint the witnesses cosigned, if the node keeps one. */
  readonly witnessedNote?: string;
  readonly now: number;
}

export interface BuiltArchive {
  readonly file: Uint8Array;
  readonly size: number;
  readonly records: number;
  readonly envelopes: number;
  readonly erasures: number;
  /** Records and envelopes whose content an erasure destroyed: in the archive without it. */
  readonly erasedContents: number;
  /** Epochs of records in the range for which some named reader has no key envelope. */
  readonly readersWithoutKeys: readonly { readonly reader: string; readonly epochs: number }[];
}

/** Everything the archive holds, chosen in one pass over the log up to `size`. */
async function select(ledger: Ledger, range: ArchiveRange, readers: readonly ArchiveReader[], size: number) {
  const readerOf = new Map(readers.map((r) => [toHex(r.fingerprint), r.id]));
  const records: StoredEntry[] = [];
  const epochs = new Set<string>();
  const envelopes: { stored: StoredEntry; epoch: string; reader: string }[] = [];
  const erasures: { stored: StoredEntry; hashes: string[] }[] = [];
  for await (const chunk of ledger.store.scanEntries(0, size, SCAN_CHUNK)) {
    for (const stored of chunk) {
      const kind = stored.data[1];
      if (kind === ENTRY_KINDS.accessRecord) {
        const { header } = accessRecordFromEntry(decodeEntry(stored.data));
        if (!inRange(range, header.hour)) continue;
        records.push(stored);
        epochs.add(`${toHex(header.patientTag)}:${toHex(header.epochId)}`);
      } else if (kind === ENTRY_KINDS.keyEnvelope) {
        const { header } = keyEnvelopeFromEntry(decodeEntry(stored.data));
        const reader = readerOf.get(toHex(header.recipient));
        if (reader === undefined) continue;
        envelopes.push({ stored, epoch: `${toHex(header.patientTag)}:${toHex(header.epochId)}`, reader });
      } else if (kind === ENTRY_KINDS.erasure) {
        erasures.push({ stored, hashes: decodeErasureEntry(stored.data).contentHashes.map(toBase64) });
      }
    }
  }
  const chosenEnvelopes = envelopes.filter((e) => epochs.has(e.epoch));
  const readersWithoutKeys = readers
    .map((r) => {
      const held = new Set(chosenEnvelopes.filter((e) => e.reader === r.id).map((e) => e.epoch));
      const own = r.patientTag === undefined ? undefined : `${toHex(r.patientTag)}:`;
      const needed = [...epochs].filter((e) => own === undefined || e.startsWith(own));
      return { reader: r.id, epochs: needed.filter((e) => !held.has(e)).length };
    })
    .filter((r) => r.epochs > 0);
  const chosen = [...records, ...chosenEnvelopes.map((e) => e.stored)];
  const hashes = new Set(
    chosen.map((s) => contentHashOf(decodeEntry(s.data))).flatMap((h) => (h ? [toBase64(h)] : [])),
  );
  const erasedHashes = new Set<string>();
  for (const erasure of erasures) {
    const named = erasure.hashes.filter((h) => hashes.has(h));
    if (named.length === 0) continue;
    chosen.push(erasure.stored);
    for (const h of named) erasedHashes.add(h);
  }
  chosen.sort((a, b) => a.index - b.index);
  return {
    chosen,
    erasedHashes,
    counts: {
      records: records.length,
      envelopes: chosenEnvelopes.length,
      erasures: chosen.length - records.length - chosenEnvelopes.length,
    },
    readersWithoutKeys,
  };
}

export async function buildArchive(options: BuildArchiveOptions): Promise<BuiltArchive> {
  const { ledger, range, readers } = options;
  if (!(range.from < range.to))
    throw new CustosError("BAD_ARGUMENT", "the archive's range ends before it starts");
  const anchor = await ledger.latestCheckpoint();
  if (anchor === undefined) throw new CustosError("NOT_FOUND", "the log has no checkpoint yet");
  const size = anchor.size;
  const { chosen, erasedHashes, counts, readersWithoutKeys } = await select(ledger, range, readers, size);
  const entries: ArchiveEntry[] = [];
  let erasedContents = 0;
  for (let start = 0; start < chosen.length; start += PROOF_CHUNK) {
    const part = chosen.slice(start, start + PROOF_CHUNK);
    const proofs = await ledger.inclusionProofs(
      part.map((s) => s.index),
      size,
    );
    const hashes = part.map((s) => contentHashOf(decodeEntry(s.data)));
    const wanted = hashes.map((h) => (h !== undefined && !erasedHashes.has(toBase64(h)) ? h : undefined));
    const contents = await ledger.store.getContents(wanted.filter((h): h is Uint8Array => h !== undefined));
    let next = 0;
    part.forEach((stored, i) => {
      const content = wanted[i] === undefined ? undefined : contents[next++];
      const hash = hashes[i];
      if (hash !== undefined && erasedHashes.has(toBase64(hash))) erasedContents++;
      entries.push({ index: stored.index, entry: stored.data, proof: proofs[i]!, content });
    });
  }
  // Content missing from the store without an erasure naming it is not papered over here: the
  // archive leaves it out and verify-archive names the entry, as `custos verify` does for the store.
  const checkpoints = [];
  if (options.witnessedNote !== undefined) {
    const witnessed = openCheckpoint(options.witnessedNote, ledger.meta.verifierKey);
    const witnessedSize = Number(witnessed.checkpoint.size);
    if (witnessedSize > 0 && witnessedSize <= size)
      checkpoints.push({
        note: options.witnessedNote,
        consistency: witnessedSize === size ? [] : await ledger.consistencyProof(witnessedSize, size),
      });
  }
  const body: ArchiveBody = {
    origin: ledger.meta.origin,
    createdAt: options.now,
    from: range.from,
    to: range.to,
    readers,
    checkpoint: anchor.note,
    checkpoints,
    entries,
  };
  const file = encodeArchive(body, (text) => signNote(text, options.signerKey));
  return { file, size, ...counts, erasedContents, readersWithoutKeys };
}
