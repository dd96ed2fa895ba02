// A mirror follows a real node over mutual TLS, verifying before it stores; resumes after being cut
// off mid-copy; refuses a node whose entries were edited; and a node whose store is lost is restored
// from the mirror with every acknowledged record present and the log verifying.

import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { ENTRY_FORMAT_VERSION } from "../../src/core/entry/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { followOnce } from "../../src/mirror/index.js";
import { runCli } from "../cli/run-cli.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
let mirrorDir: string;
const url = () => `https://127.0.0.1:${env.apiPort}`;

function records(from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    time: new Date(Date.UTC(2026, 10, 22, 8) + (from + i) * 60_000).toISOString(),
    patientId: (from + i) % 2 ? "P1" : "P2",
    userId: `dr-${(from + i) % 7}`,
    action: "query",
    sourceEventId: `evt-${from + i}`,
  }));
}

async function submit(from: number, count: number): Promise<number> {
  const emr = new CustosClient({ url: url(), identity: env.identity("ehr-source/emr") });
  let last = 0;
  for (let i = 0; i < count; i += 250) {
    const results = await emr.submit(records(from + i, Math.min(250, count - i)));
    last = Math.max(last, ...results.map((r) => r.index));
  }
  await emr.waitForCheckpoint(last + 1);
  return last + 1;
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["node", "mirror-acme"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["auditor", "A1"],
    ],
    masterKeyFill: 41,
  });
  await env.start();
  mirrorDir = join(env.root, "mirror");
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

const cli = (args: string[]) =>
  runCli(args, { env: { CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_MASTER_KEY: env.masterKey } });

describe("a mirror and a restore", () => {
  it("copies the log verified, resumes after a cut-off copy, and catches up", async () => {
    const size = await submit(0, 700);
    // A copy cut off after 300 entries (as if the mirror were killed), then resumed.
    const store = SqliteStore.open(mirrorDir, { create: true });
    const log = env.bundles.get("node/mirror-acme")!.log!;
    await store.initialize({
      origin: log.origin,
      verifierKey: log.verifierKey,
      createdAt: Date.now(),
      formatVersion: ENTRY_FORMAT_VERSION,
    });
    const source = new MtlsClient(url(), env.identity("node/mirror-acme"));
    const partial = await followOnce({
      source,
      store,
      origin: log.origin,
      verifierKey: log.verifierKey,
      maxEntries: 300,
    });
    expect(partial.to).toBeLessThan(size);
    await store.close();

    const run = cli([
      "mirror",
      "--once",
      "--data",
      mirrorDir,
      "--from",
      url(),
      "--as",
      join(env.root, "mirror-acme.custos-id"),
    ]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(new RegExp(`copied entries ${partial.to} to ${size} of ${size}, verified`));

    const more = await submit(700, 300);
    const again = cli([
      "mirror",
      "--once",
      "--data",
      mirrorDir,
      "--from",
      url(),
      "--as",
      join(env.root, "mirror-acme.custos-id"),
    ]);
    expect(again.stdout).toMatch(new RegExp(`copied entries ${size} to ${more} of ${more}`));
    const copy = SqliteStore.open(mirrorDir, { readonly: true });
    const report = await verifyStore(copy);
    await copy.close();
    expect(report.findings).toEqual([]);
    expect(report.entriesChecked).toBe(more);
  }, 120_000);

  it("refuses entries a node's disk was edited to show, storing nothing of them", async () => {
    const size = await submit(1000, 50);
    await env.stop();
    const db = new Database(join(env.data, "custos.db"));
    const row = db.prepare("SELECT data FROM entries WHERE idx = ?").get(size - 3) as { data: Buffer };
    const edited = Buffer.from(row.data);
    edited[edited.length - 1]! ^= 1;
    db.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(edited, size - 3);
    db.close();
    await env.start();
    const before = SqliteStore.open(mirrorDir, { readonly: true });
    const held = await before.getSize();
    await before.close();
    const run = cli([
      "mirror",
      "--once",
      "--data",
      mirrorDir,
      "--from",
      url(),
      "--as",
      join(env.root, "mirror-acme.custos-id"),
    ]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/forged|not the log's/);
    // Whole batches before the edited entry may be copied (each proven a prefix of the signed tree);
    // nothing from the edited entry on is stored, and what is stored verifies.
    const after = SqliteStore.open(mirrorDir, { readonly: true });
    expect(await after.getSize()).toBeGreaterThanOrEqual(held);
    expect(await after.getSize()).toBeLessThanOrEqual(size - 3);
    expect((await verifyStore(after)).findings).toEqual([]);
    await after.close();
    // Put the entry back for the next test.
    await env.stop();
    const fix = new Database(join(env.data, "custos.db"));
    fix.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(row.data, size - 3);
    fix.close();
    await env.start();
  }, 120_000);

  it("restores a node whose store was lost from the mirror: every acknowledged record is back", async () => {
    const size = await submit(1050, 20);
    const sync = cli([
      "mirror",
      "--once",
      "--data",
      mirrorDir,
      "--from",
      url(),
      "--as",
      join(env.root, "mirror-acme.custos-id"),
    ]);
    expect(sync.stderr).toBe("");
    expect(sync.stdout).toMatch(new RegExp(`of ${size}`));
    await env.stop();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(env.data, `custos.db${suffix}`), { force: true });

    const restored = cli(["restore", "--data", env.data, "--from-mirror", mirrorDir]);
    expect(restored.stderr).toBe("");
    expect(restored.stdout).toMatch(/restored from the mirror/);
    // The restore is an operator action in the restored log (docs/formats.md, operator actions).
    expect(restored.stdout).toMatch(/the restore is recorded in the log as entry \d+/);
    const verify = cli(["verify", "--data", env.data]);
    expect(verify.status).toBe(0);

    await env.start();
    const p1 = new CustosClient({ url: url(), identity: env.identity("patient/P1") });
    const trail = await p1.trail({ limit: 5000 });
    expect(trail.records).toHaveLength(535); // odd-numbered events of 0..1069
    // And the node sequences on from where the copy ends.
    expect(await submit(1070, 2)).toBeGreaterThan(size + 2);
  }, 120_000);
  it("restores over the network from a node serving the log, verified", async () => {
    const size = await submit(2000, 10);
    const target = join(env.root, "replacement");
    const run = cli([
      "restore",
      "--data",
      target,
      "--from",
      url(),
      "--as",
      join(env.root, "mirror-acme.custos-id"),
    ]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(
      /restored \d+ entries from https:\/\/127\.0\.0\.1:\d+, verified against the signed checkpoint/,
    );
    // A new directory holds no keystore yet: the restore says it could not be recorded.
    expect(run.stdout).toMatch(/the restore is not recorded in the log: .* holds no keystore/);
    const copy = SqliteStore.open(target, { readonly: true });
    expect(await copy.getSize()).toBeGreaterThanOrEqual(size);
    expect((await verifyStore(copy)).findings).toEqual([]);
    await copy.close();
    const wrong = cli(["restore", "--data", target, "--from", url()]);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/^error: --from URL needs --as BUNDLE/);
  }, 120_000);
});
