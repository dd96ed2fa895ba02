// What the page shows, as files a person keeps or hands on: CSV (RFC 4180, guarded against formula
// injection when opened in a spreadsheet), JSON (with the checkpoint it was verified against), and a
// FHIR R4 Bundle of AuditEvents in the BALP shape (the project's own mapping, which imports back).

import { recordToAuditEvent } from "../../../src/core/record/fhir-audit-event.js";
import type { AccessRow, NoticeRow, VerificationStatus } from "./types.js";

export type ExportFormat = "csv" | "json" | "fhir";

export interface ExportFile {
  readonly filename: string;
  readonly mimeType: string;
  readonly text: string;
}

/**
 * A spreadsheet reads a cell starting with = + - @ (or tab / CR, which some strip first) as a formula
 * (OWASP "CSV Injection"). A spreadsheet may also split a cell on a separator other than the comma
 * (LibreOffice offers `;`, tab and `|`, and some locales default to `;`), and then each part is a cell
 * of its own. So every cell is quoted, and the cell and every part after such a separator that starts
 * like a formula get an apostrophe in front, which shows them as text whatever the separator.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const SEPARATED_FORMULA = /([,;|\t])(?=[=+\-@\t\r])/g;

/** One CSV field: formula-guarded (the cell and each separated part), then quoted (RFC 4180 2.5-2.7). */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '""';
  let text = String(value);
  if (typeof value === "string") {
    text = text.replace(SEPARATED_FORMULA, "$1'");
    if (FORMULA_START.test(text)) text = `'${text}`;
  }
  return `"${text.replace(/"/g, '""')}"`;
}

/** RFC 4180: CRLF between records, a header line first. */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const line = (cells: readonly unknown[]) =>
    cells.map((cell) => csvField(cell as string | number | boolean | null | undefined)).join(",");
  return [line(header), ...rows.map(line)].join("\r\n") + "\r\n";
}

const ACCESS_COLUMNS = [
  "logIndex",
  "time",
  "patientId",
  "userId",
  "action",
  "emergency",
  "purposeOfUse",
  "outcome",
  "sourceSystem",
  "sourceEventId",
  "detail",
  "userName",
  "userRole",
  "department",
  "networkAddress",
  "resourceType",
  "resourceId",
] as const;

export function accessesToCsv(rows: readonly AccessRow[]): string {
  return toCsv(
    ACCESS_COLUMNS,
    rows.map(({ index, patientId, record }) => [
      index,
      record.time,
      patientId ?? record.patientId,
      record.userId,
      record.action,
      record.emergency === true,
      record.purposeOfUse,
      record.outcome,
      record.sourceSystem,
      record.sourceEventId,
      record.detail,
      record.userName,
      record.userRole,
      record.department,
      record.networkAddress,
      record.resourceType,
      record.resourceId,
    ]),
  );
}

const NOTICE_COLUMNS = [
  "logIndex",
  "kind",
  "time",
  "requester",
  "role",
  "operation",
  "reason",
  "returned",
  "patientId",
] as const;

export function noticesToCsv(rows: readonly NoticeRow[]): string {
  return toCsv(
    NOTICE_COLUMNS,
    rows.map((n) => [
      n.index,
      n.kind,
      n.time,
      n.requester,
      n.role,
      n.operation,
      n.reason,
      n.returned,
      n.patientId,
    ]),
  );
}

function verifiedAgainst(status: VerificationStatus | undefined) {
  return status
    ? {
        verifiedAgainst: {
          size: status.size,
          checkpoint: status.note,
          cosigned: status.cosigned.map((c) => ({ name: c.name, time: new Date(c.time).toISOString() })),
          quorum: status.quorum,
        },
      }
    : {};
}

/** JSON with the checkpoint the rows were verified against, so the file says what it rests on. */
export function accessesToJson(
  rows: readonly AccessRow[],
  status?: VerificationStatus,
  exportedAt = new Date(),
): string {
  const accesses = rows.map(({ index, patientId, record }) => ({
    logIndex: index,
    ...record,
    patientId: patientId ?? record.patientId,
  }));
  return `${JSON.stringify({ exportedAt: exportedAt.toISOString(), ...verifiedAgainst(status), accesses }, null, 2)}\n`;
}

export function noticesToJson(
  rows: readonly NoticeRow[],
  status?: VerificationStatus,
  exportedAt = new Date(),
): string {
  // The patient's tag stays out of the file: it would pick that patient's entries out of the log.
  const notices = rows.map(({ index, patientTag: _tag, ...notice }) => ({ logIndex: index, ...notice }));
  return `${JSON.stringify({ exportedAt: exportedAt.toISOString(), ...verifiedAgainst(status), notices }, null, 2)}\n`;
}

/**
 * A FHIR R4 `collection` Bundle of AuditEvents (BALP), one per row; each entry's fullUrl names its log
 * entry. bundleToRecords (src/core/record/fhir-audit-event.ts) reads it back to the same records.
 */
export function accessesToFhirBundle(
  rows: readonly AccessRow[],
  exportedAt = new Date(),
): Record<string, unknown> {
  return {
    resourceType: "Bundle",
    type: "collection",
    timestamp: exportedAt.toISOString(),
    entry: rows.map(({ index, record }) => ({
      fullUrl: `urn:custos:log-entry:${index}`,
      // No resource id of our own: an importer reads AuditEvent.id as the source's event ID.
      resource: recordToAuditEvent(record),
    })),
  };
}

function stamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[:T]/g, "-");
}

/** The file the page offers for download. */
export function exportAccesses(
  rows: readonly AccessRow[],
  format: ExportFormat,
  status?: VerificationStatus,
  exportedAt = new Date(),
): ExportFile {
  const name = `custos-accesses-${stamp(exportedAt)}`;
  switch (format) {
    case "csv":
      return { filename: `${name}.csv`, mimeType: "text/csv;charset=utf-8", text: accessesToCsv(rows) };
    case "json":
      return {
        filename: `${name}.json`,
        mimeType: "application/json",
        text: accessesToJson(rows, status, exportedAt),
      };
    case "fhir":
      return {
        filename: `${name}.fhir.json`,
        mimeType: "application/fhir+json",
        text: `${JSON.stringify(accessesToFhirBundle(rows, exportedAt), null, 2)}\n`,
      };
  }
}

/** Notices as CSV or JSON (a notice has no FHIR mapping of its own yet). */
export function exportNotices(
  rows: readonly NoticeRow[],
  format: Exclude<ExportFormat, "fhir">,
  status?: VerificationStatus,
  exportedAt = new Date(),
): ExportFile {
  const name = `custos-notices-${stamp(exportedAt)}`;
  return format === "csv"
    ? { filename: `${name}.csv`, mimeType: "text/csv;charset=utf-8", text: noticesToCsv(rows) }
    : {
        filename: `${name}.json`,
        mimeType: "application/json",
        text: noticesToJson(rows, status, exportedAt),
      };
}
