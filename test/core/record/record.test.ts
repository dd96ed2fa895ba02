import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CustosError } from "../../../src/core/errors.js";
import {
  ACTIONS,
  type AuditRecord,
  auditEventToRecord,
  bundleToRecords,
  decodeRecord,
  encodeRecord,
  InvalidRecordError,
  OUTCOMES,
  parseAuditRecord,
  recordsToSearchsetBundle,
  recordToAuditEvent,
  validateAuditRecords,
} from "../../../src/core/record/index.js";

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
const expected = fixture("expected.json") as Record<string, AuditRecord>;

/** The record's mapped fields, without the source's AuditEvent kept beside them. */
const fields = ({ fhir: _fhir, ...rest }: AuditRecord): AuditRecord => rest;

const idArb = fc.stringMatching(/^[A-Za-z0-9.:/_-]{1,40}$/);
const recordArb: fc.Arbitrary<AuditRecord> = fc.record(
  {
    time: fc
      .integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) })
      .map((t) => new Date(t).toISOString()),
    patientId: idArb,
    userId: idArb,
    action: fc.constantFrom(...ACTIONS),
    sourceEventId: idArb,
    sourceSystem: idArb,
    purposeOfUse: fc.constantFrom("TREAT", "ETREAT", "HPAYMT", "HOPERAT"),
    outcome: fc.constantFrom(...OUTCOMES),
    emergency: fc.constant(true),
    detail: fc.stringMatching(/^[ -~\n]{1,80}$/),
    networkAddress: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()),
    resourceType: fc.oneof(fc.constantFrom("Observation", "DocumentReference", "Encounter"), idArb),
    resourceId: idArb,
    userName: fc.stringMatching(/^[ -~]{0,30}[!-~][ -~]{0,29}$/),
    userRole: fc.stringMatching(/^[ -~]{0,20}[!-~][ -~]{0,19}$/),
    department: fc.stringMatching(/^[ -~]{0,20}[!-~][ -~]{0,19}$/),
  },
  { requiredKeys: ["time", "patientId", "userId", "action"] },
);

describe("audit record validation", () => {
  const good = { time: "2026-11-23T08:15:00+02:00", patientId: "P001", userId: "dr.a", action: "query" };

  it("normalizes the time to UTC with milliseconds", () => {
    expect(parseAuditRecord(good).time).toBe("2026-11-23T06:15:00.000Z");
    expect(parseAuditRecord({ ...good, time: "2026-11-23T08:15:00.123456Z" }).time).toBe(
      "2026-11-23T08:15:00.123Z",
    );
  });

  it("names the field and what was expected, without echoing the value", () => {
    const cases: [unknown, RegExp][] = [
      [
        { ...good, action: "peek" },
        /^record\.action: expected one of create, delete, change, query, print, copy$/,
      ],
      [{ ...good, time: "2026-11-23T08:15:00" }, /^record\.time: expected an ISO 8601 date-time with a zone/],
      [{ ...good, time: "2026-02-30T08:15:00Z" }, /^record\.time:/],
      [{ ...good, time: "1969-12-31T23:59:59Z" }, /^record\.time:/],
      [{ ...good, patientId: "" }, /^record\.patientId: must not be empty$/],
      [{ ...good, patientId: "x".repeat(129) }, /^record\.patientId: must be at most 128 characters$/],
      [{ ...good, userId: "bad\u0000id" }, /^record\.userId: must not contain control characters$/],
      [{ ...good, emergency: "yes" }, /^record\.emergency: expected true or false$/],
      [{ ...good, color: "red" }, /^record: unknown field color$/],
      [{ time: good.time, userId: "u", action: "query" }, /^record\.patientId: is required$/],
      ["not an object", /^record: expected a JSON object$/],
    ];
    for (const [input, message] of cases) {
      try {
        parseAuditRecord(input);
        expect.unreachable(JSON.stringify(input));
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidRecordError);
        expect((error as CustosError).code).toBe("INVALID_RECORD");
        expect((error as Error).message).toMatch(message);
        expect((error as Error).message).not.toContain("P001");
      }
    }
  });

  it("names the position of the first bad record in a batch", () => {
    expect(() => validateAuditRecords([good, good, { ...good, action: "x" }])).toThrow(
      /^record 3: record\.action/,
    );
  });

  it("never throws anything but INVALID_RECORD on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          parseAuditRecord(value);
        } catch (error) {
          expect((error as CustosError).code).toBe("INVALID_RECORD");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("round-trips the canonical encoding, with a fixed key order", () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const parsed = parseAuditRecord(record);
        expect(decodeRecord(encodeRecord(parsed))).toEqual(parsed);
        expect(encodeRecord(parsed)).toEqual(
          encodeRecord(parseAuditRecord(JSON.parse(JSON.stringify(record)))),
        );
      }),
    );
    expect(
      new TextDecoder().decode(
        encodeRecord(
          parseAuditRecord({ action: "copy", userId: "u", patientId: "p", time: "2026-01-01T00:00:00Z" }),
        ),
      ),
    ).toBe('{"time":"2026-01-01T00:00:00.000Z","patientId":"p","userId":"u","action":"copy"}');
  });
});

describe("FHIR R4 AuditEvent (IHE BALP)", () => {
  it("maps the AuditEvents EHRs send to the expected records", () => {
    for (const [name, record] of Object.entries(expected)) {
      const mapped = auditEventToRecord(fixture(name));
      expect(fields(mapped), name).toEqual(record);
      // The event is kept whole: an export gives back what the source sent.
      expect(mapped.fhir, name).toEqual(fixture(name));
      expect(recordToAuditEvent(mapped), name).toEqual(fixture(name));
    }
  });

  it("rejects with a clear reason only when the patient or the requesting user cannot be found", () => {
    const event = fixture("minimal-ehr.json") as Record<string, unknown>;
    expect(() => auditEventToRecord({ ...event, entity: [] })).toThrow(/AuditEvent: no patient found/);
    expect(() => auditEventToRecord({ ...event, agent: [{ who: { display: "x" } }] })).toThrow(
      /AuditEvent: no requesting user found/,
    );
    expect(() => auditEventToRecord({ ...event, resourceType: "Patient" })).toThrow(
      /resourceType must be AuditEvent/,
    );
    expect(() => auditEventToRecord({ ...event, recorded: "yesterday" })).toThrow(/record\.time/);
    // A blank name or role is no name: left out, the event still taken.
    const blank = auditEventToRecord({
      ...event,
      agent: [
        { who: { identifier: { value: "u1" }, display: "  " }, role: [{ text: " " }], requestor: true },
      ],
    });
    expect(blank.userName).toBeUndefined();
    expect(blank.userRole).toBeUndefined();
  });

  it("produces AuditEvents that map back to the same record", () => {
    fc.assert(
      fc.property(recordArb, (input) => {
        const record = parseAuditRecord(input);
        const event = recordToAuditEvent(record);
        expect(event.resourceType).toBe("AuditEvent");
        const back = auditEventToRecord(JSON.parse(JSON.stringify(event)));
        expect(fields(back)).toEqual(record);
        expect(recordToAuditEvent(back)).toEqual(event);
        expect(decodeRecord(encodeRecord(back))).toEqual(back);
      }),
      { numRuns: 500 },
    );
  });

  it("exports copy as DICOM 110106 Export and the patient with role 1", () => {
    const event = recordToAuditEvent(
      parseAuditRecord({ time: "2026-11-23T00:00:00Z", patientId: "P1", userId: "u", action: "copy" }),
    );
    expect(event.type).toMatchObject({
      system: "http://dicom.nema.org/resources/ontology/DCM",
      code: "110106",
    });
    expect(event.entity).toEqual([
      expect.objectContaining({
        what: { reference: "Patient/P1" },
        role: expect.objectContaining({ code: "1" }),
      }),
    ]);
    expect(event.agent).toEqual([
      {
        type: { coding: [expect.objectContaining({ code: "humanuser" })] },
        who: { identifier: { value: "u" } },
        requestor: true,
      },
    ]);
  });

  it("reads a Bundle of AuditEvents and names a bad entry; writes a searchset Bundle", () => {
    const bundle = {
      resourceType: "Bundle",
      type: "batch",
      entry: Object.keys(expected).map((name) => ({ resource: fixture(name) })),
    };
    expect(bundleToRecords(bundle).map(fields)).toEqual(Object.values(expected));
    bundle.entry[2] = { resource: { resourceType: "AuditEvent" } as never };
    expect(() => bundleToRecords(bundle)).toThrow(/^Bundle entry 3: AuditEvent: /);
    const searchset = recordsToSearchsetBundle(Object.values(expected), {
      nextUrl: "https://x/AuditEvent?page=2",
    });
    expect(searchset).toMatchObject({
      resourceType: "Bundle",
      type: "searchset",
      total: 6,
      link: [{ relation: "next" }],
    });
  });
});
