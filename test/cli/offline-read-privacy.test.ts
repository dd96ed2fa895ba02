// Issue 27: an operator action never carries a patient's ID. A patient who reads their own trail from
// a data directory (`custos read --data --as PATIENT`) is recorded as the operator of an offline read;
// the entry is stored in clear, so it names them by their tag (`custos://<deployment>/patient/tag:<hex>`),
// never by their identity URI (which carries the ID). The store's raw bytes are searched for the ID
// after the read; the entry still carries the patient's signature and `custos verify` checks it.
// Entries written before the rule (naming the patient by URI) still decode, verify and are shown
// without the ID.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { u64be } from "../../src/core/bytes.js";
import {
  decodeOperatorActionEntry,
  ENTRY_KINDS,
  encodeEntry,
  encodeOperatorActionEntry,
  OPERATOR_ACTIONS_LOOKUP_KEY,
} from "../../src/core/entry/index.js";
import { toHex, utf8 } from "../../src/core/index.js";
import { ed25519Verify } from "../../src/core/platform.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Deployment } from "../../src/identity/deployment.js";
import { operatorOf } from "../../src/identity/operator-actions.js";
import { openLogWritable } from "../../src/ledger/data-dir.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { runCli } from "./run-cli.js";

// Distinctive enough that it cannot turn up by chance in ciphertext, hashes or signatures.
const PATIENT = "PATIENT-ID-7Q93ZK-OFFLINE";
let env: TestDeployment;
let tag: Uint8Array;

const custos = (args: string[]) =>
  runCli(args, { env: { CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_MASTER_KEY: env.masterKey } });
const bundle = (id: string) => join(env.root, `${id}.custos-id`);

/** Every byte the store keeps on disk: the database file and its write-ahead log. */
function storeBytes(): Buffer {
  return Buffer.concat(
    ["custos.db", "custos.db-wal"].map((file) => {
      try {
        return readFileSync(join(env.data, file));
      } catch {
        return Buffer.alloc(0);
      }
    }),
  );
}

async function operatorActions(): Promise<{ index: number; data: Uint8Array }[]> {
  const store = SqliteStore.open(env.data, { readonly: true });
  try {
    const indexes = await store.findByLookupKey({
      key: OPERATOR_ACTIONS_LOOKUP_KEY,
      fromIndex: 0,
      limit: 100,
    });
    return (await store.getEntriesAt(indexes)).map((e) => ({ index: e!.index, data: e!.data }));
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["ehr-source", "emr"],
      ["patient", PATIENT],
      ["custodian", "privacy"],
    ],
    masterKeyFill: 27,
  });
  const provider = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: env.masterKey });
  const deployment = await Deployment.open(env.data, provider);
  tag = deployment.vault.patientTag(PATIENT);
  await deployment.close();
  const records = join(env.root, "records.ndjson");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(
    records,
    `${JSON.stringify({ time: new Date().toISOString(), patientId: PATIENT, userId: "dr-who", action: "query" })}\n`,
  );
  expect(custos(["ingest", records, "--data", env.data, "--source", "emr"]).status).toBe(0);
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

describe("an offline read by the patient", () => {
  it("leaves no trace of the patient's ID in the store: the operator action names their tag, signed by them", async () => {
    // Nothing written so far carries the ID (records are sealed, the patient enrolled by tag).
    expect(storeBytes().includes(Buffer.from(PATIENT))).toBe(false);
    const read = custos([
      "read",
      "--data",
      env.data,
      "--patient",
      PATIENT,
      "--as",
      bundle(PATIENT),
      "--json",
    ]);
    expect(read.stderr).toBe("");
    expect(read.status).toBe(0);
    expect(JSON.parse(read.stdout).records).toHaveLength(1);

    const bytes = storeBytes();
    expect(bytes.includes(Buffer.from(PATIENT)), "the patient ID is in the store's bytes").toBe(false);
    expect(bytes.includes(Buffer.from(`custos://stmary/patient/${PATIENT}`))).toBe(false);

    const actions = await operatorActions();
    expect(actions).toHaveLength(1);
    const action = decodeOperatorActionEntry(actions[0]!.data);
    expect(action).toMatchObject({
      action: "offline-read",
      operator: `custos://stmary/patient/tag:${toHex(tag)}`,
      detail: "read-trail as patient",
    });
    expect(toHex(action.patientTag!)).toBe(toHex(tag));
    // Beside the tag, the read's time is in clear to the hour only (as the notice's header).
    expect(action.time % 3_600_000).toBe(0);
    expect(Date.now() - action.time).toBeLessThan(2 * 3_600_000);
    const patient = env.identity(`patient/${PATIENT}`);
    expect(ed25519Verify(patient.signingPublicKey(), action.signed!.message, action.signed!.signature)).toBe(
      true,
    );

    // A full verify checks the patient's signature through the tag (they are enrolled under it).
    const verified = custos(["verify", "--data", env.data, "--no-save-state"]);
    expect(verified.stdout).toContain("OK: no tampering found");
    expect(verified.status).toBe(0);

    // The key audit shows the action by tag, and finds it for the patient.
    const audit = custos([
      "keys",
      "audit",
      "--data",
      env.data,
      "--party",
      `patient/${PATIENT}`,
      "--kind",
      "operator-action",
      "--json",
    ]);
    expect(audit.status).toBe(0);
    const events = audit.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events).toHaveLength(1);
    expect(events[0].detail).toBe(
      `offline-read by patient/tag:${toHex(tag)} (signed): read-trail as patient`,
    );
    expect(audit.stdout).not.toContain(PATIENT);
  });

  it("refuses, at the encoding, an operator action naming a patient by ID, and a patient's bundle where no tag is known", () => {
    const patient = env.identity(`patient/${PATIENT}`);
    expect(() =>
      encodeOperatorActionEntry({
        time: Date.now(),
        action: "offline-read",
        operator: patient.uri,
        detail: "read-trail as patient",
        patientTag: tag,
      }),
    ).toThrow(/names a patient only by their tag/);
    expect(() => operatorOf(patient)).toThrow(/a patient's bundle cannot name the operator/);
  });

  it("refuses a patient's bundle as the operator of a master-key rotation, with nothing written", async () => {
    const before = storeBytes().length;
    const count = (await operatorActions()).length;
    const newKey = join(env.root, "new-master.key");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(newKey, Buffer.alloc(32, 9).toString("base64"), { mode: 0o600 });
    const rotated = custos([
      "keystore",
      "rotate-master-key",
      "--data",
      env.data,
      "--new-master-key-file",
      newKey,
      "--as",
      bundle(PATIENT),
    ]);
    expect(rotated.status).not.toBe(0);
    expect(rotated.stderr.trim().split("\n")).toHaveLength(1);
    expect(rotated.stderr).toMatch(/a patient's bundle cannot name the operator/);
    expect(rotated.stderr).not.toContain(PATIENT);
    expect((await operatorActions()).length).toBe(count);
    expect(storeBytes().includes(Buffer.from(PATIENT))).toBe(false);
    expect(storeBytes().length).toBeGreaterThanOrEqual(before);
  });

  it("keeps an entry written before the rule (patient named by URI) readable and verified, shown without the ID", async () => {
    const patient = env.identity(`patient/${PATIENT}`);
    // The old encoding, field by field (the encoder now refuses it): time, action, operator, detail,
    // the trail's tag, then the patient's signature over the rest.
    const fields = [
      { tag: 0x01, value: u64be(BigInt(Date.now())) },
      { tag: 0x02, value: utf8("offline-read") },
      { tag: 0x03, value: utf8(patient.uri) },
      { tag: 0x04, value: utf8("read-trail as patient") },
      { tag: 0x05, value: tag },
    ];
    const unsigned = encodeEntry({ kind: ENTRY_KINDS.operatorAction, fields });
    const old = encodeEntry({
      kind: ENTRY_KINDS.operatorAction,
      fields: [...fields, { tag: 0x7f, value: patient.sign(unsigned) }],
    });
    const provider = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: env.masterKey });
    const ledger = await openLogWritable(env.data, provider);
    try {
      await ledger.appendOne({ entry: old, lookupKeys: [OPERATOR_ACTIONS_LOOKUP_KEY] });
      await ledger.checkpoint();
    } finally {
      await ledger.close();
    }
    const actions = await operatorActions();
    expect(decodeOperatorActionEntry(actions.at(-1)!.data).operator).toBe(patient.uri);
    // The scan of the first test finds an ID where one is written (what the old encoding did).
    expect(storeBytes().includes(Buffer.from(PATIENT))).toBe(true);

    const verified = custos(["verify", "--data", env.data, "--no-save-state"]);
    expect(verified.stdout).toContain("OK: no tampering found");
    const audit = custos(["keys", "audit", "--data", env.data, "--kind", "operator-action", "--json"]);
    expect(audit.status).toBe(0);
    const events = audit.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events.map((e) => e.detail)).toEqual([
      `offline-read by patient/tag:${toHex(tag)} (signed): read-trail as patient`,
      "offline-read by a patient (signed): read-trail as patient",
    ]);
    expect(audit.stdout).not.toContain(PATIENT);
  });
});
