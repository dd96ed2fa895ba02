// The records area's public surface: epoch keys, sealing and opening records, notices, custodian
// re-wrap, retention and legal holds, archives, and the vault that holds a node's record keys.
// The browser-safe part is in ./browser.ts, re-exported here.

export {
  ARCHIVES_FILE_NAME,
  type ArchivedRange,
  archivedRanges,
} from "./archive/archive-register.js";
export { buildArchive, epochsInRange, type RangeEpoch } from "./archive/build-archive.js";
export { openArchive } from "./archive/open-archive.js";
export * from "./browser.js";
export { HOLDS_LOOKUP_KEY, Holds } from "./holds.js";
export {
  type LegacyDirectory,
  type LegacyGrant,
  type LegacyParty,
  openLegacyKeyFile,
} from "./legacy-directory.js";
export { defaultPrepWorkers } from "./prep-pool.js";
export { type PreparedRecord, prepareRecord, wipePrepared } from "./prepared-record.js";
export { RETENTION_STATE_FILE_NAME, RetentionJob, readRetentionState } from "./retention.js";
export {
  describeRetention,
  parseRetentionPolicy,
  type RetentionPolicy,
  readRetentionPolicy,
  retentionCutoff,
  writeRetentionPolicy,
} from "./retention-policy.js";
export { planRewrap, type RewrapTarget } from "./rewrap.js";
export {
  initVaultSecrets,
  type KeyStatus,
  LEGACY_DIRECTORY_SECRET,
  legacyDirectoryIn,
  legacyDirectoryMessage,
  type TrailQuery,
  Vault,
  type VaultOptions,
} from "./vault.js";
