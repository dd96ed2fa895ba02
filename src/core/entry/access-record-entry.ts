// The `accessRecord` kind: one encrypted audit record. The entry holds only a header that reveals no
// personal data (key epoch, patient tag, hour of the event, source system) and commits by hash to
// the ciphertext kept beside the tree. The header, without the content hash, is the AES-GCM
// associated data, so a ciphertext moved under another header fails to open.

import { fromUtf8, u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { decodeEntry, type Entry, encodeEntry, fieldValue } from "./entry-codec.js";
import { CONTENT_HASH_TAG, ENTRY_KINDS } from "./kinds.js";

const TAG_EPOCH = 0x01;
const TAG_PATIENT_TAG = 0x02;
const TAG_HOUR = 0x03;
const TAG_SOURCE = 0x04;
const TAG_SEQ = 0x05;
const TAG_PREV = 0x06;
const TAG_EVENT_KEY = 0x07;
const TAG_EVENT_DIGEST = 0x08;

/** Bytes of an event key: an HMAC-SHA256 of the source and its event ID under the blind-index key. */
export const EVENT_KEY_BYTES = 32;

export const EPOCH_ID_BYTES = 16;
export const PATIENT_TAG_BYTES = 32;
const HOUR_MS = 3_600_000;

export interface AccessRecordHeader {
  readonly epochId: Uint8Array;
  readonly patientTag: Uint8Array;
  /** Start of the hour of the event (ms since epoch): the server filters time ranges on it. */
  readonly hour: number;
  /** The submitting source system's identity (not personal data). */
  readonly source: string;
  /**
   * The record's number in its patient's trail: 0, 1, 2, ... with no gaps. A client that sees a run of
   * numbers knows nothing inside it was left out. Absent in records written before it existed.
   */
  readonly seq?: number;
  /**
   * The leaf hash of the patient's record numbered seq - 1 (only with seq > 0): the records of a trail
   * form a hash chain, so one inclusion proof of the newest proves every record it links back to.
   * Absent in records written before it existed.
   */
  readonly prev?: Uint8Array;
  /**
   * The record's idempotency key (HMAC of source and source event ID under the node's blind-index
   * key), when the source gave an event ID: the entry commits to the key the store files it under, so
   * `custos verify` rebuilds the idempotency table from the entries. Absent in older records.
   */
  readonly eventKey?: Uint8Array;
  /**
   * With an event key: a keyed digest of the record as submitted (HMAC under the blind-index key of the
   * source and the canonical record), so a replay of the event ID with different content is told apart
   * from a true duplicate and refused (CONFLICT). Absent in records written before it existed.
   */
  readonly eventDigest?: Uint8Array;
}

export function hourOf(timeMs: number): number {
  return Math.floor(timeMs / HOUR_MS) * HOUR_MS;
}

function headerFields(header: AccessRecordHeader) {
  if (header.epochId.length !== EPOCH_ID_BYTES)
    throw new CustosError("BAD_ARGUMENT", "epoch id must be 16 bytes");
  if (header.patientTag.length !== PATIENT_TAG_BYTES)
    throw new CustosError("BAD_ARGUMENT", "patient tag must be 32 bytes");
  if (header.hour % HOUR_MS !== 0) throw new CustosError("BAD_ARGUMENT", "hour must be the start of an hour");
  return [
    { tag: TAG_EPOCH, value: header.epochId },
    { tag: TAG_PATIENT_TAG, value: header.patientTag },
    { tag: TAG_HOUR, value: u64be(BigInt(header.hour)) },
    { tag: TAG_SOURCE, value: utf8(header.source) },
    ...(header.seq === undefined ? [] : [{ tag: TAG_SEQ, value: u64be(BigInt(checkSeq(header.seq))) }]),
    ...(header.prev === undefined ? [] : [{ tag: TAG_PREV, value: checkPrev(header) }]),
    ...(header.eventKey === undefined ? [] : [{ tag: TAG_EVENT_KEY, value: checkEventKey(header.eventKey) }]),
    ...(header.eventDigest === undefined ? [] : [{ tag: TAG_EVENT_DIGEST, value: checkEventDigest(header) }]),
  ];
}

function checkPrev(header: AccessRecordHeader): Uint8Array {
  if (header.prev!.length !== 32) throw new CustosError("BAD_ARGUMENT", "prev must be a 32-byte leaf hash");
  if (header.seq === undefined || header.seq === 0)
    throw new CustosError("BAD_ARGUMENT", "only a record numbered above 0 links to a previous one");
  return header.prev!;
}

function checkEventKey(key: Uint8Array): Uint8Array {
  if (key.length !== EVENT_KEY_BYTES) throw new CustosError("BAD_ARGUMENT", "an event key is 32 bytes");
  return key;
}

function checkEventDigest(header: AccessRecordHeader): Uint8Array {
  if (header.eventDigest!.length !== EVENT_KEY_BYTES)
    throw new CustosError("BAD_ARGUMENT", "an event digest is 32 bytes");
  if (header.eventKey === undefined)
    throw new CustosError("BAD_ARGUMENT", "an event digest goes with an event key");
  return header.eventDigest!;
}

function checkSeq(seq: number): number {
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new CustosError("BAD_ARGUMENT", "seq must be a whole number");
  return seq;
}

/** The associated data that binds a record's ciphertext to its header. */
export function accessRecordAad(header: AccessRecordHeader): Uint8Array {
  return encodeEntry({ kind: ENTRY_KINDS.accessRecord, fields: headerFields(header) });
}

/**
 * accessRecordAad read from an encoded access record entry instead of encoding its header again: the
 * entry's bytes up to its content hash field, which is its last (the highest tag), 37 bytes. For an
 * entry the sealer wrote (the encoding of its header, then the hash), these are the same bytes.
 */
export function accessRecordAadOfEntry(bytes: Uint8Array): Uint8Array {
  const at = bytes.length - 37;
  if (
    at < 2 ||
    bytes[1] !== ENTRY_KINDS.accessRecord ||
    bytes[at] !== CONTENT_HASH_TAG ||
    new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0) !== 32
  )
    throw new CustosError("BAD_ENCODING", "malformed access record entry");
  return bytes.subarray(0, at);
}

export function encodeAccessRecordEntry(header: AccessRecordHeader, contentHash: Uint8Array): Uint8Array {
  return encodeEntry({
    kind: ENTRY_KINDS.accessRecord,
    fields: [...headerFields(header), { tag: CONTENT_HASH_TAG, value: contentHash }],
  });
}

export function decodeAccessRecordEntry(bytes: Uint8Array): {
  header: AccessRecordHeader;
  contentHash: Uint8Array;
} {
  return accessRecordFromEntry(decodeEntry(bytes));
}

export function accessRecordFromEntry(entry: Entry): { header: AccessRecordHeader; contentHash: Uint8Array } {
  if (entry.kind !== ENTRY_KINDS.accessRecord)
    throw new CustosError("BAD_ENCODING", "not an access record entry");
  const epochId = fieldValue(entry, TAG_EPOCH);
  const patientTag = fieldValue(entry, TAG_PATIENT_TAG);
  const hour = fieldValue(entry, TAG_HOUR);
  const source = fieldValue(entry, TAG_SOURCE);
  const contentHash = fieldValue(entry, CONTENT_HASH_TAG);
  const seq = fieldValue(entry, TAG_SEQ);
  const prev = fieldValue(entry, TAG_PREV);
  const eventKey = fieldValue(entry, TAG_EVENT_KEY);
  const eventDigest = fieldValue(entry, TAG_EVENT_DIGEST);
  if (
    epochId?.length !== EPOCH_ID_BYTES ||
    patientTag?.length !== PATIENT_TAG_BYTES ||
    hour?.length !== 8 ||
    source === undefined ||
    contentHash?.length !== 32 ||
    (seq !== undefined && seq.length !== 8) ||
    (prev !== undefined && (prev.length !== 32 || seq === undefined)) ||
    (eventKey !== undefined && eventKey.length !== EVENT_KEY_BYTES) ||
    (eventDigest !== undefined && (eventDigest.length !== EVENT_KEY_BYTES || eventKey === undefined)) ||
    entry.fields.length !==
      5 +
        (seq === undefined ? 0 : 1) +
        (prev === undefined ? 0 : 1) +
        (eventKey === undefined ? 0 : 1) +
        (eventDigest === undefined ? 0 : 1)
  ) {
    throw new CustosError("BAD_ENCODING", "malformed access record entry");
  }
  const number = seq === undefined ? undefined : readSeq(seq);
  if (prev !== undefined && number === 0)
    throw new CustosError("BAD_ENCODING", "malformed access record entry: record 0 links to no previous one");
  return {
    header: {
      epochId,
      patientTag,
      hour: Number(new DataView(hour.buffer, hour.byteOffset, 8).getBigUint64(0)),
      source: fromUtf8(source),
      ...(number === undefined ? {} : { seq: number }),
      ...(prev === undefined ? {} : { prev }),
      ...(eventKey === undefined ? {} : { eventKey }),
      ...(eventDigest === undefined ? {} : { eventDigest }),
    },
    contentHash,
  };
}

function readSeq(value: Uint8Array): number {
  const n = new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0);
  if (n > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CustosError("BAD_ENCODING", "malformed access record seq");
  return Number(n);
}
