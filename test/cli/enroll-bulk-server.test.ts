// Bulk onboarding through a running node (issue 19.3, "over the API"): `custos enroll --bulk FILE.csv
// --server URL --as ADMIN_BUNDLE` and POST /v1/admin/bulk-enrollments, against a real `custos serve`
// process. The same semantics as offline (test/cli/enroll-bulk.test.ts): a bad row changes nothing,
// a dry run writes nothing, the client killed midway (kill -9) and run again ends with exactly every
// identity enrolled once, `--force` replaces keys that differ from the file's, and rows without keys
// get bundles the node makes.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminClient } from "../../src/client/admin-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { toBase64 } from "../../src/core/bytes.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Deployment } from "../../src/identity/deployment.js";
import { patientSubject } from "../../src/identity/registry.js";
import { BIN, createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { runCli } from "./run-cli.js";

const N = 8_000;
const GRANTED = 1_600;
let d: TestDeployment;
let env: NodeJS.ProcessEnv;
let csv: string;
let url: string;
let admin: AdminClient;

/**
 * A holder's public keys, as two base64 cells: 32 random bytes each (nothing is sealed to them or
 * signed with them here, and the node records public keys as given; test/cli/enroll-bulk.test.ts and
 * bench/onboarding.ts use real key pairs).
 */
function holderKeys(): [string, string] {
  return [toBase64(randomBytes(32)), toBase64(randomBytes(32))];
}

function cli(args: string[]) {
  return runCli(args, { env });
}

function ok(args: string[]): string {
  const result = cli(args);
  expect(result.stderr.replace(/enrolled \d+\/\d+\n/g, ""), args.join(" ")).toBe("");
  expect(result.status, args.join(" ")).toBe(0);
  return result.stdout;
}

const bulk = (...extra: string[]) => [
  "enroll",
  "--bulk",
  csv,
  "--server",
  url,
  "--as",
  join(d.root, "adm.custos-id"),
  ...extra,
];

/** Patients the node's registry holds now (a dry run of nothing answers its counts). */
async function patientsOnNode(): Promise<number> {
  return (await admin.bulkEnroll([], { dryRun: true })).before.patients;
}

beforeAll(async () => {
  d = await createTestDeployment({
    people: [
      ["admin", "adm"],
      ["node", "n1"],
      ["auditor", "other"],
    ],
  });
  env = { CUSTOS_MASTER_KEY: d.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS };
  const rows = ["kind,id,signing_key,encryption_key,auditor", `auditor,A1,${holderKeys().join(",")},`];
  for (let i = 0; i < N; i++) rows.push(`patient,P${i},${holderKeys().join(",")},`);
  rows.push("patient,BUNDLED,,,");
  for (let i = 0; i < GRANTED; i++) rows.push(`grant,P${i},,,A1`);
  csv = join(d.root, "onboarding.csv");
  writeFileSync(csv, `${rows.join("\n")}\n`);
  await d.start();
  url = `https://127.0.0.1:${d.apiPort}`;
  admin = new AdminClient(url, d.identity("admin/adm"));
}, 300_000);
afterAll(() => d.cleanup());

describe("bulk onboarding through a running node", () => {
  it("refuses a bad row whole, a non-admin, and offline --data while the node serves; a dry run writes nothing", async () => {
    // NDJSON, straight to the API: row 2 is bad, so row 1 is not enrolled either.
    const http = new MtlsClient(url, d.identity("admin/adm"));
    const [s, e] = holderKeys();
    const ndjson = `${JSON.stringify({ kind: "patient", id: "Q1", signingKey: s, encryptionKey: e })}\n${JSON.stringify({ kind: "patient", id: "Q 2" })}\n`;
    await expect(
      http.call("POST", "/v1/admin/bulk-enrollments", ndjson, "application/x-ndjson"),
    ).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
      message: "row 2: an ID is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
    });
    await expect(
      http.call("POST", "/v1/admin/bulk-enrollments", [{ kind: "patient", id: "Q1", signingKey: s }]),
    ).rejects.toMatchObject({ code: "BAD_ARGUMENT", message: "row 1: give both public keys or neither" });
    // An audit company is no admin.
    const auditor = new MtlsClient(url, d.identity("auditor/other"));
    await expect(
      auditor.call("POST", "/v1/admin/bulk-enrollments", [
        { kind: "patient", id: "Q1", signingKey: s, encryptionKey: e },
      ]),
    ).rejects.toMatchObject({ code: "NOT_AUTHORIZED" });
    http.close();
    auditor.close();
    expect(await patientsOnNode()).toBe(0);

    // Offline against the log the node holds: refused, naming --server.
    const offline = cli(["enroll", "--bulk", csv, "--data", d.data]);
    expect(offline.status).not.toBe(0);
    expect(offline.stderr.trim()).toBe(
      "error: a running node holds this log: run admin commands through it with --server URL --as ADMIN_BUNDLE",
    );

    const dry = ok(bulk("--dry-run"));
    expect(dry).toContain(`${csv}: ${N + 2} identities, ${GRANTED} grant(s)`);
    expect(dry).toContain("before: 0 patient(s), 1 audit company enrolled; 0 of the file's grants in force");
    expect(dry).toContain(
      `to do: enroll ${N + 2} (0 already enrolled), grant ${GRANTED} (0 already in force)`,
    );
    expect(dry).toContain("dry run: nothing written");
    expect(await patientsOnNode()).toBe(0);
  }, 120_000);

  it(`killed midway (kill -9) and run again, ends with exactly ${N.toLocaleString("en-US")} + 1 patients enrolled`, async () => {
    const out = join(d.root, "bundles");
    const child = spawn(process.execPath, [BIN, ...bulk("--out", out)], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
        // The first request's patients are in the log; more are on their way.
        if (/enrolled \d+\//.test(stderr)) child.kill("SIGKILL");
      });
      child.on("exit", (_code, signal) => resolve(signal));
    });
    expect(killed, stderr).toBe("SIGKILL");
    const partial = await patientsOnNode();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(N);

    const again = ok(bulk("--out", out));
    const todo = /to do: enroll (\d+) \((\d+) already enrolled\)/.exec(again)!;
    expect(Number(todo[1]) + Number(todo[2])).toBe(N + 2);
    expect(Number(todo[2])).toBeGreaterThanOrEqual(partial);
    expect(again).toContain(
      `after: ${N + 1} patient(s), 2 audit companies enrolled; ${GRANTED} of the file's grants in force`,
    );
    expect(await patientsOnNode()).toBe(N + 1);
    // The row without keys: the node made its bundle, written to --out.
    const bundled = JSON.parse(readFileSync(join(out, "patient-BUNDLED.custos-id"), "utf8"));
    expect(bundled.uri).toBe("custos://stmary/patient/BUNDLED");

    // A third run finds nothing to do and writes nothing.
    expect(ok(bulk("--out", out))).toContain(
      `to do: enroll 0 (${N + 2} already enrolled), grant 0 (${GRANTED} already in force)`,
    );
  }, 600_000);

  it("--force replaces keys that differ from the file's, once; without it they are left and counted", async () => {
    const [s, e] = holderKeys();
    const changed = join(d.root, "changed.csv");
    writeFileSync(
      changed,
      `kind,id,signing_key,encryption_key,auditor\npatient,P7,${s},${e},\npatient,NEW1,${holderKeys().join(",")},\n`,
    );
    const args = (...extra: string[]) => [
      "enroll",
      "--bulk",
      changed,
      "--server",
      url,
      "--as",
      join(d.root, "adm.custos-id"),
      ...extra,
    ];
    expect(ok(args())).toContain(
      "to do: enroll 1 (0 already enrolled), leave 1 enrolled with other keys than the file's (--force replaces them), grant 0 (0 already in force)",
    );
    expect(ok(args("--force"))).toContain(
      "to do: enroll 0 (1 already enrolled), replace the keys of 1 (enrolled with other keys), grant 0 (0 already in force)",
    );
    // Run again: the keys are the file's now, nothing to do.
    expect(ok(args("--force"))).toContain(
      "to do: enroll 0 (2 already enrolled), grant 0 (0 already in force)",
    );
    expect(await patientsOnNode()).toBe(N + 2);
  }, 120_000);

  it("the log the node wrote folds without findings: one identity each, P7 with the file's new key", async () => {
    await d.stop();
    const deployment = await Deployment.open(
      d.data,
      new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: d.masterKey }),
    );
    try {
      expect(deployment.registry.findings).toEqual([]);
      const at = Date.now();
      const active = deployment.registry
        .withRole("patient")
        .filter((i) => deployment.registry.active("patient", i.subject, at));
      expect(active.length).toBe(N + 2);
      const p7 = deployment.registry.active(
        "patient",
        patientSubject(deployment.vault.patientTag("P7")),
        at,
      )!;
      const row = readFileSync(join(d.root, "changed.csv"), "utf8").split("\n")[1]!.split(",");
      expect(toBase64(p7.encryptionKey)).toBe(row[3]);
      expect(
        deployment.registry.isGranted(
          "A1",
          patientSubject(deployment.vault.patientTag(`P${GRANTED - 1}`)),
          at,
        ),
      ).toBe(true);
      expect(
        deployment.registry.isGranted("A1", patientSubject(deployment.vault.patientTag(`P${GRANTED}`)), at),
      ).toBe(false);
    } finally {
      await deployment.close();
    }
    expect(existsSync(d.data)).toBe(true);
  }, 120_000);
});
