// Administering a running node (issue 19.2): admin commands with --data against a log the node holds
// are refused with a one-line message pointing at --server, and the same actions through the node's
// API take effect at once, with real `custos` processes over mutual TLS.

import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { Identity, readBundle } from "../../src/identity/bundle.js";
import { openLogReadOnly } from "../../src/ledger/data-dir.js";
import { runCli } from "../cli/run-cli.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;

function cli(args: string[]) {
  return runCli(args, { env: { CUSTOS_MASTER_KEY: env.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS } });
}

async function logSize(): Promise<number> {
  const ledger = await openLogReadOnly(env.data);
  try {
    return await ledger.size();
  } finally {
    await ledger.close();
  }
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["admin", "root"],
      ["patient", "P1"],
      ["auditor", "A1"],
      ["ehr-source", "emr"],
      ["custodian", "privacy"],
    ],
  });
  await env.start();
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

describe("admin commands with --data while a node serves the log", () => {
  it("are refused in one line naming --server, and change nothing", async () => {
    const size = await logSize();
    const admin = join(env.root, "root.custos-id");
    const out = join(env.root, "p2.custos-id");
    for (const args of [
      ["enroll", "--data", env.data, "--role", "patient", "--id", "P2", "--out", out],
      ["grant", "--data", env.data, "--as", admin, "--auditor", "A1", "--patient", "P1"],
      ["revoke", "--data", env.data, "patient/P1"],
    ]) {
      const result = cli(args);
      expect(result.status, args[0]).toBe(2);
      expect(result.stderr).toBe(
        "error: a running node holds this log: run admin commands through it with --server URL --as ADMIN_BUNDLE\n",
      );
    }
    expect(existsSync(out)).toBe(false);
    expect(await logSize()).toBe(size);
  }, 120_000);
});

describe("the epoch-key cache through the node", () => {
  it("reports its counts and ends every live epoch on request, zero live after", async () => {
    const server = `https://127.0.0.1:${env.apiPort}`;
    const admin = join(env.root, "root.custos-id");
    const emr = join(env.root, "emr.custos-id");
    const records = join(env.root, "epoch-records.ndjson");
    writeFileSync(
      records,
      '{"time":"2026-11-23T08:00:00Z","patientId":"P1","userId":"dr.house","action":"query"}\n',
    );
    expect(cli(["ingest", records, "--server", server, "--as", emr]).status).toBe(0);
    const before = JSON.parse(cli(["keys", "cache", "--server", server, "--as", admin, "--json"]).stdout);
    expect(before.active).toBe(1);
    expect(before.epochsStarted).toBeGreaterThanOrEqual(1);

    const ended = cli(["keys", "cache", "--server", server, "--as", admin, "--end"]);
    expect(ended.stderr).toBe("");
    expect(ended.stdout).toMatch(
      /^ended 1 live epoch\nepoch keys: 0 live; since start \d+ started, \d+ ended/,
    );

    // The patient's next record starts a new epoch.
    expect(cli(["ingest", records, "--server", server, "--as", emr]).status).toBe(0);
    const after = JSON.parse(cli(["keys", "cache", "--server", server, "--as", admin, "--json"]).stdout);
    expect(after).toMatchObject({ active: 1, epochsStarted: before.epochsStarted + 1 });

    // Only an admin may look.
    const refused = cli(["keys", "cache", "--server", server, "--as", emr]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^error: .*admin/);
  }, 120_000);
});

describe("replacing a lost key through the node", () => {
  it("revokes and enrolls in one append; a replacement that fails leaves the identity as it was", async () => {
    const server = `https://127.0.0.1:${env.apiPort}`;
    const admin = join(env.root, "root.custos-id");
    const adminHttp = new MtlsClient(server, Identity.unlock(readBundle(admin), PASS));
    const whoami = (bundle: string) =>
      new MtlsClient(server, Identity.unlock(readBundle(bundle), PASS)).call<{ role: string }>(
        "GET",
        "/v1/whoami",
      );
    const old = join(env.root, "P1.custos-id");
    expect(await whoami(old)).toMatchObject({ role: "patient" });

    // A bundle the node would make needs a passphrase: refused before anything changes (the identity
    // used to be revoked first and then left without keys).
    const size = await logSize();
    await expect(
      adminHttp.call("POST", "/v1/admin/key-replacements", { role: "patient", id: "P1" }),
    ).rejects.toMatchObject({ code: "BAD_ARGUMENT", message: expect.stringMatching(/needs a passphrase/) });
    await expect(
      adminHttp.call("POST", "/v1/admin/key-replacements", {
        role: "patient",
        id: "nobody",
        passphrase: PASS,
      }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await logSize()).toBe(size);
    expect(await whoami(old)).toMatchObject({ role: "patient" });

    const replacement = join(env.root, "P1-new.custos-id");
    const replaced = cli([
      "replace-key",
      "--server",
      server,
      "--as",
      admin,
      "--role",
      "patient",
      "--id",
      "P1",
      "--out",
      replacement,
    ]);
    expect(replaced.stderr).toBe("");
    expect(replaced.status).toBe(0);
    // Exactly two entries, adjacent: the revocation, then the new keys.
    expect(await logSize()).toBe(size + 2);
    const audit = cli([
      "keys",
      "audit",
      "--server",
      server,
      "--as",
      admin,
      "--party",
      "patient/P1",
      "--json",
    ]);
    const events = audit.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { index: number; kind: string });
    const [revocation, enrollment] = events
      .filter((e) => e.kind === "revocation" || e.kind === "enrollment")
      .slice(-2);
    expect(revocation).toMatchObject({ kind: "revocation", index: size });
    expect(enrollment).toMatchObject({ kind: "enrollment", index: size + 1 });
    // The new bundle works; the old one's certificate is refused at the handshake.
    expect(await whoami(replacement)).toMatchObject({ role: "patient" });
    await expect(whoami(old)).rejects.toMatchObject({
      code: expect.stringMatching(/NOT_AUTHENTICATED|UNAVAILABLE/),
    });
  }, 120_000);
});
