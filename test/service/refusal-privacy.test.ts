// Refusals and receipts reveal no patient's tag to someone who may not read that patient: a refused
// audit-company request names no tag, and a receipt carries an entry naming a patient only to its
// readers (the patient, a granted audit company, the custodian, nodes, the submitting source), while
// anyone else still gets a receipt that verifies (leaf hash and proof). A real node over mutual TLS.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { fromBase64, toBase64 } from "../../src/core/bytes.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { createTestDeployment, type TestDeployment } from "../helpers/deployment.js";
import { eventually } from "../helpers/processes.js";

let env: TestDeployment;
const client = (who: string) =>
  new CustosClient({ url: `https://127.0.0.1:${env.apiPort}`, identity: env.identity(who) });
const raw = (who: string) => new MtlsClient(`https://127.0.0.1:${env.apiPort}`, env.identity(who));

let recordIndex = 0;

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["ehr-source", "lab"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["auditor", "A1"],
      ["auditor", "A2"],
      ["admin", "adm"],
    ],
    grants: [{ auditor: "A1", patients: ["P1"] }],
  });
  await env.start();
  const reply = await raw("ehr-source/emr").call<{ records: { index: number }[] }>("POST", "/v1/records", {
    time: "2026-11-23T08:15:00Z",
    patientId: "P1",
    userId: "dr.okafor",
    action: "query",
  });
  recordIndex = reply.records[0]!.index;
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

describe("refusals", () => {
  it("name no tag for a patient named by ID and refused; granted patients keep theirs", async () => {
    const reply = await raw("auditor/A1").call<{
      patients: { patientId: string | null; tag?: string; error?: { code: string } }[];
    }>("POST", "/v1/audit/trails", { patientIds: ["P1", "P2"] });
    const [p1, p2] = reply.patients;
    expect(p1).toMatchObject({ patientId: "P1", tag: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(p2).toEqual({ patientId: "P2", error: expect.objectContaining({ code: "NOT_AUTHORIZED" }) });
    expect(JSON.stringify(p2)).not.toMatch(/[0-9a-f]{64}/);

    // The SDK reports the refusal without a tag, and P1's records verified.
    // (once a signed checkpoint covers the record: the node signs within its interval)
    const result = await eventually("P1's record under a checkpoint", async () => {
      const r = await client("auditor/A1").auditTrails({ patientIds: ["P1", "P2"] });
      if (r.patients[0]?.result?.records.length !== 1) throw new Error("not yet");
      return r;
    });
    expect(result.patients[1]).toMatchObject({ patientId: "P2", error: { code: "NOT_AUTHORIZED" } });
    expect(result.patients[1]!.tag).toBeUndefined();
  });
});

describe("receipts", () => {
  const receipt = (who: string) =>
    eventually(`a receipt for ${who}`, () =>
      raw(who).call<{ leafHash: string; entry?: string }>("GET", `/v1/receipt/${recordIndex}`),
    );

  it("carry a record's entry to its source, its patient, a granted audit company and the custodian", async () => {
    for (const who of ["ehr-source/emr", "patient/P1", "auditor/A1", "custodian/privacy", "node/n1"]) {
      const r = await receipt(who);
      expect(r.entry, who).toBeDefined();
      expect(toBase64(leafHash(fromBase64(r.entry!))), who).toBe(r.leafHash);
    }
  });

  it("give anyone else the leaf hash and its proof only, and that still verifies", async () => {
    const full = await receipt("ehr-source/emr");
    for (const who of ["ehr-source/lab", "patient/P2"]) {
      const r = await receipt(who);
      expect(r.entry, who).toBeUndefined();
      expect(r.leafHash, who).toBe(full.leafHash);
    }
    const verified = await client("ehr-source/lab").receipt(recordIndex);
    expect(verified.leafHash).toBe(full.leafHash);
  });
});

describe("refusal notices per identity", () => {
  const size = async () => {
    const note = await raw("custodian/privacy").call<string>("GET", "/v1/checkpoint");
    return Number(note.split("\n")[1]);
  };
  // The size once the node has signed everything appended so far (it signs within its interval).
  const settled = () =>
    eventually("a settled checkpoint", async () => {
      const first = await size();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      if ((await size()) !== first) throw new Error("still growing");
      return first;
    });

  it("are bounded: 5 requests naming 1,000 patients each add at most the burst and a summary", async () => {
    const before = await settled();
    for (let r = 0; r < 5; r++) {
      const names = Array.from({ length: 1000 }, (_, i) => `unknown-${r}-${i}`);
      const reply = await raw("auditor/A2").call<{ patients: { error?: { code: string } }[] }>(
        "POST",
        "/v1/audit/trails",
        { patientIds: names },
      );
      expect(reply.patients.every((p) => p.error?.code === "NOT_AUTHORIZED")).toBe(true);
    }
    const grown = (await settled()) - before;
    // (A2 has been refused nothing before: its whole burst is left.)
    // REFUSAL_BURST (100) notices one by one, then one summary (the requests take well under 60 s;
    // a second or two of refill may add a notice or two).
    expect(grown).toBeGreaterThanOrEqual(101);
    expect(grown).toBeLessThanOrEqual(110);
  });
});
