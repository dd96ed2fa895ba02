export { BlindIndex } from "./blind-index.js";
export { DEFAULT_EPOCH_MS, type EpochKey, EpochKeyCache, type EpochKeyStats } from "./epoch-keys.js";
export { type Grant, LocalDirectory } from "./local-directory.js";
export {
  createPartyKeyFile,
  openPartyKeyFile,
  PARTY_ROLES,
  type PartyKeys,
  type PartyRole,
  passphraseFromEnv,
} from "./party-key.js";
export {
  type Recipient,
  type RecipientDirectory,
  readerSetDigest,
  recipientFingerprint,
} from "./recipients.js";
export { type OpenedRecord, RecordOpener, type StoredItem } from "./record-opener.js";
export { EPOCH_KEY_INFO, RecordSealer, wrapForReader } from "./record-sealer.js";
export { initVaultSecrets, type KeyStatus, type TrailQuery, Vault } from "./vault.js";
