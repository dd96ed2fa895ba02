import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeOperatorActionEntry } from "../../src/core/entry/index.js";
import { recordToAuditEvent } from "../../src/core/record/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { tempDir } from "../helpers/temp.js";
import { runCli } from "./run-cli.js";

let root: { dir: string; cleanup: () => void };
let data: string;
const env = {
  CUSTOS_MASTER_KEY: Buffer.alloc(32, 5).toString("base64"),
  CUSTOS_BUNDLE_PASSPHRASE: "bundle passphrase 1",
};
/** Identity bundles by short name. */
const bundles: Record<string, string> = {};

function ok(args: string[], input?: string): string {
  const result = runCli(args, { env, ...(input !== undefined ? { input } : {}) });
  expect(result.stderr, args.join(" ")).toBe("");
  expect(result.status, args.join(" ")).toBe(0);
  return result.stdout;
}

beforeAll(() => {
  root = tempDir("custos-records-cli-");
  data = join(root.dir, "node");
  ok(["log", "init", "--data", data, "--origin", "records.custos.example/log"]);
  ok(["ca", "init", "--data", data, "--deployment", "records"]);
  for (const [name, role, id] of [
    ["admin", "admin", "admin"],
    ["custodian", "custodian", "custodian"],
    ["p1", "patient", "P1"],
    ["p2", "patient", "P2"],
    ["a1", "auditor", "A1"],
  ] as const) {
    bundles[name] = join(root.dir, `${name}.custos-id`);
    ok(["enroll", "--data", data, "--role", role, "--id", id, "--out", bundles[name]!]);
  }
  ok([
    "grant",
    "--data",
    data,
    "--as",
    bundles.admin!,
    "--auditor",
    "A1",
    "--patient",
    "P1",
    "--from",
    "2020-01-01T00:00:00Z",
  ]);
}, 120_000);
afterAll(() => root.cleanup());

describe("encrypted records from the command line", () => {
  it("ingests JSON, NDJSON and FHIR, and each reader sees exactly what it may", () => {
    const ndjson = [
      { time: "2026-11-23T08:00:00Z", patientId: "P1", userId: "dr.a", action: "query", sourceEventId: "e1" },
      { time: "2026-11-23T08:05:00Z", patientId: "P2", userId: "dr.b", action: "print", sourceEventId: "e2" },
    ]
      .map((r) => JSON.stringify(r))
      .join("\n");
    expect(ok(["ingest", "-", "--data", data, "--source", "ehr-main"], ndjson)).toContain(
      "ingested 2 record(s)",
    );
    const fhirFile = join(root.dir, "event.json");
    writeFileSync(
      fhirFile,
      JSON.stringify(
        recordToAuditEvent({
          time: "2026-11-23T09:00:00.000Z",
          patientId: "P1",
          userId: "nurse.c",
          action: "copy",
          emergency: true,
        }),
      ),
    );
    expect(ok(["ingest", fhirFile, "--data", data, "--source", "ehr-main"])).toContain(
      "ingested 1 record(s)",
    );
    // Replaying e1 stores nothing new.
    expect(ok(["ingest", "-", "--data", data, "--source", "ehr-main"], ndjson.split("\n")[0])).toContain(
      "1 already present",
    );

    const p1 = JSON.parse(ok(["read", "--data", data, "--patient", "P1", "--as", bundles.p1!, "--json"]));
    expect(p1.records.map((r: { userId: string }) => r.userId)).toEqual(["nurse.c", "dr.a"]);
    expect(p1.records[0]).toMatchObject({ action: "copy", emergency: true });
    const a1 = JSON.parse(ok(["read", "--data", data, "--patient", "P1", "--as", bundles.a1!, "--json"]));
    expect(a1.records).toHaveLength(2);
    const a1OnP2 = JSON.parse(ok(["read", "--data", data, "--patient", "P2", "--as", bundles.a1!, "--json"]));
    expect(a1OnP2.records).toEqual([]);
    expect(a1OnP2.notReadable).toHaveLength(1);
    const table = ok([
      "read",
      "--data",
      data,
      "--patient",
      "P2",
      "--as",
      bundles.custodian!,
      "--lawful-request",
      "court order 2026-17",
    ]);
    expect(table).toContain("print");
    expect(table).toContain("dr.b");
  }, 300_000);

  it("rejects a batch with one invalid record whole, naming the line and field", () => {
    const before = ok(["log", "checkpoint", "--data", data, "--latest"]);
    const bad = `${JSON.stringify({ time: "2026-11-23T08:00:00Z", patientId: "P1", userId: "u", action: "query" })}\n${JSON.stringify({ time: "2026-11-23T08:00:00Z", patientId: "P1", userId: "u", action: "peek" })}\n`;
    const result = runCli(["ingest", "-", "--data", data, "--source", "ehr-main"], { env, input: bad });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(
      "error: line 2: record.action: expected one of create, delete, change, query, print, copy",
    );
    expect(ok(["log", "checkpoint", "--data", data, "--latest"])).toBe(before);
  }, 300_000);

  it("reports key status, lets the custodian re-grant history, and erases under a signed entry", () => {
    const status = JSON.parse(ok(["keys", "status", "--data", data, "--patient", "P1", "P2", "--json"]));
    expect(status.patientsWithoutKey).toEqual([]);
    expect(status.parties.map((p: { role: string }) => p.role).sort()).toEqual([
      "admin",
      "auditor",
      "custodian",
      "patient",
      "patient",
    ]);
    const p1 = status.patients.find((s: { patient: string }) => s.patient === "P1");
    expect(p1).toMatchObject({ hasKey: true, records: 2 });
    // The patient, A1 (granted) and the custodian each open every epoch of P1.
    expect(
      p1.readers.map((r: { role: string; reader: string; current: boolean; missing: number }) => [
        r.role,
        r.reader,
        r.current,
        r.missing,
      ]),
    ).toEqual([
      ["auditor", "A1", true, 0],
      ["custodian", "custodian", true, 0],
      ["patient", "patient", true, 0],
    ]);
    expect(ok(["keys", "status", "--data", data])).toMatch(
      /5 enrolled parties:[\s\S]*0 patient\(s\) with no key/,
    );

    ok(["grant", "--data", data, "--as", bundles.admin!, "--auditor", "A1", "--patient", "P2"]);
    expect(ok(["keys", "rewrap", "--data", data, "--as", bundles.custodian!, "--auditor", "A1"])).toMatch(
      /re-wrapped [1-9]\d* epoch key\(s\) for 1 of 2 patient\(s\)/,
    );
    expect(
      JSON.parse(ok(["read", "--data", data, "--patient", "P2", "--as", bundles.a1!, "--json"])).records,
    ).toHaveLength(1);
    // A1 now opens every epoch of P2 too.
    const after = JSON.parse(ok(["keys", "status", "--data", data, "--patient", "P2", "--json"]));
    expect(after.patients[0].readers.find((r: { reader: string }) => r.reader === "A1")).toMatchObject({
      missing: 0,
    });

    expect(
      ok([
        "erase",
        "--data",
        data,
        "--patient",
        "P2",
        "--reason",
        "erasure-request",
        "--authorized-by",
        "privacy-officer",
      ]),
    ).toMatch(/erased \d+ stored item\(s\) under 1 signed erasure entry/);
    expect(ok(["verify", "--data", data])).toContain("OK: no tampering found");
    // The entries stay (every proof still verifies); their content is gone, so nothing opens.
    const gone = JSON.parse(
      ok(["read", "--data", data, "--patient", "P2", "--as", bundles.p2!, "--json"]),
    ) as {
      records: unknown[];
      notReadable: number[];
    };
    expect(gone.records).toEqual([]);
    expect(gone.notReadable.length).toBeGreaterThan(0);
  }, 300_000);

  it("refuses a wrong bundle passphrase and a missing master key with one-line errors", () => {
    const wrong = runCli(["read", "--data", data, "--patient", "P1", "--as", bundles.p1!], {
      env: { ...env, CUSTOS_BUNDLE_PASSPHRASE: "not the passphrase" },
    });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
    expect(wrong.stderr).toMatch(/^error: .*passphrase/);
    const noKey = runCli(["ingest", "-", "--data", data, "--source", "x"], { input: "{}" });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  }, 300_000);
});

describe("master key rotation from the command line", () => {
  it("re-seals the keystore under a new key file; the old key no longer opens it; the log only records it", async () => {
    const keyFile = join(root.dir, "new-master.key");
    writeFileSync(keyFile, `${Buffer.alloc(32, 6).toString("base64")}\n`, { mode: 0o600 });
    const before = ok(["log", "checkpoint", "--data", data, "--latest"]);
    expect(ok(["keystore", "rotate-master-key", "--data", data, "--new-master-key-file", keyFile])).toContain(
      "key file",
    );
    const old = runCli(["keystore", "list", "--data", data], { env });
    expect(old.status).toBe(2);
    expect(old.stderr).toMatch(/^error: the keystore .* is sealed with a key-file master key/);
    const names = runCli(["keystore", "list", "--data", data, "--master-key-file", keyFile], {
      env: {},
    });
    expect(names.stdout.split("\n")).toContain("log-signer-key");
    // The log gained one entry, naming who rotated; everything before it is unchanged.
    const after = ok(["log", "checkpoint", "--data", data, "--latest"]).split("\n");
    expect(Number(after[1])).toBe(Number(before.split("\n")[1]) + 1);
    const store = SqliteStore.open(data, { readonly: true });
    try {
      const [last] = await store.getEntries(Number(after[1]) - 1, Number(after[1]));
      expect(decodeOperatorActionEntry(last!.data)).toMatchObject({
        action: "master-key-rotation",
        operator: expect.stringMatching(/^local-account:/),
      });
    } finally {
      await store.close();
    }
    expect(ok(["verify", "--data", data])).toContain("OK: no tampering found");
  }, 300_000);
});
