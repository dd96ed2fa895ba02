import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AuditRecordSchema,
  auditEventToRecord,
  decodeRecord,
  encodeRecord,
  parseAuditRecord,
  recordToAuditEvent,
} from "../../../src/core/record/index.js";
import { parseRecordValue } from "../../../src/core/record/record-input.js";

const token = fc.stringMatching(/^[A-Za-z0-9.-]{1,20}$/);
const text = fc.stringMatching(/^[ -~]{1,30}$/);
const coding = fc.record(
  { system: fc.constantFrom("http://a.example/cs", "urn:oid:1.2.3"), code: token, display: text },
  { requiredKeys: ["code"] },
);
const agentArb = fc.record(
  {
    type: fc.record({ coding: fc.array(coding, { minLength: 1, maxLength: 2 }) }),
    role: fc.array(fc.record({ coding: fc.array(coding, { maxLength: 2 }), text }), { maxLength: 2 }),
    who: fc.record(
      { identifier: fc.record({ value: token }), display: text },
      { requiredKeys: ["identifier"] },
    ),
    requestor: fc.boolean(),
    network: fc.record({ address: fc.oneof(fc.ipV4(), fc.domain()), type: fc.constantFrom("1", "2") }),
    purposeOfUse: fc.array(fc.record({ coding: fc.array(coding, { minLength: 1, maxLength: 1 }) }), {
      maxLength: 1,
    }),
  },
  { requiredKeys: ["who", "requestor"] },
);
const entityArb = fc.record(
  {
    what: fc.oneof(
      fc.record({
        reference: fc.tuple(fc.constantFrom("Observation", "Encounter"), token).map((p) => p.join("/")),
      }),
      fc.record({ identifier: fc.record({ value: token }) }),
    ),
    type: coding,
    role: coding,
    securityLabel: fc.array(coding, { maxLength: 2 }),
    description: text,
    query: fc.base64String({ minLength: 4, maxLength: 40 }),
  },
  { requiredKeys: ["what"] },
);
/** BALP-like AuditEvents with everything the issue names: action codes, subtypes, agents, entities. */
const eventArb = fc
  .record({
    id: fc.option(token, { nil: undefined }),
    action: fc.constantFrom("C", "R", "U", "D", "E"),
    subtype: fc.array(coding, { maxLength: 3 }),
    recorded: fc
      .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 0, 1) })
      .map((t) => new Date(t).toISOString()),
    outcome: fc.option(fc.constantFrom("0", "4", "8", "12"), { nil: undefined }),
    user: agentArb.map((a) => ({ ...a, requestor: true })),
    others: fc.array(
      agentArb.map((a) => ({ ...a, requestor: false })),
      { maxLength: 2 },
    ),
    entities: fc.array(entityArb, { maxLength: 3 }),
    site: fc.option(text, { nil: undefined }),
    sourceType: fc.array(coding, { maxLength: 2 }),
    observer: fc.oneof(
      token.map((id) => ({ reference: `Device/${id}` })),
      text.map((display) => ({ display })),
    ),
    security: fc.array(coding, { maxLength: 2 }),
    patient: token,
  })
  .map((e) => ({
    resourceType: "AuditEvent",
    ...(e.id ? { id: e.id } : {}),
    ...(e.security.length > 0 ? { meta: { security: e.security } } : {}),
    type: { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest" },
    subtype: e.subtype,
    action: e.action,
    recorded: e.recorded,
    ...(e.outcome ? { outcome: e.outcome } : {}),
    agent: [...e.others, e.user],
    source: {
      ...(e.site ? { site: e.site } : {}),
      observer: e.observer,
      ...(e.sourceType.length > 0 ? { type: e.sourceType } : {}),
    },
    entity: [{ what: { reference: `Patient/${e.patient}` }, role: { code: "1" } }, ...e.entities],
  }));

describe("faithful FHIR: a record keeps the AuditEvent its source sent", () => {
  it("gives back exactly the event that was sent, through sealing's encoding too", () => {
    fc.assert(
      fc.property(eventArb, (event) => {
        const record = auditEventToRecord(JSON.parse(JSON.stringify(event)));
        const opened = decodeRecord(encodeRecord(record));
        expect(opened).toEqual(record);
        expect(recordToAuditEvent(opened)).toEqual(event);
        // Encoding is canonical: the same event with its keys in another order encodes alike.
        const reversed = JSON.parse(JSON.stringify(event, (_k, v) => reorder(v)));
        expect(encodeRecord(auditEventToRecord(reversed))).toEqual(encodeRecord(record));
      }),
      { numRuns: 300 },
    );
  });

  it("keeps a BALP read as action R, with its subtype, entities, agents' networks, site and labels", () => {
    const event = {
      resourceType: "AuditEvent",
      meta: { security: [{ system: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", code: "V" }] },
      type: { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest" },
      subtype: [{ system: "http://hl7.org/fhir/restful-interaction", code: "read" }],
      action: "R",
      recorded: "2026-11-24T07:30:00Z",
      agent: [
        {
          who: { identifier: { value: "u1" } },
          requestor: true,
          network: { address: "10.0.0.9", type: "2" },
        },
      ],
      source: { site: "North", observer: { reference: "Device/d1" }, type: [{ code: "4" }] },
      entity: [
        { what: { reference: "Patient/P9" }, role: { code: "1" } },
        { what: { reference: "DocumentReference/doc-1" }, role: { code: "4" } },
      ],
    };
    const record = auditEventToRecord(event);
    expect(record).toMatchObject({
      action: "query",
      networkAddress: "10.0.0.9",
      resourceType: "DocumentReference",
      resourceId: "doc-1",
    });
    const back = recordToAuditEvent(decodeRecord(encodeRecord(record)), { id: "e-1" });
    expect(back).toEqual({ ...event, id: "e-1" });
  });

  it("accepts our JSON with the event only when the event maps to the same record", () => {
    const event = {
      resourceType: "AuditEvent",
      action: "R",
      recorded: "2026-11-24T07:30:00Z",
      agent: [{ who: { identifier: { value: "u1" } }, requestor: true }],
      source: { observer: { display: "ehr-a" } },
      entity: [{ what: { reference: "Patient/P9" }, role: { code: "1" } }],
    };
    const record = auditEventToRecord(event);
    const json = JSON.parse(JSON.stringify(record));
    expect(parseRecordValue(json)).toEqual([record]);
    expect(() => parseRecordValue({ ...json, patientId: "P10" })).toThrow(
      /record\.fhir: does not map to this record's fields/,
    );
  });

  it("refuses an event too large or too deep to keep, naming why", () => {
    const base = {
      resourceType: "AuditEvent",
      action: "R",
      recorded: "2026-11-24T07:30:00Z",
      agent: [{ who: { identifier: { value: "u1" } }, requestor: true }],
      source: { observer: { display: "ehr-a" } },
      entity: [{ what: { reference: "Patient/P9" }, role: { code: "1" } }],
    };
    expect(() => auditEventToRecord({ ...base, text: { div: "x".repeat(20_000) } })).toThrow(
      /record\.fhir: must be at most 16384 bytes/,
    );
    let deep: unknown = "leaf";
    for (let i = 0; i < 20; i++) deep = { a: deep };
    expect(() => auditEventToRecord({ ...base, extension: [deep] })).toThrow(/record\.fhir: nests deeper/);
  });

  it("encodes every field of the schema, and a record without the new fields as before", () => {
    const all = parseAuditRecord({
      time: "2026-01-01T00:00:00Z",
      patientId: "p",
      userId: "u",
      action: "query",
      sourceEventId: "e",
      sourceSystem: "s",
      purposeOfUse: "TREAT",
      outcome: "success",
      emergency: true,
      detail: "d",
      networkAddress: "10.0.0.1",
      resourceType: "Observation",
      resourceId: "o-1",
      userName: "Dr. A",
      userRole: "Physician",
      department: "Cardiology",
      query: "Observation?patient=p&code=8867-4",
    });
    const keys = Object.keys(JSON.parse(new TextDecoder().decode(encodeRecord(all))));
    expect(keys.sort()).toEqual(
      Object.keys(AuditRecordSchema.shape)
        .filter((k) => k !== "fhir")
        .sort(),
    );
    expect(decodeRecord(encodeRecord(all))).toEqual(all);
  });
});

function reorder(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).reverse());
}
