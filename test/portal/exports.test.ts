import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  accessesToCsv,
  accessesToFhirBundle,
  accessesToJson,
  csvField,
  exportAccesses,
  exportNotices,
  noticesToCsv,
  toCsv,
} from "../../portal/src/lib/exports.js";
import type { AccessRow, NoticeRow } from "../../portal/src/lib/types.js";
import { bundleToRecords } from "../../src/core/record/fhir-audit-event.js";
import { parseAuditRecord } from "../../src/core/record/index.js";

/** A strict RFC 4180 reader for the round trip (CRLF records, quoted fields with "" escapes). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"' && field === "") {
      quoted = true;
      i++;
    } else if (c === ",") {
      record.push(field);
      field = "";
      i++;
    } else if (c === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 2;
    } else {
      if (c === '"' || c === "\r" || c === "\n") throw new Error(`unquoted ${JSON.stringify(c)} at ${i}`);
      field += c;
      i++;
    }
  }
  if (field !== "" || record.length > 0) throw new Error("the last record does not end with CRLF");
  return records;
}

const guarded = (cell: string) => {
  const parts = cell.replace(/([,;|\t])(?=[=+\-@\t\r])/g, "$1'");
  return /^[=+\-@\t\r]/.test(parts) ? `'${parts}` : parts;
};

const row = (index: number, fields: Partial<AccessRow["record"]> = {}): AccessRow => {
  const record = parseAuditRecord({
    time: "2026-03-02T10:00:00Z",
    patientId: "P001",
    userId: "dr.house",
    action: "query",
    ...fields,
  });
  return { index, patientId: record.patientId, record };
};

describe("CSV export (RFC 4180)", () => {
  it("round-trips any text exactly, formula-looking cells prefixed with an apostrophe", () => {
    const cell = fc.oneof(
      fc.string({ unit: "grapheme-composite", maxLength: 20 }),
      fc.constantFrom("=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x", 'a,"b"\r\nc', "", '"'),
      fc.string({
        unit: fc.constantFrom("=", "+", "-", "@", ",", '"', "\r", "\n", "\t", "a", " "),
        maxLength: 8,
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { maxLength: 6 }), (rows) => {
        const width = Math.max(1, ...rows.map((r) => r.length));
        const header = Array.from({ length: width }, (_, i) => `c${i}`);
        const padded = rows.map((r) => [...r, ...Array<string>(width - r.length).fill("")]);
        const parsed = parseCsv(toCsv(header, padded));
        expect(parsed).toEqual([header, ...padded.map((r) => r.map(guarded))]);
        for (const record of parsed) for (const field of record) expect(field).not.toMatch(/^[=+\-@\t\r]/);
      }),
      { numRuns: 500 },
    );
  });

  it("quotes every cell, guards each separated part, and leaves numbers and booleans as they are", () => {
    expect(csvField("plain")).toBe('"plain"');
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField("-2+3")).toBe(`"'-2+3"`);
    expect(csvField("note;=2+5")).toBe(`"note;'=2+5"`);
    expect(csvField("a|@SUM(A1)\t+1,-2")).toBe(`"a|'@SUM(A1)\t'+1,'-2"`);
    expect(csvField(12)).toBe('"12"');
    expect(csvField(true)).toBe('"true"');
    expect(csvField(undefined)).toBe('""');
  });

  it("exports accesses with one header line, CRLF, and a guarded hostile detail", () => {
    const rows = [row(7, { detail: '=cmd|" /C calc"!A0', emergency: true }), row(3, { action: "print" })];
    const parsed = parseCsv(accessesToCsv(rows));
    expect(parsed[0]).toEqual([
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
    ]);
    expect(parsed[1]).toEqual([
      "7",
      "2026-03-02T10:00:00.000Z",
      "P001",
      "dr.house",
      "query",
      "true",
      "",
      "",
      "",
      "",
      `'=cmd|" /C calc"!A0`,
      "",
      "",
      "",
      "",
      "",
      "",
    ]);
    expect(parsed[2]![4]).toBe("print");
  });

  it("exports notices as CSV and JSON", () => {
    const notices: NoticeRow[] = [
      {
        index: 9,
        kind: "refusal",
        time: "2026-03-02T11:00:00Z",
        requester: "custos://stmary/auditor/A9",
        role: "auditor",
        operation: "read-trail",
        reason: "NOT_AUTHORIZED",
      },
    ];
    const parsed = parseCsv(noticesToCsv(notices));
    expect(parsed[1]).toEqual([
      "9",
      "refusal",
      "2026-03-02T11:00:00Z",
      "custos://stmary/auditor/A9",
      "auditor",
      "read-trail",
      "NOT_AUTHORIZED",
      "",
      "",
    ]);
    const json = JSON.parse(exportNotices(notices, "json").text);
    expect(json.notices[0]).toMatchObject({ logIndex: 9, kind: "refusal", reason: "NOT_AUTHORIZED" });
  });
});

describe("JSON and FHIR export", () => {
  const rows = [
    row(12, {
      action: "copy",
      emergency: true,
      purposeOfUse: "ETREAT",
      outcome: "minor-failure",
      sourceSystem: "EHR-1",
      sourceEventId: "ev-1",
      detail: "copied, with a comma",
    }),
    row(11, { action: "change", patientId: "P 002 with spaces" }),
    row(10, { action: "delete", time: "2026-03-01T23:59:59.123+02:00" }),
  ];

  it("a FHIR R4 Bundle of AuditEvents that the project's own import reads back unchanged", () => {
    const bundle = accessesToFhirBundle(rows, new Date("2026-03-03T00:00:00Z"));
    expect(bundle).toMatchObject({ resourceType: "Bundle", type: "collection" });
    const entries = bundle.entry as { fullUrl: string; resource: { resourceType: string } }[];
    expect(entries.map((e) => e.fullUrl)).toEqual([
      "urn:custos:log-entry:12",
      "urn:custos:log-entry:11",
      "urn:custos:log-entry:10",
    ]);
    expect(entries.every((e) => e.resource.resourceType === "AuditEvent")).toBe(true);
    // The fields come back; the import also keeps the event itself (faithful FHIR).
    expect(bundleToRecords(JSON.parse(JSON.stringify(bundle))).map(({ fhir: _, ...rest }) => rest)).toEqual(
      rows.map((r) => r.record),
    );
  });

  it("JSON carries the checkpoint the rows were verified against", () => {
    const status = {
      size: 40,
      note: "e2e.custos.example/log\n40\nabc=\n",
      cosigned: [{ name: "w1", time: Date.parse("2026-03-02T12:00:00Z") }],
      quorum: 1,
      witnessCount: 1,
    };
    const file = exportAccesses(rows, "json", status, new Date("2026-03-03T00:00:00Z"));
    expect(file.filename).toBe("custos-accesses-2026-03-03-00-00-00.json");
    const json = JSON.parse(file.text);
    expect(json.verifiedAgainst).toEqual({
      size: 40,
      checkpoint: status.note,
      cosigned: [{ name: "w1", time: "2026-03-02T12:00:00.000Z" }],
      quorum: 1,
    });
    expect(json.accesses[0]).toMatchObject({ logIndex: 12, action: "copy", patientId: "P001" });
    expect(JSON.parse(accessesToJson(rows)).accesses).toHaveLength(3);
    expect(exportAccesses(rows, "fhir").mimeType).toBe("application/fhir+json");
    expect(exportAccesses(rows, "csv").text.startsWith(`"logIndex","time",`)).toBe(true);
  });
});
