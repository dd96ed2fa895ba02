// Backups that restore (issue 26.5): what a node or a witness needs besides its log, in one sealed
// file, and bringing either back in a new directory (docs/operations.md#backups-and-restore).

export {
  type BackupContents,
  type BackupKind,
  MIN_BACKUP_PASSPHRASE_LENGTH,
  openBackup,
  sealBackup,
} from "./backup-file.js";
export { NODE_FILES, WITNESS_FILES } from "./data-dir-files.js";
export { checkBackupKeys, type MadeBackup, makeBackup } from "./make-backup.js";
export { type RestoreOptions, type RestoreResult, restoreNode, restoreWitness } from "./restore.js";
export { askWitnesses, compareWithWitnesses, type LossReport, type WitnessView } from "./witness-check.js";
