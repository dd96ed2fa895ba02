// A trail is complete at the checkpoint even for a client that never read it before: a real node
// (SQLite) sends the checkpoint's trail map proof with every trail reply, and a client with a fresh
// state refuses (TRAIL_INCOMPLETE) a reply that leaves out the newest records, one without the proof,
// or one whose proof is for another patient, while the honest reply verifies with the trail's count.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { MemoryTrustStore, TrailReader, type Transport } from "../../src/client/trail-reader.js";
import type { WireItem, WireTrailMap } from "../../src/client/verify-reply.js";
import { fromBase64 } from "../../src/core/bytes.js";
import { decodeEntry, ENTRY_KINDS } from "../../src/core/entry/index.js";
import { createTestDeployment, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
const url = () => `https://127.0.0.1:${env.apiPort}`;

type Reply = {
  checkpoint: string;
  items: (WireItem & { proof?: string[] })[];
  next: number | null;
  trailMap?: WireTrailMap;
};

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["patient", "P3"],
      ["admin", "adm"],
      ["custodian", "privacy"],
      ["auditor", "A1"],
    ],
    grants: [{ auditor: "A1", patients: ["P1", "P2", "P3"] }],
    masterKeyFill: 23,
  });
  await env.start();
  const emr = new MtlsClient(url(), env.identity("ehr-source/emr"));
  const records = [
    ...Array.from({ length: 12 }, (_, i) => ({ patientId: "P1", i })),
    ...Array.from({ length: 3 }, (_, i) => ({ patientId: "P2", i })),
  ].map(({ patientId, i }) => ({
    time: new Date(Date.UTC(2026, 10, 22, 8) + i * 600_000).toISOString(),
    patientId,
    userId: `dr-${i}`,
    action: "query",
    sourceEventId: `c-${patientId}-${i}`,
  }));
  const reply = await emr.call<{ records: { index: number }[] }>("POST", "/v1/records", records);
  const size = Math.max(...reply.records.map((r) => r.index)) + 1;
  const reader = new TrailReader({
    transport: new MtlsClient(url(), env.identity("patient/P1")),
    log: env.bundles.get("patient/P1")!.log!,
    encryptionPrivateKey: env.identity("patient/P1").encryptionPrivateKey(),
    state: new MemoryTrustStore(),
  });
  await reader.waitForCheckpoint(size);
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

/** A fresh client (no state) whose replies pass through `tamper` first. */
function freshReader(who: string, tamper: (path: string, reply: never) => Promise<void>) {
  const identity = env.identity(who);
  const http = new MtlsClient(url(), identity);
  const transport: Transport = {
    async call<T>(method: "GET" | "POST", path: string, body?: unknown, type?: string): Promise<T> {
      const reply = await http.call<T>(method, path, body, type);
      await tamper(path, reply as never);
      return reply;
    },
  };
  return new TrailReader({
    transport,
    log: identity.bundle.log!,
    encryptionPrivateKey: identity.encryptionPrivateKey(),
    state: new MemoryTrustStore(),
  });
}

const isRecord = (item: WireItem) => decodeEntry(fromBase64(item.entry)).kind === ENTRY_KINDS.accessRecord;

/**
 * Leaves out the trail's newest `count` records, as a lying node would: the records below them get
 * genuine inclusion proofs (they were proven through the removed records' links), so every check but
 * the trail map's passes.
 */
async function dropNewest(
  reply: Omit<Reply, "checkpoint">,
  count: number,
  checkpoint: string,
): Promise<void> {
  const size = Number(checkpoint.split("\n")[1]);
  const newest = reply.items.filter(isRecord).slice(0, count);
  reply.items = reply.items.filter((item) => !newest.includes(item));
  const http = new MtlsClient(url(), env.identity("patient/P1"));
  for (const item of reply.items) {
    if (item.proof !== undefined) continue;
    const { proof } = await http.call<{ proof: string[] }>(
      "GET",
      `/v1/proof/inclusion?index=${item.index}&size=${size}`,
    );
    item.proof = proof;
  }
}

describe("a trail reply proven complete by the checkpoint's trail map", () => {
  it("verifies the honest reply on a first read, with the trail's record count", async () => {
    const reader = freshReader("patient/P1", async () => {});
    const trail = await reader.trail();
    expect(trail.records).toHaveLength(12);
    expect(trail.completeness).toMatchObject({ proven: true, count: 12 });
    // A time window that holds none of the records: the newest still comes (outside the window, not
    // shown), so the empty answer is proven too.
    const empty = await freshReader("patient/P1", async () => {}).trail({ from: "2027-01-01T00:00:00Z" });
    expect(empty.records).toHaveLength(0);
    expect(empty.completeness).toMatchObject({ proven: true, count: 12 });
  });

  it("refuses, on a client that never saw them, a reply that leaves out the newest records", async () => {
    for (const count of [1, 3]) {
      const reader = freshReader("patient/P1", async (path, reply: Reply) => {
        if (path === "/v1/trail") await dropNewest(reply, count, reply.checkpoint);
      });
      await expect(reader.trail()).rejects.toMatchObject({
        code: "TRAIL_INCOMPLETE",
        message: expect.stringMatching(/commits to 12 records in this trail, but the newest shown is record/),
      });
    }
    // All of them left out: the map still holds the patient's head.
    const emptied = freshReader("patient/P1", async (path, reply: Reply) => {
      if (path !== "/v1/trail") return;
      reply.items = [];
      reply.next = null;
    });
    await expect(emptied.trail()).rejects.toMatchObject({ code: "TRAIL_INCOMPLETE" });
  });

  it("refuses a reply without the proof, or with another patient's proof", async () => {
    const stripped = freshReader("patient/P1", async (path, reply: Reply) => {
      if (path === "/v1/trail") delete reply.trailMap;
    });
    await expect(stripped.trail()).rejects.toMatchObject({
      code: "TRAIL_INCOMPLETE",
      message: expect.stringMatching(/sent no proof/),
    });
    const p2 = await new MtlsClient(url(), env.identity("patient/P2")).call<Reply>("POST", "/v1/trail", {});
    const swapped = freshReader("patient/P1", async (path, reply: Reply) => {
      if (path === "/v1/trail") reply.trailMap = p2.trailMap!;
    });
    await expect(swapped.trail()).rejects.toMatchObject({ code: "TRAIL_INCOMPLETE" });
    // P2's proof presented under P1's tag does not lead to the checkpoint's root.
    const relabelled = freshReader("patient/P1", async (path, reply: Reply) => {
      if (path === "/v1/trail") reply.trailMap = { tag: reply.trailMap!.tag, proof: p2.trailMap!.proof };
    });
    await expect(relabelled.trail()).rejects.toMatchObject({ code: "BAD_PROOF" });
  });

  it("proves an audit company's patients, a patient without records as absent, and catches one cut short", async () => {
    const honest = await freshReader("auditor/A1", async () => {}).auditTrails({
      patientIds: ["P1", "P2", "P3"],
    });
    const [p1, p2, p3] = honest.patients;
    expect(p1!.result?.completeness).toMatchObject({ proven: true, count: 12 });
    expect(p2!.result?.completeness).toMatchObject({ proven: true, count: 3 });
    // P3 has no record: the map proves the tag absent; the tag itself is the node's word.
    expect(p3!.result?.records).toHaveLength(0);
    expect(p3!.result?.completeness).toMatchObject({ proven: false, reason: expect.stringMatching(/tag/) });

    type Audit = { checkpoint: string; patients: Reply[] };
    const cut = await freshReader("auditor/A1", async (path, reply: Audit) => {
      if (path === "/v1/audit/trails") await dropNewest(reply.patients[0]!, 2, reply.checkpoint);
    }).auditTrails({ patientIds: ["P1", "P2"] });
    expect(cut.patients[0]!.verification).toMatchObject({ code: "TRAIL_INCOMPLETE" });
    expect(cut.patients[1]!.result?.completeness).toMatchObject({ proven: true, count: 3 });

    // P3's absence proof attached to P2's records: the map holds a head for P2, not "absent".
    const absentForP2 = await freshReader("auditor/A1", async (path, reply: Audit) => {
      if (path !== "/v1/audit/trails") return;
      const [, second, third] = reply.patients;
      second!.trailMap = { tag: second!.trailMap!.tag, proof: third!.trailMap!.proof };
    }).auditTrails({ patientIds: ["P1", "P2", "P3"] });
    expect(absentForP2.patients[1]!.verification).toMatchObject({ code: "BAD_PROOF" });
  });
});
