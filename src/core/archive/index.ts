export {
  ARCHIVE_FORMAT,
  type ArchiveBody,
  type ArchiveCheckpoint,
  type ArchiveEntry,
  type ArchiveReader,
  archiveNoteText,
  encodeArchive,
  frameArchive,
  MAX_ARCHIVE_BODY_BYTES,
  parseArchiveBody,
} from "./archive-format.js";
export {
  ARCHIVE_FINDING_CODES,
  type ArchiveFinding,
  type ArchiveFindingCode,
  type ArchiveReport,
  type ArchiveSummary,
  type ArchiveTrust,
  verifyArchive,
} from "./verify-archive.js";
