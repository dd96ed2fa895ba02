// `custos verify` checks the signatures inside entries: a log whose tree and checkpoints are all good
// can still carry entries its operator forged (a grant no admin signed, an enrollment the CA did not
// sign, a key rotation in an admin's name). Each is named, with its index, as SIGNATURE_INVALID.

import { spawnSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeGrantEntry,
  encodeHoldEntry,
  encodeIdentityEntry,
  REGISTRY_LOOKUP_KEY,
} from "../../src/core/entry/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { changeHold } from "../../src/identity/legal-holds.js";
import { operatorActionItem, operatorOf, recordOperatorAction } from "../../src/identity/operator-actions.js";
import { initDataDir, openLogWritable } from "../../src/ledger/index.js";
import { HOLDS_LOOKUP_KEY } from "../../src/records/index.js";
import { BIN } from "../helpers/deployment.js";
import { tempDir } from "../helpers/temp.js";

const root = tempDir("custos-verify-signatures-");
const data = join(root.dir, "node");
const MASTER = Buffer.alloc(32, 4).toString("base64");
const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: MASTER });
const PASS = "verify signatures passphrase";
let admin: Identity;
let patientTag: Uint8Array;
let legacyHold: number;

function verify(...extra: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, "verify", "--data", data, "--no-save-state", ...extra], {
    env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER },
    encoding: "utf8",
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Someone's Ed25519 key that is neither the CA's nor any enrolled identity's. */
function strangerSigner(): (message: Uint8Array) => Uint8Array {
  const { privateKey } = generateKeyPairSync("ed25519");
  return (message) => new Uint8Array(sign(null, message, privateKey));
}

beforeAll(async () => {
  await initDataDir(data, { origin: "signatures.custos.example/log", masterKey });
  const deployment = await Deployment.initCa(data, masterKey, "stmary");
  const issued = await deployment.enroll({
    role: "admin",
    id: "root",
    passphrase: PASS,
    kdfIterations: 1000,
  });
  admin = Identity.unlock(issued.bundle, PASS);
  await deployment.enroll({ role: "auditor", id: "A1", passphrase: PASS, kdfIterations: 1000 });
  await deployment.enroll({ role: "patient", id: "P1", passphrase: PASS, kdfIterations: 1000 });
  await deployment.grant(admin, { auditor: "A1", patients: ["P1"] });
  patientTag = deployment.vault.patientTag("P1");
  // A hold as releases before signed holds wrote it (no admin signature), then signed ones since.
  const [legacy] = await deployment.vault.ledger.append([
    {
      entry: encodeHoldEntry({
        time: Date.now(),
        action: "place",
        reference: "Case 2025-001",
        admin: admin.uri,
      }),
      lookupKeys: [HOLDS_LOOKUP_KEY],
    },
  ]);
  legacyHold = legacy!.index;
  await changeHold(
    deployment,
    admin,
    { action: "place", patient: "P1", reference: "Case 2026-117" },
    Date.now(),
  );
  await changeHold(deployment, admin, { action: "lift", reference: "Case 2025-001" }, Date.now());
  await deployment.vault.ledger.checkpoint();
  await deployment.close();
  // A genuine operator action, signed by the admin who ran it.
  await recordOperatorAction(
    data,
    {},
    () => masterKey,
    { time: Date.now(), action: "master-key-rotation", detail: "rotated to a new master key" },
    operatorOf(admin),
  );
}, 60_000);

afterAll(() => root.cleanup());

describe("custos verify and the signatures inside entries", () => {
  it("passes a log whose registry and operator actions are signed as they must be", () => {
    const clean = verify();
    expect(clean.stderr).toBe("");
    expect(clean.stdout).toContain("OK: no tampering found");
    expect(clean.status).toBe(0);
    // The hold made before holds were signed is read, and said to be unproven; the signed ones pass.
    expect(clean.stdout).toContain(
      `not checked: the admin signature of 1 legal hold entry made before holds were signed (entry ${legacyHold}): who placed or lifted it is named, not proven`,
    );
  });

  it("names a grant no admin signed, an enrollment the CA did not sign and an action forged in an admin's name", async () => {
    const ledger = await openLogWritable(data, masterKey);
    const now = Date.now();
    const stranger = strangerSigner();
    const forged = await ledger.append([
      {
        entry: encodeGrantEntry(
          { time: now, auditor: "A1", patientTags: [patientTag], from: now, admin: "root" },
          stranger,
        ),
        lookupKeys: [REGISTRY_LOOKUP_KEY],
      },
      {
        entry: encodeIdentityEntry(
          {
            time: now,
            action: "enroll",
            role: "auditor",
            subject: "A2",
            serials: [],
            signingKey: new Uint8Array(32).fill(7),
            encryptionKey: new Uint8Array(32).fill(9),
            notAfter: now + 86_400_000,
          },
          stranger,
        ),
        lookupKeys: [REGISTRY_LOOKUP_KEY],
      },
      operatorActionItem(
        { time: now, action: "master-key-rotation", detail: "in the admin's name" },
        { name: admin.uri, sign: stranger },
      ),
      // An action naming an identity but carrying no signature at all.
      operatorActionItem({ time: now, action: "restore", detail: "unsigned" }, { name: admin.uri }),
      // A hold lifted in the admin's name with another key: the node lifting a hold by itself.
      {
        entry: encodeHoldEntry(
          { time: now, action: "lift", patientTag, reference: "Case 2026-117", admin: admin.uri },
          stranger,
        ),
        lookupKeys: [HOLDS_LOOKUP_KEY],
      },
      // An unsigned hold after signed ones: no release since writes one.
      {
        entry: encodeHoldEntry({ time: now, action: "place", reference: "Case 2026-200", admin: admin.uri }),
        lookupKeys: [HOLDS_LOOKUP_KEY],
      },
    ]);
    await ledger.checkpoint();
    await ledger.close();
    const indexes = forged.map((r) => r.index);

    const found = verify("--json");
    expect(found.status).toBe(1);
    const report = JSON.parse(found.stdout) as {
      ok: boolean;
      findings: { code: string; message: string; firstIndex: number }[];
    };
    expect(report.ok).toBe(false);
    // Nothing else is wrong with the log: the tree and checkpoints hold; only the signatures do not.
    expect(report.findings.map((f) => [f.code, f.firstIndex])).toEqual(
      indexes.map((index) => ["SIGNATURE_INVALID", index]),
    );
    expect(report.findings[0]!.message).toMatch(/grant signature is not the named admin's/);
    expect(report.findings[1]!.message).toMatch(/not signed by the deployment CA/);
    expect(report.findings[2]!.message).toMatch(/not signed by custos:\/\/stmary\/admin\/root's key/);
    expect(report.findings[3]!.message).toMatch(/carries no signature/);
    expect(report.findings[4]!.message).toMatch(
      /legal hold "Case 2026-117" lifted is not signed by custos:\/\/stmary\/admin\/root's key/,
    );
    expect(report.findings[5]!.message).toMatch(
      /legal hold "Case 2026-200" placed carries no admin signature, though holds before it in the log are signed/,
    );
    // The human-readable report names each with its index.
    const text = verify();
    expect(text.stdout).toContain("TAMPERING DETECTED: 6 problems found");
    expect(text.stdout).toContain(`[SIGNATURE_INVALID] entry ${indexes[0]}: grant signature`);
    // An incremental run says it left them to a full one.
    expect(verify("--incremental").stdout).toContain(
      "not checked: registry, operator-action and legal-hold signatures (a full verify checks them)",
    );
  }, 60_000);
});
