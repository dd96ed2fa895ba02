// Notices to a patient: a refused request for their data (`refusal`, 0x0a) and a query of their
// trail (`queryRecord`, 0x06, the meta-audit). The entry holds only the time and the patient tag;
// who asked for what is content beside the tree, sealed (HPKE) to the patient and the custodian, so
// the store learns no more than it does from an access record.
//
//   0x01 time u64 (ms)   0x02 patient tag (32)   0xf0 SHA-256 of the sealed content

import { u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { sha256Parts } from "../platform.js";
import { PATIENT_TAG_BYTES } from "./access-record-entry.js";
import { contentHashOf, decodeEntry, encodeEntry, fieldValue } from "./entry-codec.js";
import { CONTENT_HASH_TAG, ENTRY_KINDS } from "./kinds.js";

const TAG_TIME = 0x01;
const TAG_PATIENT_TAG = 0x02;

export const NOTICE_KINDS = { refusal: ENTRY_KINDS.refusal, query: ENTRY_KINDS.queryRecord } as const;
export type NoticeKind = keyof typeof NOTICE_KINDS;

const NOTICE_LOOKUP_LABEL = utf8("custos notices v1\n");

/**
 * The lookup key a notice is also filed under: SHA-256("custos notices v1\n" || patient tag), so a
 * patient's query history reads the patient's notices alone rather than scanning every access
 * record filed under the patient's tag.
 */
export function noticeLookupKey(patientTag: Uint8Array): Uint8Array {
  return sha256Parts(NOTICE_LOOKUP_LABEL, patientTag);
}

/**
 * Every notice filed under its notice key is also filed under this one, so the first index under it
 * is where filing by notice key began: notices below it (written by an older Custos) are found by
 * scanning the patient's tag, only below it.
 */
export const NOTICES_FILED_KEY = sha256Parts(utf8("custos notices filed v1"));

/** The lookup keys a notice is filed under: the patient's tag, the notice key and the filed marker. */
export function noticeLookupKeys(patientTag: Uint8Array): Uint8Array[] {
  return [patientTag, noticeLookupKey(patientTag), NOTICES_FILED_KEY];
}

export interface NoticeHeader {
  readonly kind: NoticeKind;
  readonly time: number;
  readonly patientTag: Uint8Array;
}

/** The associated data that binds sealed notice content to its entry. */
export function noticeAad(header: NoticeHeader): Uint8Array {
  return encodeEntry({ kind: NOTICE_KINDS[header.kind], fields: headerFields(header) });
}

function headerFields(header: NoticeHeader) {
  if (header.patientTag.length !== PATIENT_TAG_BYTES)
    throw new CustosError("BAD_ARGUMENT", "patient tag must be 32 bytes");
  return [
    { tag: TAG_TIME, value: u64be(BigInt(header.time)) },
    { tag: TAG_PATIENT_TAG, value: header.patientTag },
  ];
}

export function encodeNoticeEntry(header: NoticeHeader, contentHash: Uint8Array): Uint8Array {
  if (contentHash.length !== 32) throw new CustosError("BAD_ARGUMENT", "content hash must be 32 bytes");
  return encodeEntry({
    kind: NOTICE_KINDS[header.kind],
    fields: [...headerFields(header), { tag: CONTENT_HASH_TAG, value: contentHash }],
  });
}

export function decodeNoticeEntry(bytes: Uint8Array): { header: NoticeHeader; contentHash: Uint8Array } {
  const entry = decodeEntry(bytes);
  const kind =
    entry.kind === ENTRY_KINDS.refusal
      ? "refusal"
      : entry.kind === ENTRY_KINDS.queryRecord
        ? "query"
        : undefined;
  if (kind === undefined) throw new CustosError("BAD_ENCODING", "not a notice entry");
  const time = fieldValue(entry, TAG_TIME);
  const tag = fieldValue(entry, TAG_PATIENT_TAG);
  const contentHash = contentHashOf(entry);
  if (time?.length !== 8 || tag?.length !== PATIENT_TAG_BYTES || !contentHash) {
    throw new CustosError("BAD_ENCODING", "malformed notice entry");
  }
  return {
    header: {
      kind,
      time: Number(new DataView(time.buffer, time.byteOffset, 8).getBigUint64(0)),
      patientTag: tag,
    },
    contentHash,
  };
}
