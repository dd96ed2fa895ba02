// The archives a node has made and verified (DIR/archives.json, docs/formats.md): which time range
// each covers and up to which log size, so that retention with `requireArchive` expires an epoch only
// when a verified archive holds every one of its records. `custos archive` adds an archive here only
// after reading the written file back and verifying it with the log's verifier key.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hourOf } from "../../core/entry/index.js";
import { CustosError } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";

export const ARCHIVES_FILE_NAME = "archives.json";

export interface ArchivedRange {
  /** Where it was written (informational: the file may since have been moved off the machine). */
  readonly file: string;
  /** SHA-256 of the whole file, hex. */
  readonly sha256: string;
  /** Records whose hour lies in [hourOf(from), to) are in it... */
  readonly from: number;
  readonly to: number;
  /** ...when their index is below this log size (its anchor checkpoint's). */
  readonly size: number;
  readonly records: number;
  readonly verifiedAt: number;
}

function valid(value: unknown): value is ArchivedRange {
  const a = value as Partial<ArchivedRange> | null;
  return (
    typeof a === "object" &&
    a !== null &&
    typeof a.file === "string" &&
    typeof a.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(a.sha256) &&
    [a.from, a.to, a.size, a.records, a.verifiedAt].every((n) => Number.isSafeInteger(n))
  );
}

export function readArchivedRanges(dir: string): ArchivedRange[] {
  const path = join(dir, ARCHIVES_FILE_NAME);
  if (!existsSync(path)) return [];
  try {
    const json = JSON.parse(readFileSync(path, "utf8")) as { archives?: unknown };
    if (!Array.isArray(json.archives) || !json.archives.every(valid)) throw new Error("malformed");
    return json.archives;
  } catch (error) {
    throw new CustosError(
      "CONFIG",
      `${path} is not a valid list of archives; restore it from a backup or make the archives again`,
      { cause: error },
    );
  }
}

export function addArchivedRange(dir: string, range: ArchivedRange): void {
  const archives = [...readArchivedRanges(dir).filter((a) => a.sha256 !== range.sha256), range];
  writeFileAtomic(join(dir, ARCHIVES_FILE_NAME), `${JSON.stringify({ archives }, null, 2)}\n`, {
    mode: 0o600,
  });
}

/** Whether some verified archive holds the record at this index whose hour is `hour`. */
export function isArchived(ranges: readonly ArchivedRange[], index: number, hour: number): boolean {
  return ranges.some((a) => index < a.size && hour >= hourOf(a.from) && hour < a.to);
}
