// Changing a grant's period (issue 19.2, "change a grant's period"): `custos grant --change --from T
// [--to T]` through a running node (POST /v1/grant-periods) and offline, one admin-signed log entry
// (kind grantChange) after which the audit company's access to each patient named is exactly that
// period. Real `custos serve` process; the node's authorization follows the change at once, the key
// audit lists it as one event, and the registry folds the log without findings.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminClient } from "../../src/client/admin-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { encodeGrantChangeEntry } from "../../src/core/entry/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Deployment } from "../../src/identity/deployment.js";
import { patientSubject } from "../../src/identity/registry.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { runCli } from "./run-cli.js";

let d: TestDeployment;
let env: NodeJS.ProcessEnv;
let url: string;
let admin: AdminClient;
const HOUR = 3_600_000;

function cli(args: string[]) {
  return runCli(args, { env });
}

/** Whether the audit company may read P's trail on the node now (refused: NOT_AUTHORIZED). */
async function auditorReads(patientId: string): Promise<boolean> {
  const http = new MtlsClient(url, d.identity("auditor/A1"));
  try {
    await http.call("POST", "/v1/trail", { patientId });
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "NOT_AUTHORIZED") return false;
    throw error;
  } finally {
    http.close();
  }
}

/** The key audit's events concerning A1 through the node, as kinds. */
async function a1Events(): Promise<string[]> {
  const page = await admin.keyAudit({ party: "auditor/A1", limit: 1000 });
  return page.events.map((e) => e.kind);
}

beforeAll(async () => {
  d = await createTestDeployment({
    people: [
      ["admin", "adm"],
      ["node", "n1"],
      ["auditor", "A1"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["patient", "P3"],
    ],
    grants: [{ auditor: "A1", patients: ["P1", "P3"] }],
  });
  env = { CUSTOS_MASTER_KEY: d.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS };
  await d.start();
  url = `https://127.0.0.1:${d.apiPort}`;
  admin = new AdminClient(url, d.identity("admin/adm"));
}, 120_000);
afterAll(() => d.cleanup());

describe("changing a grant's period", () => {
  it("through the node: one entry, in force at once; refusals write nothing", async () => {
    expect(await auditorReads("P1")).toBe(true);
    const before = await a1Events();
    expect(before).toEqual(["enrollment", "grant"]);

    // The period set to one that ended an hour ago: A1 reads P1 no more, and P3 is untouched.
    const from = new Date(Date.now() - 3 * HOUR).toISOString();
    const to = new Date(Date.now() - HOUR).toISOString();
    const adm = join(d.root, "adm.custos-id");
    const changed = cli([
      "grant",
      "--change",
      "--server",
      url,
      "--as",
      adm,
      "--auditor",
      "A1",
      "--patient",
      "P1",
      "--from",
      from,
      "--to",
      to,
    ]);
    expect(changed.stderr).toBe("");
    expect(changed.status).toBe(0);
    expect(changed.stdout).toMatch(
      new RegExp(`^set A1's access to 1 patient\\(s\\) to ${from} - ${to} \\(log entry \\d+\\)\\n$`),
    );
    expect(await auditorReads("P1")).toBe(false);
    expect(await auditorReads("P3")).toBe(true);
    // One event, no end and new grant.
    expect(await a1Events()).toEqual(["enrollment", "grant", "grant-change"]);

    // Set again to an open-ended period from the past: readable again.
    const reopened = cli([
      "grant",
      "--change",
      "--server",
      url,
      "--as",
      adm,
      "--auditor",
      "A1",
      "--patient",
      "P1",
      "--from",
      from,
    ]);
    expect(reopened.status, reopened.stderr).toBe(0);
    expect(await auditorReads("P1")).toBe(true);

    // A patient A1 was never granted: NOT_FOUND, and nothing written.
    const refused = cli([
      "grant",
      "--change",
      "--server",
      url,
      "--as",
      adm,
      "--auditor",
      "A1",
      "--patient",
      "P2",
      "--from",
      from,
    ]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr.trim()).toBe(
      "error: audit company A1 has no grant to change for a patient named (grant it first)",
    );
    // Without --from: a usage error.
    const noFrom = cli([
      "grant",
      "--change",
      "--server",
      url,
      "--as",
      adm,
      "--auditor",
      "A1",
      "--patient",
      "P1",
    ]);
    expect(noFrom.status).toBe(2);
    expect(noFrom.stderr.trim()).toBe("error: --change needs --from (and --to, unless open-ended)");
    expect(await a1Events()).toEqual(["enrollment", "grant", "grant-change", "grant-change"]);

    // Each route takes only its own kind: a change posted as a grant is refused, and nothing written.
    const http = new MtlsClient(url, d.identity("admin/adm"));
    const adminId = d.identity("admin/adm");
    const { tags } = await http.call<{ tags: string[] }>("POST", "/v1/admin/patient-tags", {
      patients: ["P1"],
    });
    const entry = encodeGrantChangeEntry(
      {
        time: Date.now(),
        auditor: "A1",
        patientTags: tags.map((t) => Buffer.from(t, "base64")),
        from: Date.now(),
        admin: "adm",
      },
      (m) => adminId.sign(m),
    );
    await expect(
      http.call("POST", "/v1/grants", { entry: Buffer.from(entry).toString("base64") }),
    ).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
      message: "a change of a grant's period goes to POST /v1/grant-periods",
    });
    // Signed by someone else than the admin who sends it.
    const forged = encodeGrantChangeEntry(
      {
        time: Date.now(),
        auditor: "A1",
        patientTags: tags.map((t) => Buffer.from(t, "base64")),
        from: Date.now(),
        admin: "adm",
      },
      (m) => d.identity("patient/P3").sign(m),
    );
    await expect(
      http.call("POST", "/v1/grant-periods", { entry: Buffer.from(forged).toString("base64") }),
    ).rejects.toMatchObject({ code: "BAD_SIGNATURE" });
    http.close();
    expect(await a1Events()).toEqual(["enrollment", "grant", "grant-change", "grant-change"]);
  }, 180_000);

  it("offline: the same command with --data; the log folds without findings", async () => {
    await d.stop();
    const from = Date.now() - HOUR;
    const to = Date.now() + 24 * HOUR;
    const result = cli([
      "grant",
      "--change",
      "--data",
      d.data,
      "--as",
      join(d.root, "adm.custos-id"),
      "--auditor",
      "A1",
      "--patient",
      "P3",
      "--from",
      new Date(from).toISOString(),
      "--to",
      new Date(to).toISOString(),
    ]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const audit = cli(["keys", "audit", "--data", d.data, "--party", "auditor/A1", "--kind", "grant-change"]);
    expect(audit.status, audit.stderr).toBe(0);
    expect(audit.stdout.match(/grant-change/g)?.length).toBe(3);
    // The listing shows the period by day.
    expect(audit.stdout).toContain(
      `period of auditor/A1's access to 1 patient(s) set to from ${new Date(from).toISOString().slice(0, 10)} to ${new Date(to).toISOString().slice(0, 10)}, by admin/adm`,
    );

    const deployment = await Deployment.open(
      d.data,
      new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: d.masterKey }),
    );
    try {
      expect(deployment.registry.findings).toEqual([]);
      const subject = (id: string) => patientSubject(deployment.vault.patientTag(id));
      const now = Date.now();
      expect(deployment.registry.isGranted("A1", subject("P1"), now)).toBe(true);
      expect(deployment.registry.isGranted("A1", subject("P3"), now)).toBe(true);
      expect(deployment.registry.isGranted("A1", subject("P3"), from - 1)).toBe(false);
      expect(deployment.registry.isGranted("A1", subject("P3"), to)).toBe(false);
      expect(deployment.registry.isGranted("A1", subject("P2"), now)).toBe(false);
    } finally {
      await deployment.close();
    }
  }, 180_000);
});
