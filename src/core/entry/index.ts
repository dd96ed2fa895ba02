export type { AccessRecordHeader } from "./access-record-entry.js";
export {
  accessRecordAad,
  accessRecordAadOfEntry,
  accessRecordFromEntry,
  decodeAccessRecordEntry,
  EPOCH_ID_BYTES,
  EVENT_KEY_BYTES,
  encodeAccessRecordEntry,
  hourOf,
  PATIENT_TAG_BYTES,
} from "./access-record-entry.js";
export { decodeDataEntry, encodeDataEntry } from "./data-entry.js";
export type { Entry, EntryField } from "./entry-codec.js";
export {
  contentHashOf,
  decodeEntry,
  describeEntryKind,
  ENTRY_FORMAT_VERSION,
  encodeEntry,
  fieldValue,
  MAX_ENTRY_BYTES,
} from "./entry-codec.js";
export type { Erasure, ErasureReason } from "./erasure-entry.js";
export {
  decodeErasureEntry,
  ERASURE_REASONS,
  encodeErasureEntry,
  MAX_ERASED_PER_ENTRY,
} from "./erasure-entry.js";
export { filingOf, REGISTRY_LOOKUP_KEY, relayedNoticeKey } from "./filing.js";
export type { DecodedHold, HoldAction, LegalHold } from "./hold-entry.js";
export {
  decodeHoldEntry,
  encodeHoldEntry,
  HOLD_ACTIONS,
  MAX_HOLD_REFERENCE_BYTES,
} from "./hold-entry.js";
export type { EnvelopeReason, KeyEnvelopeHeader, RecipientRole } from "./key-envelope-entry.js";
export {
  decodeKeyEnvelopeEntry,
  ENVELOPE_REASONS,
  encodeKeyEnvelopeEntry,
  epochLookupKey,
  keyEnvelopeAad,
  keyEnvelopeFromEntry,
  RECIPIENT_FINGERPRINT_BYTES,
  RECIPIENT_ROLES,
} from "./key-envelope-entry.js";
export type { EntryKind, EntryKindName } from "./kinds.js";
export { CONTENT_HASH_TAG, ENTRY_KINDS, entryKindName } from "./kinds.js";
export type { NoticeHeader, NoticeKind } from "./notice-entry.js";
export {
  decodeNoticeEntry,
  encodeNoticeEntry,
  NOTICE_KINDS,
  NOTICES_FILED_KEY,
  noticeAad,
  noticeLookupKey,
  noticeLookupKeys,
} from "./notice-entry.js";
export type { ArchiveRecord, OperatorAction, OperatorActionName } from "./operator-action-entry.js";
export {
  decodeOperatorActionEntry,
  encodeOperatorActionEntry,
  OPERATOR_ACTIONS,
  OPERATOR_ACTIONS_LOOKUP_KEY,
  operatorIsPatient,
  patientOperatorName,
  patientTagOfOperator,
} from "./operator-action-entry.js";
export type { GrantRecord, IdentityAction, IdentityRecord, Signer } from "./registry-entries.js";
export {
  decodeGrantEntry,
  decodeIdentityEntry,
  encodeGrantChangeEntry,
  encodeGrantEntry,
  encodeGrantRevocationEntry,
  encodeIdentityEntry,
  IDENTITY_ACTIONS,
  MAX_PATIENTS_PER_GRANT,
  signedPart,
  verifyRegistrySignature,
} from "./registry-entries.js";
export {
  decodeStaffDirectoryEntry,
  encodeStaffDirectoryEntry,
  STAFF_DIRECTORY_LOOKUP_KEY,
  staffDirectoryAad,
} from "./staff-directory-entry.js";
