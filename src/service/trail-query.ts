// A patient's trail as the server serves it: a window of the patient's access records, newest first,
// with the key envelopes addressed to the reader for their epochs, each entry with an inclusion proof
// against the latest signed checkpoint, and a consistency proof from the checkpoint the client last
// trusted. The server filters by patient (tag) and time (the hour in each record's header) only; the
// client decrypts and filters the rest.
//
// The window is contiguous in the patient's numbering (records carry seq 0, 1, 2, ...): once the
// first record in range is found, every following record of the patient is included until the
// limit or the start of the range, so the client can check that no number is missing inside it.

import { parseCheckpoint } from "../core/checkpoint/index.js";
import {
  type AccessRecordHeader,
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  ENTRY_KINDS,
  epochLookupKey,
  hourOf,
  keyEnvelopeFromEntry,
} from "../core/entry/index.js";
import { bytesEqual, CustosError, fromHex, toBase64, toHex } from "../core/index.js";
import { leafHash } from "../core/merkle/index.js";
import { trailMapRootOf } from "../core/trail-map/index.js";
import { DEFAULT_TRAIL_LIMIT, MAX_TRAIL_LIMIT } from "../core/wire/index.js";
import type { Ledger } from "../ledger/index.js";

const HOUR_MS = 3_600_000;

export interface TrailWindow {
  readonly patientTag: Uint8Array;
  /** Access times: records whose hour lies wholly outside [from, to) are left out. */
  readonly from?: number;
  readonly to?: number;
  readonly limit?: number;
  /** Paging: only entries with index < before. */
  readonly before?: number;
  /** The reader's recipient fingerprint: key envelopes addressed to it are included. */
  readonly reader?: Uint8Array;
}

export interface ProvenItem {
  readonly index: number;
  readonly entry: string;
  readonly content: string | null;
  /**
   * Inclusion proof against the checkpoint; absent for an access record that the page's next newer
   * record of the same patient links to by its leaf hash (`prev`): it is proven through that record.
   */
  readonly proof?: string[];
}

export interface CheckpointView {
  readonly note: string;
  readonly size: number;
}

export interface TrailPage {
  readonly items: ProvenItem[];
  /** Pass as `before` for the next (older) page; null when the window reached the end of the range. */
  readonly next: number | null;
}

/** The latest signed checkpoint; everything a query returns is proven against it. */
export async function currentCheckpoint(ledger: Ledger): Promise<CheckpointView> {
  const checkpoint = await ledger.latestCheckpoint();
  if (!checkpoint)
    throw new CustosError("NOT_FOUND", "the log has no signed checkpoint yet; retry in a moment");
  return { note: checkpoint.note, size: checkpoint.size };
}

/** A consistency proof from the client's trusted size to the checkpoint (empty when equal or none). */
export async function consistencyFrom(ledger: Ledger, trustedSize: number | undefined, size: number) {
  if (trustedSize === undefined || trustedSize === 0) return null;
  if (trustedSize > size) {
    throw new CustosError(
      "CONFLICT",
      `your trusted checkpoint (size ${trustedSize}) is newer than this node's latest (size ${size}); ask another node or retry`,
    );
  }
  const proof = trustedSize === size ? [] : await ledger.consistencyProof(trustedSize, size);
  return { from: trustedSize, to: size, proof: proof.map(toBase64) };
}

type Entry = ReturnType<typeof decodeEntry>;

/** An entry chosen for the page, decoded once (with its header when it is an access record). */
interface Selected {
  readonly index: number;
  readonly data: Uint8Array;
  readonly entry: Entry;
  readonly header?: AccessRecordHeader;
  /** Read with the entry: the stored content its last 32 bytes name, if any (null: none stored). */
  readonly joined?: Uint8Array | null;
}

/** Entry indexes read per store round trip while scanning a patient's trail (newest first). */
const SCAN_CHUNK = 1024;

/**
 * The patient's entries below `upper`, newest first, a chunk at a time: each chunk is one lookup and
 * one batched entry read, and the scan stops when the caller stops, so memory follows the page asked
 * for, not the patient's whole history (nor the log).
 */
async function* patientEntries(
  ledger: Ledger,
  key: Uint8Array,
  upper: number,
  chunk: number,
  withContents: boolean,
): AsyncGenerator<{ index: number; data: Uint8Array; content?: Uint8Array | undefined }> {
  let before = upper;
  for (;;) {
    // One read per chunk: the lookup rows joined with their entries (and, for the page itself, their
    // contents). An index whose entry is gone is left out here; the page's proofs and hash chain then
    // fail at the client, and verify names it.
    const query = { key, toIndex: before, descending: true, limit: chunk };
    const entries = withContents
      ? await ledger.store.entriesWithContentsByLookupKey(query)
      : await ledger.store.entriesByLookupKey(query);
    if (entries.length === 0) return;
    yield* entries;
    if (entries.length < chunk) return;
    before = entries[entries.length - 1]!.index;
  }
}

export async function trailPage(ledger: Ledger, size: number, window: TrailWindow): Promise<TrailPage> {
  const limit = window.limit ?? DEFAULT_TRAIL_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_TRAIL_LIMIT) {
    throw new CustosError("BAD_ARGUMENT", `limit must be 1 to ${MAX_TRAIL_LIMIT}`);
  }
  const upper = Math.min(window.before ?? size, size);
  // The trail's end: its newest record then always comes, even outside the time window, so the client
  // can match it with the head the checkpoint's trail map commits to (an empty page proves nothing).
  const top = window.before === undefined && window.to === undefined;
  const fromHour = window.from === undefined ? undefined : hourOf(window.from);
  const records: Selected[] = [];
  const neededEpochs = new Set<string>();
  let lastEpoch: Uint8Array | undefined;
  const envelopes: (Selected & { epoch: string })[] = [];
  const foundEpochs = new Set<string>();
  let started = false;
  let done = false;
  let next: number | null = null;
  // A page's worth of records (plus their envelopes) in the first read, most of the time.
  const chunk = Math.max(SCAN_CHUNK, limit + 64);
  let lowest = upper;
  const lacking = () => window.reader !== undefined && [...neededEpochs].some((e) => !foundEpochs.has(e));
  const keep = (index: number, data: Uint8Array, entry: Entry, joined?: Uint8Array | null): void => {
    const { header } = keyEnvelopeFromEntry(entry);
    if (window.reader === undefined || !bytesEqual(header.recipient, window.reader)) return;
    if (!bytesEqual(header.patientTag, window.patientTag)) return;
    const epoch = toHex(header.epochId);
    if (foundEpochs.has(epoch)) return;
    foundEpochs.add(epoch);
    envelopes.push({ index, data, entry, epoch, joined });
  };
  for await (const { index, data, content } of patientEntries(
    ledger,
    window.patientTag,
    upper,
    chunk,
    true,
  )) {
    if (done) break;
    const joined = content ?? null;
    lowest = index;
    const entry = decodeEntry(data);
    if (entry.kind === ENTRY_KINDS.accessRecord) {
      const { header } = accessRecordFromEntry(entry);
      if (!started) {
        if (window.to !== undefined && header.hour >= window.to) continue;
        started = true;
      }
      if (fromHour !== undefined && header.hour + HOUR_MS <= fromHour) {
        done = true;
        if (!(top && records.length === 0)) continue;
      }
      if (records.length === limit) {
        next = records[records.length - 1]!.index;
        done = true;
        continue;
      }
      records.push({ index, data, entry, header, joined });
      // Consecutive records mostly share an epoch: hex only when it changes.
      if (lastEpoch === undefined || !bytesEqual(lastEpoch, header.epochId)) {
        neededEpochs.add(toHex(header.epochId));
        lastEpoch = header.epochId;
      }
    } else if (entry.kind === ENTRY_KINDS.keyEnvelope) {
      keep(index, data, entry, joined);
    }
  }
  // The reader's envelopes for epochs whose start lies further back: looked up by epoch, not scanned.
  if (lacking()) {
    for (const epoch of [...neededEpochs].filter((e) => !foundEpochs.has(e))) {
      // With their contents (the wrapped keys): no second round trip for them below.
      const filed = await ledger.store.entriesWithContentsByLookupKey({
        key: epochLookupKey(fromHex(epoch)),
        toIndex: upper,
        descending: true,
        limit: 256,
      });
      for (const { index, data, content } of filed) {
        const entry = decodeEntry(data);
        if (entry.kind === ENTRY_KINDS.keyEnvelope) keep(index, data, entry, content ?? null);
      }
    }
  }
  // Envelopes written before they were filed by epoch: scan on back through the patient's entries.
  if (lacking()) {
    for await (const { index, data } of patientEntries(ledger, window.patientTag, lowest, chunk, false)) {
      const entry = decodeEntry(data);
      if (entry.kind === ENTRY_KINDS.keyEnvelope) keep(index, data, entry);
      if (!lacking()) break;
    }
  }
  const selected = [...records, ...envelopes.filter((e) => neededEpochs.has(e.epoch))].sort(
    (a, b) => b.index - a.index,
  );
  // Contents of the whole page in one batch; inclusion proofs only where the trail's hash chain does
  // not already prove an entry (the newest record of each linked run, key envelopes, old records).
  // Contents: most came with their entries (joined on the entry's last 32 bytes, used only where
  // the entry names exactly that hash); the rest (envelopes found by the backward scan) in one
  // batch.
  const contents = selected.map(({ entry, data, joined }): Uint8Array | null | undefined => {
    const hash = contentHashOf(entry);
    if (hash === undefined) return null;
    return joined !== undefined && bytesEqual(data.subarray(data.length - hash.length), hash)
      ? joined
      : undefined;
  });
  const missing = contents.flatMap((content, i) => (content === undefined ? [i] : []));
  if (missing.length > 0) {
    const read = await ledger.store.getContents(missing.map((i) => contentHashOf(selected[i]!.entry)!));
    missing.forEach((position, i) => {
      contents[position] = read[i] ?? null;
    });
  }
  const linked = linkedByChain(selected);
  const needProof = selected.filter((_, i) => !linked.has(i)).map(({ index }) => index);
  const proofs = await ledger.inclusionProofs(needProof, size);
  const proofOf = new Map(needProof.map((index, i) => [index, proofs[i]!]));
  const items = selected.map(({ index, data }, i): ProvenItem => {
    const content = contents[i];
    const proof = proofOf.get(index);
    return {
      index,
      entry: toBase64(data),
      content: content === undefined || content === null ? null : toBase64(content),
      ...(proof === undefined ? {} : { proof: proof.map(toBase64) }),
    };
  });
  return { items, next };
}

/**
 * Positions (in `selected`) of access records that a newer record on the same page links to: record
 * seq + 1 carries `prev` equal to this record's leaf hash. Only links that hold are counted, so a
 * broken chain in the store gets proofs and the client sees exactly what the log holds.
 */
function linkedByChain(selected: readonly Selected[]): Set<number> {
  const bySeq = new Map<number, { position: number; prev: Uint8Array | undefined }>();
  selected.forEach(({ header }, position) => {
    if (header?.seq !== undefined) bySeq.set(header.seq, { position, prev: header.prev });
  });
  const linked = new Set<number>();
  for (const [seq, { position }] of bySeq) {
    const newer = bySeq.get(seq + 1);
    if (newer?.prev !== undefined && bytesEqual(newer.prev, leafHash(selected[position]!.data))) {
      linked.add(position);
    }
  }
  return linked;
}

export interface TrailMapReply {
  /** The patient tag the proof is for (hex). */
  readonly tag: string;
  /** The trail map proof (docs/formats.md, "Trail map"), base64. */
  readonly proof: string;
}

/**
 * The trail map proof for a patient at the checkpoint a reply is proven against; undefined when that
 * checkpoint carries no trail map line (a log signed before it existed). A node that cannot prove the
 * map at that checkpoint (still building it, or the checkpoint is older than it keeps) answers
 * UNAVAILABLE rather than a reply a client would have to refuse.
 */
export async function trailMapProofAt(
  ledger: Ledger,
  checkpoint: CheckpointView,
  tag: Uint8Array,
): Promise<TrailMapReply | undefined> {
  const body = checkpoint.note.slice(0, checkpoint.note.indexOf("\n\n") + 1);
  if (trailMapRootOf(parseCheckpoint(body).extensions) === undefined) return undefined;
  const proof = await ledger.trailMapProof(tag, checkpoint.size);
  if (proof === undefined) {
    throw new CustosError(
      "UNAVAILABLE",
      `this node does not hold the trail map at the checkpoint of size ${checkpoint.size}; retry in a moment`,
      { retryAfterSeconds: 1 },
    );
  }
  return { tag: toHex(tag), proof: toBase64(proof) };
}

/** A patient subject (`tag:<hex>`) back to the tag bytes. */
export function tagOfSubject(subject: string): Uint8Array {
  if (!/^tag:[0-9a-f]{64}$/.test(subject)) throw new CustosError("BAD_ARGUMENT", "not a patient subject");
  return fromHex(subject.slice(4));
}
