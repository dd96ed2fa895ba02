// Reads the plaintext audit logs hospital systems export (CSV per RFC 4180, a JSON array of objects,
// or NDJSON) into validated AuditRecords. Input arrives in chunks and only the row being read is held,
// so a file of millions of rows never sits in memory. Every row becomes a record or a rejection naming
// its row, its line and one reason; a reason never repeats a value from the input, so no patient or
// user ID can leak into a summary. Only a file-level problem (a header without the required columns,
// input that is not UTF-8) throws, as a CustosError.

import { CustosError } from "../errors.js";
import {
  type AuditRecord,
  type AuditRecordInput,
  InvalidRecordError,
  parseAuditRecord,
  parseIsoTime,
} from "./audit-record.js";
import type { Action, Outcome } from "./vocabulary.js";

export const IMPORT_FORMATS = ["csv", "json", "auto"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

type Field = keyof AuditRecordInput;

/**
 * Column names (or JSON keys) accepted for each record field, most preferred first; the first is the
 * name used in rejection reasons. Names are compared after lower-casing and dropping spaces, `_`, `-`
 * and `.`, so `User ID`, `user_id`, `userId` and `USER-ID` are the same column.
 */
export const FIELD_SYNONYMS = {
  time: ["timestamp", "datetime", "event_time", "event_timestamp", "time", "date"],
  userId: ["user", "user_id", "username"],
  action: ["action", "event", "activity", "operation", "event_type"],
  patientId: ["patient", "patient_id", "mrn", "resource", "subject"],
  sourceEventId: ["event_id", "id", "source_event_id"],
  purposeOfUse: ["reason", "purpose", "purpose_of_use"],
  outcome: ["outcome", "result"],
  emergency: ["emergency", "break_glass", "btg"],
  sourceSystem: ["source", "system", "source_system"],
  detail: ["detail", "details"],
} as const satisfies Record<Field, readonly string[]>;

/** Words hospital systems use for an access, mapped to our vocabulary (compared lower-cased). */
export const ACTION_SYNONYMS = {
  query: ["query", "view", "read", "open", "search", "access", "lookup", "display"],
  change: ["change", "update", "edit", "modify", "amend"],
  create: ["create", "insert", "add", "new"],
  delete: ["delete", "remove"],
  copy: ["copy", "export", "download"],
  print: ["print"],
} as const satisfies Record<Action, readonly string[]>;

/** Outcome words, including FHIR AuditEvent.outcome codes (0, 4, 8, 12). */
export const OUTCOME_SYNONYMS = {
  success: ["success", "succeeded", "successful", "ok", "0"],
  "minor-failure": ["minor-failure", "failure", "failed", "fail", "denied", "4"],
  "serious-failure": ["serious-failure", "8"],
  "major-failure": ["major-failure", "12"],
} as const satisfies Record<Outcome, readonly string[]>;

/** How an emergency (break-the-glass) flag may be written. */
export const BOOLEAN_WORDS = {
  true: ["true", "yes", "y", "1", "t"],
  false: ["false", "no", "n", "0", "f"],
} as const;

/** Rows (or JSON records) longer than this are rejected rather than buffered. */
export const MAX_ROW_CHARS = 64 * 1024;

const normalizeName = (name: string): string =>
  name
    .trim()
    .toLowerCase()
    .replace(/[\s_.-]+/g, "");

function invert<K extends string>(table: Readonly<Record<K, readonly string[]>>): Map<string, K> {
  const map = new Map<string, K>();
  for (const [key, words] of Object.entries(table) as [K, readonly string[]][])
    for (const word of words) map.set(word, key);
  return map;
}

const FIELD_BY_NAME = (() => {
  const map = new Map<string, { field: Field; rank: number }>();
  for (const [field, names] of Object.entries(FIELD_SYNONYMS) as [Field, readonly string[]][]) {
    names.forEach((name, rank) => {
      map.set(normalizeName(name), { field, rank });
    });
    // Our own field names (patientId, sourceEventId, ...) are accepted too, so our JSON imports as is.
    if (!map.has(normalizeName(field))) map.set(normalizeName(field), { field, rank: names.length });
  }
  return map;
})();
const ACTION_BY_WORD = invert<Action>(ACTION_SYNONYMS);
const OUTCOME_BY_WORD = invert<Outcome>(OUTCOME_SYNONYMS);
const BOOLEAN_BY_WORD = invert<"true" | "false">(BOOLEAN_WORDS);

/** The name a field goes by in rejection reasons. */
const label = (field: Field): string => FIELD_SYNONYMS[field][0];

const REQUIRED: readonly Field[] = ["time", "userId", "action", "patientId"];

// --- Timestamps ---------------------------------------------------------------------------------

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

// --- Mapping names to fields ---------------------------------------------------------------------

/** Where each field's value comes from: a column index (CSV) or a key (JSON). */
interface FieldMap<K> {
  readonly columns: ReadonlyMap<Field, K>;
  /** Separate date and time-of-day columns, joined for the timestamp. */
  readonly dateAndTime?: { readonly date: K; readonly time: K };
  readonly ignored: readonly string[];
}

const TIME_RANK = FIELD_SYNONYMS.time.indexOf("time");
const DATE_RANK = FIELD_SYNONYMS.time.indexOf("date");

function mapNames<K>(entries: Iterable<readonly [string, K]>): FieldMap<K> {
  const hits: { field: Field; rank: number; ref: K; name: string }[] = [];
  const ignored: string[] = [];
  for (const [name, ref] of entries) {
    const hit = FIELD_BY_NAME.get(normalizeName(name));
    if (hit) hits.push({ ...hit, ref, name });
    else ignored.push(printableName(name));
  }
  // The most preferred name wins; on a tie, the first column.
  const best = new Map<Field, (typeof hits)[number]>();
  for (const hit of hits) {
    const current = best.get(hit.field);
    if (!current || hit.rank < current.rank) best.set(hit.field, hit);
  }
  const time = best.get("time");
  const date = hits.find((h) => h.field === "time" && h.rank === DATE_RANK);
  const timeOfDay = hits.find((h) => h.field === "time" && h.rank === TIME_RANK);
  const dateAndTime =
    time && time.rank >= TIME_RANK && date && timeOfDay ? { date: date.ref, time: timeOfDay.ref } : undefined;
  for (const hit of hits) {
    const used = best.get(hit.field) === hit || (dateAndTime && (hit === date || hit === timeOfDay));
    if (!used) ignored.push(printableName(hit.name));
  }
  const columns = new Map<Field, K>([...best].map(([field, hit]) => [field, hit.ref]));
  return dateAndTime ? { columns, dateAndTime, ignored } : { columns, ignored };
}

/** Reads a field's value through a map; separate date and time columns are joined. */
function getter<K>(map: FieldMap<K>, value: (ref: K) => unknown): (field: Field) => unknown {
  return (field) => {
    if (field === "time" && map.dateAndTime)
      return joinDateAndTime(value(map.dateAndTime.date), value(map.dateAndTime.time));
    const ref = map.columns.get(field);
    return ref === undefined ? undefined : value(ref);
  };
}

function joinDateAndTime(date: unknown, time: unknown): unknown {
  const d = typeof date === "string" ? date.trim() : date;
  const t = typeof time === "string" ? time.trim() : time;
  // A "time" column that holds a whole timestamp is used alone.
  if (typeof t === "string" && /^\d{4}-/.test(t)) return t;
  if (typeof d === "string" && d.length > 0 && typeof t === "string" && t.length > 0) return `${d} ${t}`;
  return d === "" || d === undefined || d === null ? t : d;
}

/** Column names go into summaries: printable, short. */
function printableName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, "?").trim();
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean || "(unnamed)";
}

function missingColumns(map: FieldMap<unknown>): string[] {
  return REQUIRED.filter((f) => !map.columns.has(f)).map(
    (f) => `${label(f)} (one of ${FIELD_SYNONYMS[f].join(", ")})`,
  );
}

// --- One row to one record -----------------------------------------------------------------------

export interface RowOptions {
  /** Offset for timestamps without a zone: `Z` (default) or `+HH:MM`. */
  readonly timezoneOffset?: string;
  /** Recorded as the record's sourceSystem where the row names none. */
  readonly sourceSystem?: string;
}

type RowResult = { readonly record: AuditRecord } | { readonly reason: string };

class RowError extends Error {}

function text(value: unknown, field: Field): string | undefined {
  if (value === undefined || value === null) return undefined;
  let s: string;
  if (typeof value === "string") s = value;
  else if (typeof value === "number" && Number.isFinite(value) && field !== "time") s = String(value);
  else throw new RowError(`${label(field)}: expected text`);
  s = s.trim();
  return s.length === 0 ? undefined : s;
}

/** Builds and validates one record from a row's values (by field). */
function toRecord(get: (field: Field) => unknown, options: RowOptions): RowResult {
  try {
    const input: Record<string, unknown> = {};
    const time = text(get("time"), "time");
    if (time !== undefined) {
      const iso = parseImportTimestamp(time, options.timezoneOffset);
      if (iso === undefined)
        return { reason: "timestamp: not a date and time (expected ISO 8601 or YYYY-MM-DD HH:MM:SS)" };
      input.time = iso;
    }
    for (const field of ["patientId", "userId", "sourceEventId", "purposeOfUse", "sourceSystem"] as const) {
      const value = text(get(field), field);
      if (value !== undefined) input[field] = value;
    }
    if (input.sourceSystem === undefined && options.sourceSystem !== undefined)
      input.sourceSystem = options.sourceSystem;
    const detail = get("detail");
    // Windows exports break lines inside a quoted field with CRLF; the record keeps plain newlines.
    if (typeof detail === "string" && detail.trim().length > 0) input.detail = detail.replace(/\r\n?/g, "\n");
    else if (detail !== undefined && detail !== null && typeof detail !== "string")
      return { reason: "detail: expected text" };
    const action = text(get("action"), "action");
    if (action !== undefined) {
      const mapped = ACTION_BY_WORD.get(action.toLowerCase());
      if (mapped === undefined) return { reason: "action: not a recognised action word" };
      input.action = mapped;
    }
    const outcome = text(get("outcome"), "outcome");
    if (outcome !== undefined) {
      const mapped = OUTCOME_BY_WORD.get(outcome.toLowerCase());
      if (mapped === undefined) return { reason: "outcome: not a recognised outcome word" };
      input.outcome = mapped;
    }
    const emergency = get("emergency");
    if (typeof emergency === "boolean") input.emergency = emergency;
    else {
      const word = text(emergency, "emergency");
      if (word !== undefined) {
        const mapped = BOOLEAN_BY_WORD.get(word.toLowerCase());
        if (mapped === undefined) return { reason: "emergency: expected yes/no, true/false or 1/0" };
        input.emergency = mapped === "true";
      }
    }
    return { record: parseAuditRecord(input) };
  } catch (error) {
    if (error instanceof RowError) return { reason: error.message };
    if (error instanceof InvalidRecordError) return { reason: describeIssues(error) };
    throw error;
  }
}

function describeIssues(error: InvalidRecordError): string {
  const names = new Map<string, string>(Object.keys(FIELD_SYNONYMS).map((f) => [f, label(f as Field)]));
  return error.issues
    .map((issue) => {
      const field = issue.path.replace(/^record\.?/, "");
      return `${names.get(field) ?? (field || "record")}: ${issue.message}`;
    })
    .join("; ");
}

// --- The parser ----------------------------------------------------------------------------------

export type ImportRow =
  | { readonly ok: true; readonly row: number; readonly line: number; readonly record: AuditRecord }
  | { readonly ok: false; readonly row: number; readonly line: number; readonly reason: string };

export interface ImportOptions extends RowOptions {
  readonly format?: ImportFormat;
  /** Longest row (or JSON record) accepted, in characters; default MAX_ROW_CHARS. */
  readonly maxRowChars?: number;
}

export type DetectedFormat = "csv" | "json-array" | "ndjson";

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const DELIMITERS = [",", ";", "\t", "|"] as const;

type CsvScan =
  | { readonly kind: "incomplete" }
  | { readonly kind: "record"; readonly fields: string[]; readonly end: number; readonly breaks: number }
  | { readonly kind: "malformed"; readonly reason: string };

const INCOMPLETE: CsvScan = { kind: "incomplete" };

/** Line breaks (CRLF, LF or a lone CR) in a quoted field's value. */
function countBreaks(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === LF || (c === CR && value.charCodeAt(i + 1) !== LF)) n++;
  }
  return n;
}

/** RFC 4180 2: one record from `start`; quoted fields may hold delimiters, `""` and line breaks. */
function scanCsvRecord(text: string, start: number, delimiter: number, eof: boolean): CsvScan {
  const fields: string[] = [];
  let i = start;
  let breaks = 0;
  for (;;) {
    let c: number;
    if (text.charCodeAt(i) === QUOTE) {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return eof ? { kind: "malformed", reason: "a quoted field is never closed" } : INCOMPLETE;
        value += text.slice(j, q);
        if (q + 1 >= text.length && !eof) return INCOMPLETE;
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      breaks += countBreaks(value);
      fields.push(value);
      if (i >= text.length) return { kind: "record", fields, end: i, breaks };
      c = text.charCodeAt(i);
      if (c !== delimiter && c !== CR && c !== LF)
        return { kind: "malformed", reason: "text follows a closing quote (an unescaped quote?)" };
    } else {
      let j = i;
      c = Number.NaN;
      while (j < text.length) {
        c = text.charCodeAt(j);
        if (c === delimiter || c === CR || c === LF) break;
        j++;
      }
      if (j >= text.length) {
        if (!eof) return INCOMPLETE;
        fields.push(text.slice(i, j));
        return { kind: "record", fields, end: j, breaks };
      }
      fields.push(text.slice(i, j));
      i = j;
    }
    if (c === delimiter) {
      i++;
      continue;
    }
    // RFC 4180 2.1: CRLF ends a record; a bare LF or CR is accepted too.
    if (c === CR) {
      if (i + 1 >= text.length && !eof) return INCOMPLETE;
      i += text.charCodeAt(i + 1) === LF ? 2 : 1;
    } else i += 1;
    return { kind: "record", fields, end: i, breaks: breaks + 1 };
  }
}

/** RFC 4180: every record of a whole CSV text as its fields (blank lines included as `[""]`). */
export function parseCsv(text: string, delimiter = ","): string[][] {
  if (delimiter.length !== 1) throw new CustosError("BAD_ARGUMENT", "a CSV delimiter is one character");
  const records: string[][] = [];
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (pos < text.length) {
    const scan = scanCsvRecord(text, pos, delimiter.charCodeAt(0), true);
    if (scan.kind !== "record")
      throw new CustosError(
        "INVALID_RECORD",
        `line ${line}: ${scan.kind === "malformed" ? scan.reason : "incomplete"}`,
      );
    records.push(scan.fields);
    line += scan.breaks;
    pos = scan.end;
  }
  return records;
}

/** Picks the delimiter that occurs most often outside quotes in the first line (comma on a tie). */
function detectDelimiter(firstLine: string): number {
  const counts = new Map<string, number>();
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (DELIMITERS as readonly string[]).includes(ch))
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  let best: string = ",";
  for (const d of DELIMITERS) if ((counts.get(d) ?? 0) > (counts.get(best) ?? 0)) best = d;
  return best.charCodeAt(0);
}

/** The end of the physical line starting at `start` (after its line break), or -1 if not yet seen. */
function lineEnd(text: string, start: number, eof: boolean): number {
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) return i + 1;
    if (c === CR) {
      if (i + 1 >= text.length && !eof) return -1;
      return text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
    }
  }
  return eof ? text.length : -1;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A push parser: feed text with `push`, finish with `end`; each call returns the rows completed so far.
 * Synchronous and platform-free; `importRows` wraps it for byte streams.
 */
export class PlaintextImportParser {
  readonly #options: ImportOptions;
  readonly #maxRow: number;
  #format: DetectedFormat | undefined;
  #pending = "";
  #started = false;
  #ended = false;
  /** The physical line (1-based) at which #pending starts. */
  #line = 1;
  #row = 0;
  /** Discarding the rest of a line too long to keep, up to its end. */
  #skippingLine = false;
  // CSV
  #delimiter = 0;
  #csvMap: FieldMap<number> | undefined;
  #width = 0;
  // JSON
  #arrayState: "before" | "inside" | "after" | "done" = "before";
  readonly #jsonMaps = new Map<string, FieldMap<string>>();
  readonly #ignored = new Set<string>();

  constructor(options: ImportOptions = {}) {
    this.#options = options;
    this.#maxRow = options.maxRowChars ?? MAX_ROW_CHARS;
    if (options.timezoneOffset !== undefined && options.timezoneOffset !== "Z")
      parseTimezoneOffset(options.timezoneOffset);
  }

  /** The format read (known once the first non-blank character has arrived). */
  get format(): DetectedFormat | undefined {
    return this.#format;
  }

  /** Column names (or JSON keys) that map to no field, or lost to a preferred one; at most 50. */
  get ignoredColumns(): readonly string[] {
    return [...this.#ignored];
  }

  push(chunk: string): ImportRow[] {
    if (this.#ended) throw new CustosError("INTERNAL", "the import parser has already ended");
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    this.#pending += chunk;
    return this.#drain(false);
  }

  end(): ImportRow[] {
    if (this.#ended) return [];
    const rows = this.#drain(true);
    this.#ended = true;
    this.#pending = "";
    if (this.#format === undefined || (this.#format === "csv" && this.#csvMap === undefined))
      throw new CustosError("INVALID_RECORD", "the input holds no rows");
    return rows;
  }

  #drain(eof: boolean): ImportRow[] {
    const out: ImportRow[] = [];
    if (this.#skippingLine && !this.#skipLine(eof)) return out;
    if (this.#format === undefined && !this.#detect()) return out;
    if (this.#format === "csv") this.#csv(eof, out);
    else if (this.#format === "ndjson") this.#ndjson(eof, out);
    else this.#jsonArray(eof, out);
    return out;
  }

  #detect(): boolean {
    const first = this.#pending.search(/\S/);
    if (first < 0) return false;
    const c = this.#pending[first];
    const format = this.#options.format ?? "auto";
    if (format === "csv") this.#format = "csv";
    else if (c === "[") this.#format = "json-array";
    else if (c === "{") this.#format = "ndjson";
    else if (format === "json")
      throw new CustosError(
        "INVALID_RECORD",
        "the input is not JSON (expected an array of objects, or one object per line)",
      );
    else this.#format = "csv";
    return true;
  }

  /** Drops the rest of an over-long line; true once its end has been reached. */
  #skipLine(eof: boolean): boolean {
    const end = lineEnd(this.#pending, 0, eof);
    if (end < 0) {
      this.#pending = this.#pending.endsWith("\r") ? "\r" : "";
      return false;
    }
    this.#pending = this.#pending.slice(end);
    this.#line += 1;
    this.#skippingLine = false;
    return true;
  }

  #reject(out: ImportRow[], line: number, reason: string): void {
    out.push({ ok: false, row: ++this.#row, line, reason });
  }

  #emit(out: ImportRow[], line: number, get: (field: Field) => unknown): void {
    const result = toRecord(get, this.#options);
    const row = ++this.#row;
    out.push(
      "record" in result
        ? { ok: true, row, line, record: result.record }
        : { ok: false, row, line, reason: result.reason },
    );
  }

  #noteIgnored(names: readonly string[]): void {
    for (const name of names) if (this.#ignored.size < 50) this.#ignored.add(name);
  }

  // CSV ------------------------------------------------------------------------------------------

  #csv(eof: boolean, out: ImportRow[]): void {
    const text = this.#pending;
    let pos = 0;
    while (pos < text.length) {
      if (this.#delimiter === 0) {
        // The delimiter is the one the header line uses most: `,`, `;`, tab or `|`.
        const end = lineEnd(text, pos, eof);
        if (end < 0 && text.length - pos <= this.#maxRow) break;
        const first = text.slice(pos, end < 0 ? text.length : end);
        if (end >= 0 && first.trim().length === 0) {
          pos = end;
          this.#line += 1;
          continue;
        }
        this.#delimiter = detectDelimiter(first);
      }
      const scan = scanCsvRecord(text, pos, this.#delimiter, eof);
      if (scan.kind === "incomplete" && text.length - pos <= this.#maxRow) break;
      if (scan.kind !== "record") {
        const reason =
          scan.kind === "malformed"
            ? scan.reason
            : `the row is longer than ${this.#maxRow} characters (an unclosed quote?)`;
        if (this.#csvMap === undefined)
          throw new CustosError(
            "INVALID_RECORD",
            `the CSV header (line ${this.#line}) is malformed: ${reason}`,
          );
        // Reject the row's first line only and read on from the next: a stray quote costs one row.
        this.#reject(out, this.#line, reason);
        const end = lineEnd(text, pos, eof);
        if (end < 0) {
          this.#skippingLine = true;
          this.#pending = text.endsWith("\r") ? "\r" : "";
          return;
        }
        pos = end;
        this.#line += 1;
        continue;
      }
      const line = this.#line;
      this.#line += scan.breaks;
      pos = scan.end;
      const fields = scan.fields;
      if (fields.every((f) => f.trim().length === 0)) continue;
      if (this.#csvMap === undefined) {
        this.#header(fields, line);
        continue;
      }
      if (fields.length !== this.#width) {
        this.#reject(out, line, `has ${fields.length} fields, the header has ${this.#width}`);
        continue;
      }
      this.#emit(
        out,
        line,
        getter(this.#csvMap, (i) => fields[i]),
      );
    }
    this.#pending = text.slice(pos);
  }

  #header(names: readonly string[], line: number): void {
    const map = mapNames(names.map((name, i) => [name, i] as const));
    const missing = missingColumns(map);
    if (missing.length > 0)
      throw new CustosError(
        "INVALID_RECORD",
        `the CSV header (line ${line}) has no column for ${missing.join("; ")}`,
      );
    this.#csvMap = map;
    this.#width = names.length;
    this.#noteIgnored(map.ignored);
  }

  // NDJSON ---------------------------------------------------------------------------------------

  #ndjson(eof: boolean, out: ImportRow[]): void {
    const text = this.#pending;
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf("\n", pos);
      if (nl < 0 && !eof) {
        if (text.length - pos > this.#maxRow) {
          this.#reject(out, this.#line, `the line is longer than ${this.#maxRow} characters`);
          this.#skippingLine = true;
          this.#pending = "";
          return;
        }
        break;
      }
      const end = nl < 0 ? text.length : nl;
      const line = this.#line;
      this.#line += 1;
      const content = text.slice(pos, end).trim();
      pos = nl < 0 ? text.length : nl + 1;
      if (content.length === 0) continue;
      if (content.length > this.#maxRow) {
        this.#reject(out, line, `the line is longer than ${this.#maxRow} characters`);
        continue;
      }
      this.#jsonValue(out, line, content);
    }
    this.#pending = text.slice(pos);
  }

  #jsonValue(out: ImportRow[], line: number, content: string): void {
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch {
      this.#reject(out, line, "not valid JSON");
      return;
    }
    if (!isObject(value)) {
      this.#reject(out, line, "not a JSON object");
      return;
    }
    const keys = Object.keys(value);
    const signature = keys.join("\u0000");
    let map = this.#jsonMaps.get(signature);
    if (map === undefined) {
      map = mapNames(keys.map((k) => [k, k] as const));
      if (this.#jsonMaps.size >= 64) this.#jsonMaps.clear();
      this.#jsonMaps.set(signature, map);
      this.#noteIgnored(map.ignored);
    }
    const object = value;
    this.#emit(
      out,
      line,
      getter(map, (key) => object[key]),
    );
  }

  // JSON array -----------------------------------------------------------------------------------

  #jsonArray(eof: boolean, out: ImportRow[]): void {
    const text = this.#pending;
    let pos = 0;
    const advance = (to: number): void => {
      for (let i = pos; i < to; i++) if (text.charCodeAt(i) === LF) this.#line++;
      pos = to;
    };
    const skipSpace = (): void => {
      let i = pos;
      while (i < text.length && /\s/.test(text[i]!)) i++;
      advance(i);
    };
    for (;;) {
      skipSpace();
      if (this.#arrayState === "done") {
        pos = text.length;
        break;
      }
      if (pos >= text.length) {
        if (eof && this.#arrayState === "inside")
          this.#reject(out, this.#line, "the input ends inside the JSON array (truncated?)");
        break;
      }
      if (this.#arrayState === "before") {
        advance(pos + 1); // the "[" that made this JSON
        this.#arrayState = "inside";
        skipSpace();
        if (text[pos] === "]") {
          advance(pos + 1);
          this.#arrayState = "after";
        }
        continue;
      }
      if (this.#arrayState === "after") {
        this.#reject(out, this.#line, "text after the end of the JSON array; the rest was not read");
        this.#arrayState = "done";
        continue;
      }
      // One element, up to the "," or "]" at depth 0 outside strings.
      const end = elementEnd(text, pos);
      if (end < 0) {
        if (eof) {
          this.#reject(out, this.#line, "the input ends inside the JSON array (truncated?)");
          this.#arrayState = "done";
        } else if (text.length - pos > this.#maxRow) {
          this.#reject(
            out,
            this.#line,
            `a record is longer than ${this.#maxRow} characters; the rest was not read`,
          );
          this.#arrayState = "done";
        } else break;
        continue;
      }
      const element = text.slice(pos, end).trim();
      const line = this.#line;
      const closing = text[end] === "]";
      advance(end + 1);
      if (element.length === 0) {
        // `[]` (perhaps split across chunks) holds no element; any other empty element is an error.
        if (!closing || this.#row > 0) this.#reject(out, line, "an empty element in the JSON array");
      } else if (element.length > this.#maxRow)
        this.#reject(out, line, `a record is longer than ${this.#maxRow} characters`);
      else this.#jsonValue(out, line, element);
      if (closing) this.#arrayState = "after";
    }
    this.#pending = text.slice(pos);
  }
}

/** Where a JSON array element starting at `start` ends: the "," or "]" at depth 0; -1 if not yet. */
function elementEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i;
      depth--;
    } else if (c === 0x2c && depth === 0) return i;
  }
  return -1;
}

/** Parses a whole text at once (tests, small files). */
export function parsePlaintextImport(text: string, options: ImportOptions = {}): ImportRow[] {
  const parser = new PlaintextImportParser(options);
  return [...parser.push(text), ...parser.end()];
}

/**
 * Rows from a stream of text or UTF-8 byte chunks, as they complete. Bytes that are not UTF-8 stop
 * the import (BAD_ENCODING) rather than becoming replacement characters in an ID.
 */
export async function* importRows(
  chunks: AsyncIterable<string | Uint8Array>,
  parser: PlaintextImportParser,
): AsyncGenerator<ImportRow> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const decode = (bytes?: Uint8Array): string => {
    try {
      return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
    } catch {
      throw new CustosError(
        "BAD_ENCODING",
        "the input is not valid UTF-8 (convert it first, e.g. iconv -f WINDOWS-1252 -t UTF-8)",
      );
    }
  };
  for await (const chunk of chunks) {
    yield* parser.push(typeof chunk === "string" ? chunk : decode(chunk));
  }
  const rest = decode();
  if (rest.length > 0) yield* parser.push(rest);
  yield* parser.end();
}

// --- The summary -----------------------------------------------------------------------------------

export interface Rejection {
  readonly row: number;
  readonly line: number;
  readonly reason: string;
}

/** Counts an import: rows read, imported, duplicates, rejections (the lowest rows kept, all counted). */
export class ImportTally {
  rowsRead = 0;
  valid = 0;
  imported = 0;
  duplicates = 0;
  rejected = 0;
  readonly firstRejections: Rejection[] = [];
  readonly reasons = new Map<string, number>();
  readonly #keep: number;

  constructor(keep = 20) {
    this.#keep = keep;
  }

  reject(rejection: Rejection): void {
    this.rejected++;
    // Rows refused at storage are known after later rows were read: keep the lowest row numbers.
    const kept = this.firstRejections;
    if (kept.length < this.#keep || rejection.row < kept[kept.length - 1]!.row) {
      let at = kept.length;
      while (at > 0 && kept[at - 1]!.row > rejection.row) at--;
      kept.splice(at, 0, rejection);
      if (kept.length > this.#keep) kept.pop();
    }
    this.reasons.set(rejection.reason, (this.reasons.get(rejection.reason) ?? 0) + 1);
  }

  /** Reasons with their counts, most frequent first. */
  reasonCounts(): { reason: string; count: number }[] {
    return [...this.reasons]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }
}
