// `custos enroll --bulk` (issue 19, must-show d): a bulk enrollment killed midway (kill -9) and run
// again ends with exactly every identity enrolled once; a dry run writes nothing; a bad line changes
// nothing. N is kept modest for CI; bench/onboarding.ts enrolls 100,000.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../src/core/bytes.js";
import { generateX25519KeyPair } from "../../src/crypto/hpke/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Deployment } from "../../src/identity/deployment.js";
import { BIN, createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { runCli } from "./run-cli.js";

const N = 10_000;
const GRANTED = 2_000;
let d: TestDeployment;
let env: NodeJS.ProcessEnv;
let csv: string;

function ok(args: string[]): string {
  const result = runCli(args, { env });
  expect(result.stderr.replace(/enrolled \d+\/\d+\n/g, ""), args.join(" ")).toBe("");
  expect(result.status, args.join(" ")).toBe(0);
  return result.stdout;
}

/** A holder's public keys, as a CSV row's two key cells (made by the holder, not the operator). */
function holderKeys(): string {
  const signing = generateX25519KeyPair(); // 32 random-looking bytes stand in for an Ed25519 key
  const encryption = generateX25519KeyPair();
  return `${toBase64(signing.publicKey)},${toBase64(encryption.publicKey)}`;
}

beforeAll(async () => {
  d = await createTestDeployment({ people: [["admin", "adm"]] });
  env = { CUSTOS_MASTER_KEY: d.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS };
  const rows = ["kind,id,signing_key,encryption_key,auditor", `auditor,A1,${holderKeys()},`];
  for (let i = 0; i < N; i++) rows.push(`patient,P${i},${holderKeys()},`);
  for (let i = 0; i < GRANTED; i++) rows.push(`grant,P${i},,,A1`);
  csv = join(d.root, "onboarding.csv");
  writeFileSync(csv, `${rows.join("\n")}\n`);
}, 120_000);
afterAll(() => d.cleanup());

async function registryState(): Promise<{ patients: number; findings: number }> {
  const deployment = await Deployment.open(
    d.data,
    new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: d.masterKey }),
  );
  try {
    return {
      patients: deployment.registry.withRole("patient").length,
      findings: deployment.registry.findings.length,
    };
  } finally {
    await deployment.close();
  }
}

describe("bulk onboarding", () => {
  it("refuses a bad line whole and a dry run writes nothing", async () => {
    const bad = join(d.root, "bad.csv");
    writeFileSync(bad, "kind,id,signing_key,encryption_key,auditor\npatient,P1,,,\npatient,P 2,,,\n");
    const refused = runCli(["enroll", "--bulk", bad, "--data", d.data, "--out", join(d.root, "b")], { env });
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim()).toBe(
      "error: line 3: an ID is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
    );
    const dry = ok(["enroll", "--bulk", csv, "--data", d.data, "--dry-run"]);
    expect(dry).toContain(
      `to do: enroll ${N + 1} (0 already enrolled), grant ${GRANTED} (0 already in force)`,
    );
    expect(dry).toContain("dry run: nothing written");
    expect(await registryState()).toEqual({ patients: 0, findings: 0 });
  }, 120_000);

  it(`killed midway (kill -9) and run again, ends with exactly ${N.toLocaleString("en-US")} patients enrolled`, async () => {
    const child = spawn(
      process.execPath,
      [BIN, "enroll", "--bulk", csv, "--data", d.data, "--as", join(d.root, "adm.custos-id")],
      { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
        // Past the first tenth: some batches are in the log, more are being written.
        if (/enrolled \d+\//.test(stderr)) child.kill("SIGKILL");
      });
      child.on("exit", (_code, signal) => resolve(signal));
    });
    expect(killed).toBe("SIGKILL");
    const partial = await registryState();
    expect(partial.patients).toBeGreaterThan(0);
    expect(partial.patients).toBeLessThan(N);

    const again = ok(["enroll", "--bulk", csv, "--data", d.data, "--as", join(d.root, "adm.custos-id")]);
    const todo = /to do: enroll (\d+) \((\d+) already enrolled\)/.exec(again)!;
    expect(Number(todo[1]) + Number(todo[2])).toBe(N + 1);
    expect(Number(todo[2])).toBeGreaterThanOrEqual(partial.patients);
    expect(again).toContain(
      `after: ${N} patient(s), 1 audit company enrolled; ${GRANTED} of the file's grants in force`,
    );
    expect(await registryState()).toEqual({ patients: N, findings: 0 });

    // A third run finds nothing to do and writes nothing.
    expect(ok(["enroll", "--bulk", csv, "--data", d.data, "--as", join(d.root, "adm.custos-id")])).toContain(
      `to do: enroll 0 (${N + 1} already enrolled), grant 0 (${GRANTED} already in force)`,
    );
  }, 600_000);
});
