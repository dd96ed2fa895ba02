// Timestamps as hospital exports write them: ISO 8601 or `YYYY-MM-DD HH:MM[:SS[.fff]]`, with or
// without a zone; a time without one is read at the offset the operator names.

import { CustosError } from "../core/index.js";
import { parseIsoTime } from "../core/record/index.js";

const OFFSET = /^([+-])(\d{2}):(\d{2})$/;

/** Checks a `--timezone-offset` value (`+HH:MM` or `-HH:MM`, at most 14 hours); returns it. */
export function parseTimezoneOffset(text: string): string {
  const m = OFFSET.exec(text);
  if (!m || Number(m[2]) > 14 || Number(m[3]) > 59 || (Number(m[2]) === 14 && m[3] !== "00")) {
    throw new CustosError("BAD_ARGUMENT", `the timezone offset must be +HH:MM or -HH:MM, got "${text}"`);
  }
  return text;
}

// ISO 8601 (`T`) or the common `YYYY-MM-DD HH:MM[:SS[.fff]]`, with an optional zone.
const LOOSE_TIME =
  /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?) ?(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses an exported timestamp to ISO 8601 UTC; a time without a zone is read at `offset` (`Z` for
 * UTC, or `+HH:MM`). Undefined when it is not a date and time of day between 1970 and 9999.
 */
export function parseImportTimestamp(text: string, offset = "Z"): string | undefined {
  const m = LOOSE_TIME.exec(text.trim().toUpperCase());
  if (!m) return undefined;
  let zone = m[3] ?? offset;
  if (zone === "UTC" || zone === "GMT") zone = "Z";
  else if (zone !== "Z" && !zone.includes(":"))
    zone = zone.length === 3 ? `${zone}:00` : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = parseIsoTime(`${m[1]}T${m[2]!.replace(",", ".")}${zone}`);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
