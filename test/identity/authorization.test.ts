// Every role against every operation and kind of patient: only the allowed combinations succeed, and
// the authorization state comes from signed entries in the log (a forged grant counts for nothing).

import { generateKeyPairSync, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGrantEntry } from "../../src/core/entry/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { authorize, type Caller, OPERATIONS, type Operation } from "../../src/identity/authorize.js";
import { Identity } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { REGISTRY_LOOKUP_KEY, Registry } from "../../src/identity/registry.js";
import type { Role } from "../../src/identity/roles.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { openNotice } from "../../src/records/notices.js";
import { tempDir } from "../helpers/temp.js";

const MASTER = new EnvProvider("CUSTOS_MASTER_KEY", {
  CUSTOS_MASTER_KEY: Buffer.alloc(32, 9).toString("base64"),
});
const PASS = "a long enough passphrase";
const HOUR = 3_600_000;

let root: { dir: string; cleanup: () => void };
let deployment: Deployment;
const clock = Date.UTC(2026, 10, 23, 10);
const identities = new Map<string, Identity>();

async function enroll(role: Role, id: string): Promise<Identity> {
  const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 1000 });
  const identity = Identity.unlock(issued.bundle, PASS);
  identities.set(`${role}/${id}`, identity);
  return identity;
}

function caller(role: Role, id: string): Caller {
  const identity = identities.get(`${role}/${id}`)!;
  return {
    uri: identity.uri,
    role,
    id,
    subject: deployment.subjectOf(role, id),
    signingKey: identity.signingPublicKey(),
  };
}

beforeAll(async () => {
  root = tempDir("custos-authz-");
  await initDataDir(root.dir, { origin: "authz.custos.example/log", masterKey: MASTER });
  deployment = await Deployment.initCa(root.dir, MASTER, "stmary", { now: () => clock });
  for (const p of ["P1", "P2", "P3"]) await enroll("patient", p);
  await enroll("auditor", "A1");
  await enroll("auditor", "A2");
  await enroll("ehr-source", "emr");
  const admin = await enroll("admin", "root-admin");
  await enroll("witness", "w1");
  await enroll("node", "n1");
  await enroll("custodian", "privacy-office");
  // A1: P1 open-ended, P2 only for the next hour. A2: P3, but that grant ended an hour ago.
  await deployment.grant(admin, { auditor: "A1", patients: ["P1"], from: clock - HOUR });
  await deployment.grant(admin, { auditor: "A1", patients: ["P2"], from: clock - HOUR, to: clock + HOUR });
  await deployment.grant(admin, { auditor: "A2", patients: ["P3"], from: clock - 3 * HOUR });
  await deployment.endGrant(admin, { auditor: "A2", patients: ["P3"], at: clock - HOUR });
});
afterAll(async () => {
  await deployment.close();
  root.cleanup();
});

// Patients: P1 (granted to A1, open-ended), P2 (granted to A1 for two hours around now), P3 (granted
// to A2, ended an hour ago). The caller P1 is a patient.
type PatientCase = "P1" | "P2" | "P3" | "none";

// The whole allowed set, written out by hand (* = whatever patient): anything else must be refused.
const ALLOWED = new Set([
  "patient:P1 read-trail P1",
  "patient:P1 read-query-history P1",
  "auditor:A1 read-trail P1",
  "auditor:A1 read-trail P2",
  "ehr-source:emr submit-records *",
  "admin:root-admin manage-identities *",
  "admin:root-admin manage-grants *",
  "admin:root-admin read-key-audit *",
  "custodian:privacy-office read-key-audit *",
  "custodian:privacy-office read-refusals *",
  "custodian:privacy-office read-security-events *",
  "node:n1 mirror-log *",
  ...[
    "patient:P1",
    "auditor:A1",
    "auditor:A2",
    "ehr-source:emr",
    "admin:root-admin",
    "witness:w1",
    "node:n1",
    "custodian:privacy-office",
  ].map((who) => `${who} read-log *`),
]);

describe("authorization by role, operation and patient", () => {
  const callers: [Role, string][] = [
    ["patient", "P1"],
    ["auditor", "A1"],
    ["auditor", "A2"],
    ["ehr-source", "emr"],
    ["admin", "root-admin"],
    ["witness", "w1"],
    ["node", "n1"],
    ["custodian", "privacy-office"],
  ];
  const cases: PatientCase[] = ["P1", "P2", "P3", "none"];
  const rows = callers.flatMap(([role, id]) =>
    OPERATIONS.flatMap((op) =>
      cases.map((kind) => [role, id, op, kind] as [Role, string, Operation, PatientCase]),
    ),
  );

  it.each(rows)("%s %s: %s for patient %s succeeds only if allowed", (role, id, op, kind) => {
    const c = caller(role, id);
    const patient = kind === "none" ? undefined : deployment.subjectOf("patient", kind);
    const decision = authorize(deployment.registry, c, op, patient === undefined ? {} : { patient }, clock);
    const expected = ALLOWED.has(`${role}:${id} ${op} ${kind}`) || ALLOWED.has(`${role}:${id} ${op} *`);
    expect(decision.allowed, `${role}:${id} ${op} ${kind}`).toBe(expected);
  });

  it("refuses an EHR source submitting in another source's name", () => {
    expect(
      authorize(
        deployment.registry,
        caller("ehr-source", "emr"),
        "submit-records",
        { source: "other" },
        clock,
      ),
    ).toMatchObject({
      allowed: false,
      code: "NOT_AUTHORIZED",
    });
  });

  it("lets an EHR source speak for a device no enrolled identity goes by, and no further", () => {
    const emr = caller("ehr-source", "emr");
    const submit = (source: string, device?: string[]) =>
      authorize(deployment.registry, emr, "submit-records", { source, ...(device ? { device } : {}) }, clock);
    expect(submit("Device/ct-scanner-2", ["ct-scanner-2", "Device/ct-scanner-2"]).allowed).toBe(true);
    // A device named like another enrolled identity speaks for itself, whatever its role.
    for (const other of ["A1", "n1", "privacy-office"])
      expect(submit(other, [other, `Device/${other}`])).toMatchObject({
        allowed: false,
        reason: "the observing device is an enrolled identity: it submits in its own name",
      });
    // Not observed by a device: the source's own name only, as before.
    expect(submit("ct-scanner-2").allowed).toBe(false);
  });

  it("refuses a time-limited grant once it has expired, and a revoked identity everywhere", async () => {
    const a1 = caller("auditor", "A1");
    const p2 = deployment.subjectOf("patient", "P2");
    expect(authorize(deployment.registry, a1, "read-trail", { patient: p2 }, clock + 2 * HOUR).allowed).toBe(
      false,
    );
    await deployment.revoke("witness", "w1");
    expect(authorize(deployment.registry, caller("witness", "w1"), "read-log", {}, clock)).toMatchObject({
      allowed: false,
      code: "NOT_AUTHENTICATED",
    });
    // ... and its certificate is on the CRL every node checks.
    const w1 = identities.get("witness/w1")!;
    await expect(
      deployment.anchor.verify(w1.bundle.signingCertificate, "signing", clock),
    ).rejects.toMatchObject({
      code: "CERT_REVOKED",
    });
  });

  it("refuses a caller whose key is not the enrolled one", () => {
    const forged = { ...caller("admin", "root-admin"), signingKey: new Uint8Array(32).fill(1) };
    expect(authorize(deployment.registry, forged, "manage-grants", {}, clock)).toMatchObject({
      code: "NOT_AUTHENTICATED",
    });
  });
});

describe("the registry is derived from signed log entries", () => {
  it("rebuilds the same state from the log alone, and ignores a grant not signed by an enrolled admin", async () => {
    const rogue = generateKeyPairSync("ed25519");
    const forged = encodeGrantEntry(
      {
        time: clock,
        auditor: "A2",
        patientTags: [deployment.vault.patientTag("P1")],
        from: clock - HOUR,
        admin: "root-admin",
      },
      (m) => new Uint8Array(sign(null, m, rogue.privateKey)),
    );
    const [appended] = await deployment.vault.ledger.append([
      { entry: forged, lookupKeys: [REGISTRY_LOOKUP_KEY] },
    ]);
    const index = appended!.index;
    const rebuilt = await Registry.load(deployment.vault.ledger.store, deployment.anchor.caPublicKey);
    expect(rebuilt.hasCa).toBe(true);
    expect(rebuilt.findings).toEqual([{ index, problem: "grant signature is not the named admin's" }]);
    expect(rebuilt.isGranted("A2", deployment.subjectOf("patient", "P1"), clock)).toBe(false);
    expect(rebuilt.isGranted("A1", deployment.subjectOf("patient", "P1"), clock)).toBe(true);
    expect(rebuilt.identities().length).toBe(deployment.registry.identities().length);
  });

  it("seals records to the keys enrolled in the log: the patient, the granted audit company, the custodian", async () => {
    const readers = await deployment.directory.readersOf("P1", clock);
    expect(readers.map((r) => r.id)).toEqual([
      "custos://stmary/patient/P1",
      "custos://stmary/auditor/A1",
      "custos://stmary/custodian/privacy-office",
    ]);
  });

  it("records a refusal in the log, readable by the patient concerned and the audit companies granted them, nobody else", async () => {
    const index = await deployment.recordRefusal(
      caller("auditor", "A2"),
      "read-trail",
      "NOT_AUTHORIZED",
      "P1",
    );
    const [entry] = await deployment.vault.ledger.store.getEntries(index!, index! + 1);
    const items = await deployment.vault.patientItems("P1");
    const item = items.find((i) => i.index === index)!;
    expect(item.entry).toEqual(entry!.data);
    const p1 = identities.get("patient/P1")!;
    const opened = openNotice(item, p1.encryptionPrivateKey());
    expect(opened?.body).toMatchObject({
      requester: "custos://stmary/auditor/A2",
      operation: "read-trail",
      reason: "NOT_AUTHORIZED",
    });
    expect(JSON.stringify(opened)).not.toContain('P1"');
    // A1 holds a grant for P1 now: the refusal is sealed to it too.
    expect(openNotice(item, identities.get("auditor/A1")!.encryptionPrivateKey())?.body).toEqual(
      opened?.body,
    );
    expect(openNotice(item, identities.get("auditor/A2")!.encryptionPrivateKey())).toBeUndefined();
    expect(openNotice(item, identities.get("patient/P2")!.encryptionPrivateKey())).toBeUndefined();
  });
});
