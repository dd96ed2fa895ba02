// The portal's logic end to end under Node: a real `custos serve` with its self-signed portal
// certificate, real enrolled bundles, sign-in through GET /portal/config.json and the signed-challenge
// login, and every reply verified and decrypted by the SDK's TrailReader.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readKeyAudit } from "../../portal/src/lib/key-audit.js";
import { signIn } from "../../portal/src/lib/session.js";
import { namePatients, refusals } from "../../portal/src/lib/summaries.js";
import type { Session } from "../../portal/src/lib/types.js";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { toHex, utf8 } from "../../src/core/bytes.js";
import { sha256 } from "../../src/core/platform.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { MemoryStorage, portalCertificate, trustingFetch } from "./helpers.js";

let deployment: TestDeployment;
let baseUrl: string;
let fetch: ReturnType<typeof trustingFetch>;
const bundleText = (who: string) => JSON.stringify(deployment.bundles.get(who)!);

const T0 = Date.parse("2026-03-02T10:00:00Z");
const records = [
  ...Array.from({ length: 7 }, (_, i) => ({
    time: new Date(T0 + i * 3_600_000).toISOString(),
    patientId: "P001",
    userId: i % 2 ? "dr.house" : "nurse.joy",
    action: i === 3 ? "print" : "query",
    ...(i === 5 ? { emergency: true } : {}),
  })),
  ...Array.from({ length: 4 }, (_, i) => ({
    time: new Date(T0 + i * 60_000).toISOString(),
    patientId: "P002",
    userId: "dr.who",
    action: "change",
  })),
  { time: new Date(T0).toISOString(), patientId: "P003", userId: "dr.no", action: "copy" },
];

async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
    return "OK";
  } catch (error) {
    return (error as { code: string }).code;
  }
}

function messageOf(run: () => Promise<unknown>): Promise<string> {
  return run().then(
    () => "OK",
    (error: Error) => error.message,
  );
}

beforeAll(async () => {
  deployment = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["admin", "adm"],
      ["custodian", "privacy"],
      ["patient", "P001"],
      ["patient", "P002"],
      ["patient", "P003"],
      ["auditor", "A1"],
      ["auditor", "A2"],
    ],
    grants: [
      { auditor: "A1", patients: ["P001", "P002"] },
      { auditor: "A2", patients: ["P003"] },
    ],
  });
  await deployment.start();
  baseUrl = `https://127.0.0.1:${deployment.portalPort}`;
  fetch = trustingFetch(portalCertificate(deployment.data), baseUrl);
  const emr = new CustosClient({
    url: `https://127.0.0.1:${deployment.apiPort}`,
    identity: deployment.identity("ehr-source/emr"),
  });
  const submitted = await emr.submit(records);
  await emr.waitForCheckpoint(submitted.at(-1)!.index + 1);
}, 120_000);

afterAll(() => deployment?.cleanup());

describe("portal sign-in and reading against a real node", () => {
  let patient: Session;

  it("signs a patient in and shows exactly their accesses, decrypted, newest first", async () => {
    const storage = new MemoryStorage();
    patient = await signIn(bundleText("patient/P001"), PASS, { baseUrl, fetch, storage });
    expect(patient.identity).toEqual({
      uri: "custos://stmary/patient/P001",
      role: "patient",
      id: "P001",
      deployment: "stmary",
    });
    const loaded = await patient.myAccesses();
    expect(loaded.rows).toHaveLength(7);
    expect(loaded.rows.every((row) => row.patientId === "P001" && row.record.patientId === "P001")).toBe(
      true,
    );
    expect(loaded.rows.map((row) => row.record.time)).toEqual(
      records
        .filter((r) => r.patientId === "P001")
        .map((r) => r.time)
        .reverse(),
    );
    expect(loaded.status.size).toBeGreaterThanOrEqual(records.length);
    expect(loaded.status.note).toContain("e2e.custos.example/log");
    // The trust store went to storage, under a digest (no identity in clear).
    // (the trust store, and the witness policy seen, under the same digest)
    expect([...storage.items.keys()]).toHaveLength(2);
    for (const key of storage.items.keys()) expect(key).not.toContain("P001");

    const printed = await patient.myAccesses({ action: "print" });
    expect(printed.rows.map((row) => row.record.action)).toEqual(["print"]);
    const emergency = await patient.myAccesses({ emergency: true });
    expect(emergency.rows).toHaveLength(1);
    const paged = await signIn(bundleText("patient/P001"), PASS, { baseUrl, fetch, storage, pageSize: 2 });
    expect((await paged.myAccesses()).rows.map((r) => r.index)).toEqual(loaded.rows.map((r) => r.index));
    expect((await paged.myAccesses({}, 3)).rows).toHaveLength(3);
  }, 60_000);

  it("shows the patient who read their trail", async () => {
    // The notices of the reads above are in the log once a checkpoint covers them.
    let history = await patient.queryHistory();
    for (let tries = 0; history.rows.length === 0 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      history = await patient.queryHistory();
    }
    expect(history.rows.length).toBeGreaterThan(0);
    expect(history.rows.every((row) => row.requester === "custos://stmary/patient/P001")).toBe(true);
    expect(history.rows[0]!.kind).toBe("query");
  }, 30_000);

  it("shows an audit company only its granted patients", async () => {
    const auditor = await signIn(bundleText("auditor/A1"), PASS, { baseUrl, fetch, storage: null });
    const loaded = await auditor.patientAccesses();
    expect(new Set(loaded.rows.map((row) => row.patientId))).toEqual(new Set(["P001", "P002"]));
    expect(loaded.rows).toHaveLength(11);
    expect(loaded.patients.map((p) => p.patientId).sort()).toEqual(["P001", "P002"]);
    const one = await auditor.patientAccesses({ patientIds: ["P002"] });
    expect(one.rows.map((row) => row.record.userId)).toEqual(["dr.who", "dr.who", "dr.who", "dr.who"]);
    const other = await signIn(bundleText("auditor/A2"), PASS, { baseUrl, fetch, storage: null });
    const theirs = await other.patientAccesses();
    expect(theirs.rows.map((row) => row.patientId)).toEqual(["P003"]);
    expect(await other.alerts()).toEqual([]);
    // A2 asks for a patient it is not granted: refused, and the refusal reaches P001's audit company.
    const refused = await other.patientAccesses({ patientIds: ["P001"] });
    expect(refused.rows).toEqual([]);
    expect(refused.patients).toEqual([{ patientId: "P001", error: expect.any(String) }]);
    let notices = await auditor.queryHistory();
    for (let tries = 0; !notices.rows.some((n) => n.kind === "refusal") && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      notices = await auditor.queryHistory();
    }
    expect(notices.rows.find((n) => n.kind === "refusal")).toMatchObject({
      requester: "custos://stmary/auditor/A2",
      role: "auditor",
    });
    // The refusal is filed under P001's tag, which P001's trail reply gave: the page names P001.
    const p001 = loaded.patients.find((p) => p.patientId === "P001")!;
    expect(p001.tag).toMatch(/^[0-9a-f]{64}$/);
    expect(notices.rows.find((n) => n.kind === "refusal")!.patientTag).toBe(p001.tag);
    const named = namePatients(refusals(notices.rows), loaded.patients);
    expect(named.map((n) => n.patientId)).toEqual(named.map(() => "P001"));
    // Without P001's reply, the page cannot tell whom the tag is: the refusal stays unnamed.
    expect(namePatients(refusals(notices.rows), theirs.patients)[0]!.patientId).toBeUndefined();
    auditor.signOut();
    expect(await codeOf(() => auditor.patientAccesses())).toBe("SIGNED_OUT");
  }, 60_000);

  it("gives the privacy office and administrators the key audit over the portal, and nobody else", async () => {
    const office = await signIn(bundleText("custodian/privacy"), PASS, { baseUrl, fetch, storage: null });
    const audit = await readKeyAudit((q) => office.keyAudit(q));
    expect(audit.complete).toBe(true);
    // Newest first; A1's grant of P001 and P002 is there, the patients by tag only.
    expect(audit.events.map((e) => e.index)).toEqual(audit.events.map((e) => e.index).sort((a, b) => b - a));
    const grant = audit.events.find((e) => e.kind === "grant" && e.parties.includes("auditor/A1"));
    expect(grant?.detail).toMatch(/^auditor\/A1 granted 2 patient\(s\)/);
    expect(JSON.stringify(audit.events)).not.toMatch(/P00[123]/);
    // One party's events, and pages that join up to the same listing.
    const a1 = await readKeyAudit((q) => office.keyAudit(q), { party: "auditor/A1" });
    expect(a1.events.length).toBeGreaterThan(1);
    expect(a1.events.every((e) => e.parties.includes("auditor/A1") || e.kind === "key-envelope")).toBe(true);
    const first = await office.keyAudit({ limit: 2 });
    expect(first.events.map((e) => e.index)).toEqual(
      audit.events
        .slice(-2)
        .map((e) => e.index)
        .reverse(),
    );
    expect(first.next).toBeGreaterThan(first.events[1]!.index);
    office.signOut();
    const admin = await signIn(bundleText("admin/adm"), PASS, { baseUrl, fetch, storage: null });
    expect((await admin.keyAudit()).events.length).toBeGreaterThan(0);
    admin.signOut();
    for (const who of ["patient/P001", "auditor/A1"]) {
      const other = await signIn(bundleText(who), PASS, { baseUrl, fetch, storage: null });
      expect(await codeOf(() => other.keyAudit())).toBe("NOT_AUTHORIZED");
      other.signOut();
    }
  }, 60_000);

  it("shows a tampered entry as a problem naming it, and keeps what it trusted across visits", async () => {
    const storage = new MemoryStorage();
    await (await signIn(bundleText("patient/P002"), PASS, { baseUrl, fetch, storage })).myAccesses();
    /** The node's trail replies, altered on the way. */
    type Item = { index: number; content: string | null; proof?: string[] };
    const altered =
      (
        change: (items: Item[], reply: { checkpoint: string }, init?: RequestInit) => void | Promise<void>,
      ): typeof fetch =>
      async (url, init) => {
        const response = await fetch(url, init);
        if (!url.endsWith("/v1/trail")) return response;
        const reply = (await response.json()) as { checkpoint: string; items: Item[] };
        await change(reply.items, reply, init);
        return new Response(JSON.stringify(reply), {
          status: 200,
          headers: { "content-type": "application/json" },
        });
      };
    let target = -1;
    const flip = altered((items) => {
      const item = items.find((i) => i.content !== null)!;
      target = item.index;
      const c = item.content!;
      item.content = (c[0] === "A" ? "B" : "A") + c.slice(1);
    });
    const tampered = await signIn(bundleText("patient/P002"), PASS, { baseUrl, fetch: flip, storage: null });
    const failure = await tampered.myAccesses().then(
      () => undefined,
      (error: { problem?: { code: string; message: string; index?: number } }) => error.problem,
    );
    expect(failure).toMatchObject({ index: target, message: expect.stringContaining(`Entry ${target}`) });

    // The newest record withheld (and the record below it given the proof a page's newest record
    // carries): caught on a first visit by the checkpoint's trail map, and on a later one that
    // remembers by the record seen before.
    const hide = altered(async (items, reply, init) => {
      items.shift();
      const top = items[0]!;
      if (top.proof === undefined) {
        const size = Number(reply.checkpoint.split("\n")[1]);
        const proof = await fetch(`${baseUrl}/v1/proof/inclusion?index=${top.index}&size=${size}`, {
          ...(init?.headers ? { headers: init.headers } : {}),
        });
        top.proof = ((await proof.json()) as { proof: string[] }).proof;
      }
    });
    const fresh = await signIn(bundleText("patient/P002"), PASS, { baseUrl, fetch: hide, storage: null });
    await expect(fresh.myAccesses()).rejects.toMatchObject({ problem: { code: "TRAIL_INCOMPLETE" } });
    const returning = await signIn(bundleText("patient/P002"), PASS, { baseUrl, fetch: hide, storage });
    await expect(returning.myAccesses()).rejects.toMatchObject({ problem: { code: "TAMPERED_ENTRY" } });
  }, 60_000);

  it("refuses a node that demands fewer witness cosignatures than it did at an earlier visit", async () => {
    const storage = new MemoryStorage();
    const first = await signIn(bundleText("patient/P002"), PASS, { baseUrl, fetch, storage });
    first.signOut();
    const pinnedKey = [...storage.items.keys()].find((k) => k.endsWith(".witnesses"))!;
    expect(JSON.parse(storage.items.get(pinnedKey)!)).toEqual({ keys: [], quorum: 0 });
    // As if this browser had seen the node demand one witness's cosignature before.
    storage.setItem(
      pinnedKey,
      JSON.stringify({
        keys: ["witness.example+01020304+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
        quorum: 1,
      }),
    );
    const refused = signIn(bundleText("patient/P002"), PASS, { baseUrl, fetch, storage });
    await expect(refused).rejects.toMatchObject({ code: "CONFIG" });
    await expect(refused).rejects.toThrow(/demands 0 of 0 witness cosignatures, where it demanded 1 of 1/);
    // The storage key names nobody, and cannot be recomputed from the identity URI alone: it comes
    // from a signature only the identity's key can make.
    expect(pinnedKey).not.toMatch(/P002/);
    const guessable = toHex(sha256(utf8(`custos://stmary/patient/P002\ne2e.custos.example/log`))).slice(
      0,
      32,
    );
    expect(pinnedKey).not.toContain(guessable);
  });

  it("refuses a wrong passphrase, another deployment's bundle, and names a revoked identity", async () => {
    expect(
      await codeOf(() => signIn(bundleText("patient/P002"), "wrong passphrase", { baseUrl, fetch })),
    ).toBe("BAD_PASSPHRASE");
    const foreign = { ...deployment.bundles.get("patient/P002")! };
    const text = JSON.stringify({
      ...foreign,
      deployment: "elsewhere",
      uri: "custos://elsewhere/patient/P002",
    });
    expect(await codeOf(() => signIn(text, PASS, { baseUrl, fetch }))).toBe("WRONG_DEPLOYMENT");

    const admin = new MtlsClient(`https://127.0.0.1:${deployment.apiPort}`, deployment.identity("admin/adm"));
    await admin.call("POST", "/v1/revocations", { role: "patient", id: "P003" });
    expect(await codeOf(() => signIn(bundleText("patient/P003"), PASS, { baseUrl, fetch }))).toBe(
      "CERT_REVOKED",
    );
    expect(await messageOf(() => signIn(bundleText("patient/P003"), PASS, { baseUrl, fetch }))).toMatch(
      /revoked/,
    );
  }, 60_000);
});
