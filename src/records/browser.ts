// The part of the records area that runs in a browser as is: sealing and opening records and notices
// for their recipients (no `node:` module, no store). The SDK's verifying reader and the portal import
// it from here; src/records/index.ts re-exports it with the rest of the area.

export { BlindIndex } from "./blind-index.js";
export { DEFAULT_EPOCH_MS, type EpochKey, EpochKeyCache, type EpochKeyStats } from "./epoch-keys.js";
export { type NoticeBody, noticeSealedTo, type OpenedNotice, openNotice, sealNotice } from "./notices.js";
export {
  type Recipient,
  type RecipientDirectory,
  readerSetDigest,
  recipientFingerprint,
} from "./recipients.js";
export {
  type DecodedEntry,
  decodedOf,
  type OpenedRecord,
  RecordOpener,
  type StoredItem,
} from "./record-opener.js";
export { EPOCH_KEY_INFO, RecordSealer, wrapForReader } from "./record-sealer.js";
export {
  checkStaff,
  MAX_STAFF,
  MAX_STAFF_TEXT,
  openStaffDirectory,
  type StaffDirectory,
  type StaffMember,
  sealStaffDirectory,
  staffDirectorySealedTo,
} from "./staff-directory.js";
