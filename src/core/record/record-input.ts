// Reads audit records the way EHRs export them: one JSON record, a JSON array, NDJSON, a FHIR R4
// AuditEvent or a Bundle of them. Every record is validated before anything is stored; the first bad
// one is named by its position and field.

import { fromUtf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import {
  type AuditRecord,
  auditEventToRecord,
  bundleToRecords,
  encodeRecord,
  InvalidRecordError,
  parseAuditRecord,
} from "./index.js";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fromValue(value: unknown, position: string): AuditRecord[] {
  try {
    if (isObject(value) && value.resourceType === "Bundle") return bundleToRecords(value);
    if (isObject(value) && value.resourceType === "AuditEvent") return [auditEventToRecord(value)];
    return [withConsistentSource(parseAuditRecord(value))];
  } catch (error) {
    if (error instanceof CustosError)
      throw new CustosError(error.code, `${position}: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * A record in our JSON may carry the source's AuditEvent (`fhir`, as our export prints it) only if that
 * event maps to the very same record: the export returns the event, so it must not say otherwise.
 */
function withConsistentSource(record: AuditRecord): AuditRecord {
  if (!record.fhir) return record;
  const mapped = auditEventToRecord(record.fhir);
  // A record printed before records kept the query lacks the query its event carries: still the same.
  const { query: _, ...withoutQuery } = mapped;
  const same = (other: AuditRecord) => fromUtf8(encodeRecord(other)) === fromUtf8(encodeRecord(record));
  if (record.query === undefined && mapped.query !== undefined && same(withoutQuery)) return mapped;
  if (!same(mapped)) {
    const message = "does not map to this record's fields; send the AuditEvent itself";
    throw new InvalidRecordError(`record.fhir: ${message}`, [{ path: "record.fhir", message }]);
  }
  return record;
}

/** Records from an already parsed JSON value: one record, an array, an AuditEvent or a Bundle. */
export function parseRecordValue(value: unknown): AuditRecord[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw new CustosError("INVALID_RECORD", "the input holds no records");
    return value.flatMap((item, i) => fromValue(item, `record ${i + 1}`));
  }
  return fromValue(value, "record 1");
}

export function parseRecordInput(text: string): AuditRecord[] {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new CustosError("INVALID_RECORD", "the input holds no records");
  let whole: unknown;
  let isWhole = true;
  try {
    whole = JSON.parse(trimmed);
  } catch {
    isWhole = false;
  }
  if (isWhole) {
    if (Array.isArray(whole)) return whole.flatMap((value, i) => fromValue(value, `record ${i + 1}`));
    return fromValue(whole, "record 1");
  }
  const records: AuditRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim().length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CustosError("INVALID_RECORD", `line ${i + 1}: not valid JSON`);
    }
    records.push(...fromValue(value, `line ${i + 1}`));
  });
  return records;
}
