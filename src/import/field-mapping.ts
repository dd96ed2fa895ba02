// From a row's column names (or a JSON object's keys) to record fields, and from one row's values to
// one validated record. A reason never repeats a value from the input, so no patient or user ID can
// leak into a summary.

import type { Action, Outcome } from "../core/record/index.js";
import {
  type AuditRecord,
  type AuditRecordInput,
  InvalidRecordError,
  parseAuditRecord,
} from "../core/record/index.js";
import { parseImportTimestamp } from "./timestamps.js";

/** Record fields an import fills (a source's FHIR resource comes only as FHIR). */
export type Field = Exclude<keyof AuditRecordInput, "fhir">;

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
  networkAddress: [
    "network_address",
    "ip",
    "ip_address",
    "client_ip",
    "source_ip",
    "remote_addr",
    "workstation",
    "host",
    "hostname",
  ],
  resourceType: ["resource_type", "object_type", "record_type", "data_type"],
  resourceId: ["resource_id", "object_id", "record_id", "document_id"],
  // A bare "username" column stays the user's ID (what most exports mean by it) unless a better user
  // ID column is present; then it is the display name (see mapNames).
  userName: [
    "user_display_name",
    "display_name",
    "user_full_name",
    "full_name",
    "staff_name",
    "employee_name",
  ],
  userRole: ["user_role", "role", "job_title", "position"],
  department: ["department", "dept", "unit", "ward"],
  query: ["query", "query_text", "search_query", "request_query"],
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

/** Where each field's value comes from: a column index (CSV) or a key (JSON). */
export interface FieldMap<K> {
  readonly columns: ReadonlyMap<Field, K>;
  /** Separate date and time-of-day columns, joined for the timestamp. */
  readonly dateAndTime?: { readonly date: K; readonly time: K };
  readonly ignored: readonly string[];
}

const TIME_RANK = FIELD_SYNONYMS.time.indexOf("time");
const DATE_RANK = FIELD_SYNONYMS.time.indexOf("date");

export function mapNames<K>(entries: Iterable<readonly [string, K]>): FieldMap<K> {
  const hits: { field: Field; rank: number; ref: K; name: string }[] = [];
  const ignored: string[] = [];
  for (const [name, ref] of entries) {
    // Our own field name spelled exactly means that field even where a synonym says another (so
    // `userName` is the display name while `username` stays the ID).
    const own = Object.hasOwn(FIELD_SYNONYMS, name.trim()) ? (name.trim() as Field) : undefined;
    const synonym = FIELD_BY_NAME.get(normalizeName(name));
    const hit = own && synonym?.field !== own ? { field: own, rank: -1 } : synonym;
    if (hit) hits.push({ ...hit, ref, name });
    else ignored.push(printableName(name));
  }
  // The most preferred name wins; on a tie, the first column.
  const best = new Map<Field, (typeof hits)[number]>();
  for (const hit of hits) {
    const current = best.get(hit.field);
    if (!current || hit.rank < current.rank) best.set(hit.field, hit);
  }
  // "User Name" beside a better user ID column ("User ID") is the user's name.
  const userName = hits.find((h) => h.field === "userId" && normalizeName(h.name) === "username");
  if (userName && best.get("userId") !== userName && !best.has("userName")) {
    userName.field = "userName";
    best.set("userName", userName);
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
export function getter<K>(map: FieldMap<K>, value: (ref: K) => unknown): (field: Field) => unknown {
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

export function missingColumns(map: FieldMap<unknown>): string[] {
  return REQUIRED.filter((f) => !map.columns.has(f)).map(
    (f) => `${label(f)} (one of ${FIELD_SYNONYMS[f].join(", ")})`,
  );
}

export interface RowOptions {
  /** Offset for timestamps without a zone: `Z` (default) or `+HH:MM`. */
  readonly timezoneOffset?: string;
  /** Recorded as the record's sourceSystem where the row names none. */
  readonly sourceSystem?: string;
}

export type RowResult = { readonly record: AuditRecord } | { readonly reason: string };

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
export function toRecord(get: (field: Field) => unknown, options: RowOptions): RowResult {
  try {
    const input: Record<string, unknown> = {};
    const time = text(get("time"), "time");
    if (time !== undefined) {
      const iso = parseImportTimestamp(time, options.timezoneOffset);
      if (iso === undefined)
        return { reason: "timestamp: not a date and time (expected ISO 8601 or YYYY-MM-DD HH:MM:SS)" };
      input.time = iso;
    }
    for (const field of [
      "patientId",
      "userId",
      "sourceEventId",
      "purposeOfUse",
      "sourceSystem",
      "networkAddress",
      "resourceType",
      "resourceId",
      "userName",
      "userRole",
      "department",
      "query",
    ] as const) {
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
