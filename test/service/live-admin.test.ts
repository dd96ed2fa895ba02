// Administering a running node (issue 19.2): admin commands with --data against a log the node holds
// are refused with a one-line message pointing at --server, and the same actions through the node's
// API take effect at once, with real `custos` processes over mutual TLS.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
