export { BlindIndex } from "./blind-index.js";
export { DEFAULT_EPOCH_MS, type EpochKey, EpochKeyCache, type EpochKeyStats } from "./epoch-keys.js";
export {
  type LegacyDirectory,
  type LegacyGrant,
  type LegacyParty,
  openLegacyKeyFile,
} from "./legacy-directory.js";
export {
  type Recipient,
  type RecipientDirectory,
  readerSetDigest,
  recipientFingerprint,
} from "./recipients.js";
export { type OpenedRecord, RecordOpener, type StoredItem } from "./record-opener.js";
export { EPOCH_KEY_INFO, RecordSealer, wrapForReader } from "./record-sealer.js";
export {
  initVaultSecrets,
  type KeyStatus,
  LEGACY_DIRECTORY_SECRET,
  legacyDirectoryIn,
  type TrailQuery,
  Vault,
  type VaultOptions,
} from "./vault.js";
