// The ledger's public surface: what other areas (records, identity, service, witness, backup, cli) may
// use. The log (Ledger, the sequencer's append types), the storage interface and its two backends, the
// data directory, C2SP tiles, the tree, and verification. Everything else under src/ledger is internal.

export { applyAllErasures, applyErasures } from "./apply-erasures.js";
export {
  C2SP_TILE_WIDTH,
  formatTilePath,
  parseTilePath,
  readC2spTile,
  readEntryBundle,
} from "./c2sp-tiles.js";
export {
  type InitOptions,
  type InitResult,
  initDataDir,
  KEYSTORE_FILE_NAME,
  LOG_SIGNER_SECRET,
  loadSignerKey,
  openLogReadOnly,
  openLogWritable,
  openStore,
  RESTORE_FROM_BACKUP_HINT,
  redactUrl,
  type StoreLocation,
  splitSchema,
} from "./data-dir.js";
export { diskFault } from "./disk-faults.js";
export {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_MAX_BATCH_ENTRIES,
  Ledger,
  type LedgerOptions,
} from "./ledger.js";
export { copyStore, describeMigration, type MigrationReport, migrateStore } from "./migrate-store.js";
export {
  DEFAULT_POSTGRES_SCHEMA,
  type OutboxBacklog,
  type OutboxSignatureCheck,
  type OutboxSigner,
  type PostgresOutbox,
  PostgresStore,
  type PostgresStoreOptions,
} from "./postgres/index.js";
export {
  type AppendItem,
  type AppendOptions,
  type AppendResult,
  Sequencer,
  type SequencerState,
  type WriteFailure,
} from "./sequencer.js";
export { SQLITE_FILE_NAME, SqliteStore, type SqliteStoreOptions } from "./sqlite/sqlite-store.js";
export type {
  AppendBatch,
  ContentBlob,
  LedgerStore,
  LogMeta,
  SharedCheckpointAccess,
  StoredCheckpoint,
  StoredEntry,
  Tile,
} from "./storage.js";
export { TrailHeads } from "./trail-heads.js";
export { TreeBuilder, TreeReader } from "./tree/index.js";
export { type ComparisonReport, compareWithReference } from "./verify/compare.js";
export type { Finding } from "./verify/findings.js";
export { type ReferenceLog, StoreReference } from "./verify/reference-log.js";
export { checkTrailRange } from "./verify/trail-chain.js";
export { type VerifyOptions, type VerifyReport, verifyStore } from "./verify/verifier.js";
export { readVerifyState, type VerifyState, writeVerifyState } from "./verify/verify-state.js";
