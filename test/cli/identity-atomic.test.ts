// Nothing half-done (issue 19.6): a failed `custos enroll`, `grant` or `revoke` leaves the log and the
// files exactly as they were, whether it fails before the log is touched (a bundle path that cannot be
// written, an unknown audit company) or at the append itself (the store gone under it).

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosError } from "../../src/core/errors.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { writeBundle } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { openLogReadOnly } from "../../src/ledger/data-dir.js";
import { tempDir } from "../helpers/temp.js";
import { runCli } from "./run-cli.js";

const masterKey = Buffer.alloc(32, 9).toString("base64");
const env = { CUSTOS_MASTER_KEY: masterKey, CUSTOS_BUNDLE_PASSPHRASE: "atomic passphrase" };
let root: { dir: string; cleanup: () => void };
let data: string;

function ok(args: string[]): string {
  const result = runCli(args, { env });
  expect(result.stderr, args.join(" ")).toBe("");
  expect(result.status, args.join(" ")).toBe(0);
  return result.stdout;
}

/** Every file of a directory tree with its SHA-256: the whole state a failed command must not touch. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[path] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

async function logSize(): Promise<number> {
  const ledger = await openLogReadOnly(data);
  try {
    return await ledger.size();
  } finally {
    await ledger.close();
  }
}

beforeAll(() => {
  root = tempDir("custos-atomic-");
  data = join(root.dir, "node");
  ok(["log", "init", "--data", data, "--origin", "atomic.custos.example/log"]);
  ok(["ca", "init", "--data", data, "--deployment", "stmary"]);
  ok([
    "enroll",
    "--data",
    data,
    "--role",
    "admin",
    "--id",
    "root",
    "--out",
    join(root.dir, "admin.custos-id"),
  ]);
  ok(["enroll", "--data", data, "--role", "patient", "--id", "P1", "--out", join(root.dir, "p1.custos-id")]);
}, 120_000);

afterAll(() => root?.cleanup());

describe("a failed admin command writes nothing", () => {
  it("an enroll whose bundle cannot be written appends nothing, and the identity can then be enrolled", async () => {
    const before = snapshot(root.dir);
    const size = await logSize();
    const missingDir = runCli(
      [
        "enroll",
        "--data",
        data,
        "--role",
        "patient",
        "--id",
        "P2",
        "--out",
        join(root.dir, "nope", "p2.custos-id"),
      ],
      { env },
    );
    expect(missingDir.status).not.toBe(0);
    expect(missingDir.stderr).toMatch(/^error: cannot write the bundle to .*nope.*\n$/);
    const existing = runCli(
      ["enroll", "--data", data, "--role", "patient", "--id", "P2", "--out", join(root.dir, "p1.custos-id")],
      { env },
    );
    expect(existing.status).not.toBe(0);
    expect(existing.stderr).toMatch(/^error: refusing to overwrite .*p1\.custos-id/);
    expect(await logSize()).toBe(size);
    expect(snapshot(root.dir)).toEqual(before);
    // Not "already enrolled": the failed attempts left no entry behind.
    ok([
      "enroll",
      "--data",
      data,
      "--role",
      "patient",
      "--id",
      "P2",
      "--out",
      join(root.dir, "p2.custos-id"),
    ]);
    expect(await logSize()).toBe(size + 1);
  }, 120_000);

  it("a refused grant or revoke leaves the log and the CRL as they were", async () => {
    const before = snapshot(data);
    const size = await logSize();
    const grant = runCli(
      [
        "grant",
        "--data",
        data,
        "--as",
        join(root.dir, "admin.custos-id"),
        "--auditor",
        "NOBODY",
        "--patient",
        "P1",
      ],
      { env },
    );
    expect(grant.status).not.toBe(0);
    expect(grant.stderr).toMatch(/^error: audit company NOBODY is not enrolled\n$/);
    const revoke = runCli(["revoke", "--data", data, "patient/NOBODY"], { env });
    expect(revoke.status).not.toBe(0);
    expect(revoke.stderr).toMatch(/^error: .*not an enrolled, unrevoked identity\n$/);
    expect(await logSize()).toBe(size);
    expect(snapshot(data)).toEqual(before);
  }, 120_000);
});

describe("a failed append undoes what came before it", () => {
  it("removes the bundle an enrollment wrote, and puts the CRL back after a revocation", async () => {
    const provider = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: masterKey });
    const deployment = await Deployment.open(data, provider);
    const crl = readFileSync(join(data, "ca", "crl.pem"), "utf8");
    const state = readFileSync(join(data, "ca", "state.json"), "utf8");
    // Fault injection: every append now fails as a failing disk would (after the checks pass).
    const ledger = deployment.vault.ledger as { append: unknown };
    ledger.append = async () => {
      throw new CustosError("STORE_CORRUPT", "the disk failed");
    };
    const out = join(root.dir, "p3.custos-id");
    await expect(
      deployment.enroll({ role: "patient", id: "P3", passphrase: "x", kdfIterations: 1000 }, (issued) => {
        writeBundle(out, issued.bundle);
        return () => rmSync(out);
      }),
    ).rejects.toThrow();
    expect(existsSync(out)).toBe(false);
    await expect(deployment.revoke("patient", "P1")).rejects.toThrow();
    expect(readFileSync(join(data, "ca", "crl.pem"), "utf8")).toBe(crl);
    expect(readFileSync(join(data, "ca", "state.json"), "utf8")).toBe(state);
    await deployment.close().catch(() => undefined);
    // The log still has P1 enrolled and unrevoked.
    const reopened = await Deployment.open(data, provider);
    expect(
      reopened.registry.active("patient", reopened.subjectOf("patient", "P1"), Date.now()),
    ).toBeDefined();
    expect(
      reopened.registry.active("patient", reopened.subjectOf("patient", "P3"), Date.now()),
    ).toBeUndefined();
    await reopened.close();
  }, 120_000);
});
