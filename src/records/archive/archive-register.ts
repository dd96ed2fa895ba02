// The archives a log records (docs/formats.md, "Operator actions" and "Archives"): `custos archive`
// appends an `archive` operator action once it has read the written file back and verified it, naming
// the time range, the anchor checkpoint's size, the file's SHA-256 and the readers. Retention with
// `requireArchive` expires an epoch only when such an entry holds every one of its records, so
// deletion after archiving rests on the signed log, not on a file beside it. DIR/archives.json, where
// earlier releases kept that list, is no longer read (`custos retention status` says so when present).

import {
  decodeOperatorActionEntry,
  ENTRY_KINDS,
  hourOf,
  OPERATOR_ACTIONS_LOOKUP_KEY,
} from "../../core/entry/index.js";
import { toHex } from "../../core/index.js";
import type { LedgerStore } from "../../ledger/index.js";

/** Where earlier releases kept the list of archives (no longer trusted nor read). */
export const ARCHIVES_FILE_NAME = "archives.json";

export interface ArchivedRange {
  /** The log index of the `archive` operator action. */
  readonly index: number;
  /** Who made it (identity URI, or the local account), and whether the entry carries their signature. */
  readonly operator: string;
  readonly signed: boolean;
  /** SHA-256 of the whole archive file, hex. */
  readonly sha256: string;
  /** Records whose hour lies in [hourOf(from), to) are in it... */
  readonly from: number;
  readonly to: number;
  /** ...when their index is below this log size (its anchor checkpoint's). */
  readonly size: number;
  readonly records: number;
  readonly readers: readonly string[];
  /** When the entry says it was made (ms). */
  readonly time: number;
}

const PAGE = 4096;

/** The archives recorded in the log, in log order (entries that do not decode are left out). */
export async function archivedRanges(store: LedgerStore): Promise<ArchivedRange[]> {
  const ranges: ArchivedRange[] = [];
  for (let fromIndex = 0; ; ) {
    const page = await store.entriesByLookupKey({ key: OPERATOR_ACTIONS_LOOKUP_KEY, fromIndex, limit: PAGE });
    for (const stored of page) {
      if (stored.data[1] !== ENTRY_KINDS.operatorAction) continue;
      let action: ReturnType<typeof decodeOperatorActionEntry>;
      try {
        action = decodeOperatorActionEntry(stored.data);
      } catch {
        continue; // custos verify names an unreadable operator action
      }
      const a = action.archive;
      if (action.action !== "archive" || a === undefined) continue;
      ranges.push({
        index: stored.index,
        operator: action.operator,
        signed: action.signed !== undefined,
        sha256: toHex(a.fileHash),
        from: a.from,
        to: a.to,
        // An archive cannot hold entries appended after the entry recording it.
        size: Math.min(a.size, stored.index),
        records: a.records,
        readers: a.readers,
        time: action.time,
      });
    }
    if (page.length < PAGE) return ranges;
    fromIndex = page[page.length - 1]!.index + 1;
  }
}

/** Whether some recorded archive holds the record at this index whose hour is `hour`. */
export function isArchived(ranges: readonly ArchivedRange[], index: number, hour: number): boolean {
  return ranges.some((a) => index < a.size && hour >= hourOf(a.from) && hour < a.to);
}
