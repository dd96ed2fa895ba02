// Opening a verified archive's records with a reader's key, for `custos read --archive` and the
// portal alike: the reader unwraps the key envelopes addressed to it and opens the records of those
// epochs; records of other epochs are counted as not readable, erased ones listed. Browser-safe (no
// node: imports), so the page opens an archive with the very code the command line uses.

import type { ArchiveBody } from "../../core/archive/index.js";
import type { OpenedRecord, RecordOpener } from "../record-opener.js";

export interface OpenedArchive {
  /** Newest entry first (by log index). */
  readonly records: readonly OpenedRecord[];
  /** Log indexes of access records this reader's key does not open (erased ones included). */
  readonly notReadable: readonly number[];
  /** Log indexes of access records whose content was erased before the archive was made. */
  readonly erased: readonly number[];
}

/**
 * Opens what `opener`'s key reads in an archive body. Only for a body verifyArchive passed; a wrapped
 * key or record that does not open throws (TAMPERED_ENTRY, DECRYPTION_FAILED) naming the entry.
 */
export function openArchive(body: ArchiveBody, opener: RecordOpener): OpenedArchive {
  const opened = opener.openAll(body.entries);
  return {
    records: opened.records.sort((a, b) => b.index - a.index),
    notReadable: opened.notReadable,
    erased: opened.erased,
  };
}
