// The audit record an EHR sends, as one zod schema: the single source for validation, the
// TypeScript type and (later) the API's OpenAPI document. Validation is strict (unknown fields are
// rejected) and errors name the field and what was expected, never the value given.

import { z } from "zod";
import { fromUtf8, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { canonicalSourceResource, type JsonObject } from "./source-resource.js";
import { ACTIONS, LIMITS, OUTCOMES } from "./vocabulary.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters other than tab/newline are refused
const TEXT = /^[^\u0000-\u0008\u000b-\u001f\u007f]*$/;
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO 8601 date-time with a zone to ms since the epoch; undefined if invalid. */
export function parseIsoTime(text: string): number | undefined {
  const m = ISO_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  if (year < 1970 || year > 9999 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const local = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(local);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  let offset = 0;
  if (m[8] !== "Z") {
    const sign = m[8]!.startsWith("-") ? -1 : 1;
    const [oh, om] = m[8]!.slice(1).split(":").map(Number) as [number, number];
    if (oh > 23 || om > 59) return undefined;
    offset = sign * (oh * 60 + om) * 60_000;
  }
  return local - offset;
}

/** A new text field: as an ID, and not blank (FHIR strings must hold more than whitespace). */
const wordString = (max: number) => idString(max).regex(/\S/, { error: "must not be blank" });

const idString = (max: number) =>
  z
    .string({ error: "expected a string" })
    .min(1, { error: "must not be empty" })
    .max(max, { error: `must be at most ${max} characters` })
    .regex(NO_CONTROL, { error: "must not contain control characters" });

export const AuditRecordSchema = z
  .object({
    time: z
      .string({ error: "expected an ISO 8601 date-time with a zone, e.g. 2026-11-23T08:15:00Z" })
      .transform((value, ctx) => {
        const ms = parseIsoTime(value);
        if (ms === undefined) {
          ctx.addIssue({
            code: "custom",
            message: "expected an ISO 8601 date-time with a zone (Z or ±hh:mm) between 1970 and 9999",
          });
          return z.NEVER;
        }
        return new Date(ms).toISOString();
      }),
    patientId: idString(LIMITS.id),
    userId: idString(LIMITS.id),
    action: z.enum(ACTIONS, { error: `expected one of ${ACTIONS.join(", ")}` }),
    sourceEventId: idString(LIMITS.id).optional(),
    sourceSystem: idString(LIMITS.sourceSystem).optional(),
    purposeOfUse: idString(LIMITS.purposeOfUse).optional(),
    outcome: z.enum(OUTCOMES, { error: `expected one of ${OUTCOMES.join(", ")}` }).optional(),
    emergency: z.boolean({ error: "expected true or false" }).optional(),
    networkAddress: wordString(LIMITS.networkAddress)
      .describe("IP address or host name of the accessing client")
      .optional(),
    resourceType: wordString(LIMITS.resourceType)
      .describe('type of the accessed resource besides the patient, e.g. "Observation"')
      .optional(),
    resourceId: wordString(LIMITS.id).describe("ID of the accessed resource besides the patient").optional(),
    userName: wordString(LIMITS.userName).describe("the user's display name").optional(),
    userRole: wordString(LIMITS.userRole).describe("the user's role, as a code or text").optional(),
    department: wordString(LIMITS.department).describe("the user's department").optional(),
    query: z
      .string({ error: "expected a string" })
      .min(1, { error: "must not be empty" })
      .max(LIMITS.query, { error: `must be at most ${LIMITS.query} characters` })
      .regex(TEXT, { error: "must not contain control characters other than tab and newline" })
      .regex(/\S/, { error: "must not be blank" })
      .describe(
        'the query the source received, for a search: e.g. "Observation?patient=123&code=8867-4" (BALP\'s query entity)',
      )
      .optional(),
    detail: z
      .string({ error: "expected a string" })
      .max(LIMITS.detail, { error: `must be at most ${LIMITS.detail} characters` })
      .regex(TEXT, { error: "must not contain control characters other than tab and newline" })
      .optional(),
    /** The FHIR AuditEvent the source sent, kept whole (source-resource.ts, docs/fhir-mapping.md). */
    fhir: z
      .record(z.string(), z.unknown(), { error: "expected a FHIR AuditEvent (a JSON object)" })
      .transform((value, ctx): JsonObject => {
        const kept = canonicalSourceResource(value);
        if ("reason" in kept) {
          ctx.addIssue({ code: "custom", message: kept.reason });
          return z.NEVER;
        }
        return kept.resource;
      })
      .describe("the FHIR AuditEvent the source sent (set when it sent FHIR; must map to this record)")
      .optional(),
  })
  .strict();

export type AuditRecord = z.output<typeof AuditRecordSchema>;
export type AuditRecordInput = z.input<typeof AuditRecordSchema>;

export interface RecordIssue {
  readonly path: string;
  readonly message: string;
}

export class InvalidRecordError extends CustosError {
  readonly issues: readonly RecordIssue[];

  constructor(message: string, issues: readonly RecordIssue[]) {
    super("INVALID_RECORD", message);
    this.name = "InvalidRecordError";
    this.issues = issues;
  }
}

function isPresent(input: unknown, path: readonly PropertyKey[]): boolean {
  let value = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return false;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return true;
}

function describeIssues(error: z.ZodError, input: unknown): RecordIssue[] {
  return error.issues.map((issue) => {
    const path = ["record", ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") {
      return { path, message: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}` };
    }
    if (issue.code === "invalid_type" && issue.path.length === 0)
      return { path, message: "expected a JSON object" };
    if (issue.code === "invalid_type" && !isPresent(input, issue.path))
      return { path, message: "is required" };
    return { path, message: issue.message };
  });
}

/** Validates one record; throws InvalidRecordError (INVALID_RECORD) naming the field. */
export function parseAuditRecord(input: unknown): AuditRecord {
  const result = AuditRecordSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = describeIssues(result.error, input);
  throw new InvalidRecordError(issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues);
}

/** Validates records in order; the error names the (1-based) position of the first bad one. */
export function validateAuditRecords(inputs: readonly unknown[]): AuditRecord[] {
  return inputs.map((input, i) => {
    try {
      return parseAuditRecord(input);
    } catch (error) {
      if (error instanceof InvalidRecordError) {
        throw new InvalidRecordError(`record ${i + 1}: ${error.message}`, error.issues);
      }
      throw error;
    }
  });
}

const FIELD_ORDER = [
  "time",
  "patientId",
  "userId",
  "action",
  "sourceEventId",
  "sourceSystem",
  "purposeOfUse",
  "outcome",
  "emergency",
  "detail",
  // Added later (optional; a record without them encodes exactly as before): docs/formats.md.
  "networkAddress",
  "resourceType",
  "resourceId",
  "userName",
  "userRole",
  "department",
  "fhir",
  "query",
] as const;

/** Canonical JSON (fixed key order, absent fields omitted), UTF-8: what gets encrypted. */
export function encodeRecord(record: AuditRecord): Uint8Array {
  const ordered: Record<string, unknown> = {};
  for (const key of FIELD_ORDER) if (record[key] !== undefined) ordered[key] = record[key];
  return utf8(JSON.stringify(ordered));
}

export function decodeRecord(bytes: Uint8Array): AuditRecord {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new CustosError("INVALID_RECORD", "a decrypted record is not valid JSON");
  }
  return parseAuditRecord(value);
}
