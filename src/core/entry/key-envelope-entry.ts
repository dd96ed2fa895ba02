// The `keyEnvelope` kind: one epoch data key wrapped (HPKE) for one recipient. The wrapped key is
// content beside the tree (so erasure can destroy it); the entry records, tamper-evidently, that this
// recipient key could read this patient's records of this epoch from this point on. Recipients are
// named by key fingerprint, never by identity, so the log does not reveal which patient a tag is.

import { CustosError } from "../errors.js";
import { sha256Parts } from "../platform.js";
import { EPOCH_ID_BYTES, PATIENT_TAG_BYTES } from "./access-record-entry.js";
import { decodeEntry, type Entry, encodeEntry, fieldValue } from "./entry-codec.js";
import { CONTENT_HASH_TAG, ENTRY_KINDS } from "./kinds.js";

const TAG_EPOCH = 0x01;
const TAG_PATIENT_TAG = 0x02;
const TAG_RECIPIENT = 0x03;
const TAG_ROLE = 0x04;
const TAG_REASON = 0x05;

export const RECIPIENT_FINGERPRINT_BYTES = 16;

export const RECIPIENT_ROLES = { patient: 1, auditor: 2, custodian: 3 } as const;
export type RecipientRole = keyof typeof RECIPIENT_ROLES;

export const ENVELOPE_REASONS = { epochStart: 1, regrant: 2, recovery: 3 } as const;
export type EnvelopeReason = keyof typeof ENVELOPE_REASONS;

export interface KeyEnvelopeHeader {
  readonly epochId: Uint8Array;
  readonly patientTag: Uint8Array;
  readonly recipient: Uint8Array;
  readonly role: RecipientRole;
  readonly reason: EnvelopeReason;
}

function headerFields(header: KeyEnvelopeHeader) {
  if (header.epochId.length !== EPOCH_ID_BYTES)
    throw new CustosError("BAD_ARGUMENT", "epoch id must be 16 bytes");
  if (header.patientTag.length !== PATIENT_TAG_BYTES)
    throw new CustosError("BAD_ARGUMENT", "patient tag must be 32 bytes");
  if (header.recipient.length !== RECIPIENT_FINGERPRINT_BYTES) {
    throw new CustosError("BAD_ARGUMENT", "recipient fingerprint must be 16 bytes");
  }
  return [
    { tag: TAG_EPOCH, value: header.epochId },
    { tag: TAG_PATIENT_TAG, value: header.patientTag },
    { tag: TAG_RECIPIENT, value: header.recipient },
    { tag: TAG_ROLE, value: new Uint8Array([RECIPIENT_ROLES[header.role]]) },
    { tag: TAG_REASON, value: new Uint8Array([ENVELOPE_REASONS[header.reason]]) },
  ];
}

/** HPKE associated data for the wrapped key: binds it to epoch, patient tag and recipient. */
export function keyEnvelopeAad(header: KeyEnvelopeHeader): Uint8Array {
  return encodeEntry({
    kind: ENTRY_KINDS.keyEnvelope,
    fields: headerFields({ ...header, reason: "epochStart" }).filter((f) => f.tag !== TAG_REASON),
  });
}

export function encodeKeyEnvelopeEntry(header: KeyEnvelopeHeader, contentHash: Uint8Array): Uint8Array {
  return encodeEntry({
    kind: ENTRY_KINDS.keyEnvelope,
    fields: [...headerFields(header), { tag: CONTENT_HASH_TAG, value: contentHash }],
  });
}

export function decodeKeyEnvelopeEntry(bytes: Uint8Array): {
  header: KeyEnvelopeHeader;
  contentHash: Uint8Array;
} {
  return keyEnvelopeFromEntry(decodeEntry(bytes));
}

function byCode<T extends Record<string, number>>(table: T, code: number | undefined): keyof T | undefined {
  return (Object.keys(table) as (keyof T)[]).find((name) => table[name] === code);
}

export function keyEnvelopeFromEntry(entry: Entry): { header: KeyEnvelopeHeader; contentHash: Uint8Array } {
  if (entry.kind !== ENTRY_KINDS.keyEnvelope)
    throw new CustosError("BAD_ENCODING", "not a key envelope entry");
  const epochId = fieldValue(entry, TAG_EPOCH);
  const patientTag = fieldValue(entry, TAG_PATIENT_TAG);
  const recipient = fieldValue(entry, TAG_RECIPIENT);
  const role = byCode(RECIPIENT_ROLES, fieldValue(entry, TAG_ROLE)?.[0]);
  const reason = byCode(ENVELOPE_REASONS, fieldValue(entry, TAG_REASON)?.[0]);
  const contentHash = fieldValue(entry, CONTENT_HASH_TAG);
  if (
    epochId?.length !== EPOCH_ID_BYTES ||
    patientTag?.length !== PATIENT_TAG_BYTES ||
    recipient?.length !== RECIPIENT_FINGERPRINT_BYTES ||
    role === undefined ||
    reason === undefined ||
    contentHash?.length !== 32 ||
    entry.fields.length !== 6
  ) {
    throw new CustosError("BAD_ENCODING", "malformed key envelope entry");
  }
  return { header: { epochId, patientTag, recipient, role, reason }, contentHash };
}

const EPOCH_LOOKUP_LABEL = new TextEncoder().encode("custos epoch v1\n");

/**
 * The lookup key a key envelope is also filed under: SHA-256("custos epoch v1\n" || epoch ID), so a
 * trail query finds an epoch's envelopes directly instead of scanning back to where the epoch began.
 */
export function epochLookupKey(epochId: Uint8Array): Uint8Array {
  return sha256Parts(EPOCH_LOOKUP_LABEL, epochId);
}
