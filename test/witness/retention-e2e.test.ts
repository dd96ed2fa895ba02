// Retention with real processes: a node whose clock is moved past retention (libfaketime) expires its
// records' content while a legal hold does not stand, with a mirror following it. The ciphertexts are
// then gone from both stores' files (WAL included), every proof still verifies, both copies verify, and
// the held patient saw the hold in their query history. Retention requires an archive: one made for a
// regulator before the clock moved still verifies and opens offline once the node's content is gone.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { openCheckpoint } from "../../src/core/checkpoint/index.js";
import { contentHashOf, decodeEntry, ENTRY_KINDS } from "../../src/core/entry/index.js";
import { leafHash, verifyInclusion } from "../../src/core/merkle/index.js";
import { openLogReadOnly } from "../../src/ledger/data-dir.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { runCli } from "../cli/run-cli.js";
import { BIN, createTestDeployment, freePort, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
let mirrorDir: string;
let node: ChildProcess | undefined;
let mirror: ChildProcess | undefined;
let port = 0;
const url = () => `https://127.0.0.1:${port}`;
const CLI_ENV = () => ({ CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_MASTER_KEY: env.masterKey });
const cli = (args: string[]) => runCli(args, { env: CLI_ENV() });

/** Starts `custos serve`, under libfaketime with the clock moved by `offset` (e.g. "+4d") if given. */
/** What the node printed, across its restarts (for failure messages). */
let nodeOut = "";

async function startNode(offset?: string): Promise<void> {
  // The same port across restarts, so the mirror finds the node again (freePort: below the ephemeral range).
  if (port === 0) port = await freePort();
  const args = [
    BIN,
    "serve",
    "--data",
    env.data,
    "--identity",
    join(env.root, "n1.custos-id"),
    "--listen",
    `127.0.0.1:${port}`,
  ];
  // libfaketime is preloaded into the node itself. Run under /usr/bin/faketime, the node was that
  // program's child: stopping the test's child ended faketime only, and the orphaned node went on
  // serving (and erasing, and writing its WAL) while the test read the store's files, and after it.
  const child = spawn(process.execPath, args, {
    env: {
      PATH: process.env.PATH,
      ...CLI_ENV(),
      ...(offset
        ? {
            LD_PRELOAD: "/usr/$LIB/faketime/libfaketime.so.1",
            FAKETIME: offset,
            FAKETIME_DONT_FAKE_MONOTONIC: "1",
          }
        : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  node = child;
  child.stdout!.on("data", (c) => (nodeOut += c));
  child.stderr!.on("data", (c) => (nodeOut += c));
  await waitForOutput(child, "API (mutual TLS)");
}

function waitForOutput(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no "${text}" within 60 s: ${out}`)), 60_000);
    const seen = (chunk: Buffer) => {
      out += chunk;
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.once("exit", (code) => reject(new Error(`exited ${code} before "${text}": ${out}`)));
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  // The process that served is gone (not a wrapper around it): nothing writes the store after this.
  expect(() => process.kill(child.pid!, 0)).toThrow();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The stored ciphertexts and wrapped keys of access records and key envelopes in a data directory. */
async function recordContents(dir: string): Promise<{ index: number; entry: Uint8Array; content: Buffer }[]> {
  const store = SqliteStore.open(dir, { readonly: true });
  try {
    const found = [];
    for (const stored of await store.getEntries(0, await store.getSize())) {
      const entry = decodeEntry(stored.data);
      if (entry.kind !== ENTRY_KINDS.accessRecord && entry.kind !== ENTRY_KINDS.keyEnvelope) continue;
      const content = await store.getContent(contentHashOf(entry)!);
      if (content) found.push({ index: stored.index, entry: stored.data, content: Buffer.from(content) });
    }
    return found;
  } finally {
    await store.close();
  }
}

async function nodeSize(): Promise<number> {
  const store = SqliteStore.open(env.data, { readonly: true });
  try {
    return (await store.getLatestCheckpoint())?.size ?? 0;
  } finally {
    await store.close();
  }
}

async function mirrorSize(): Promise<number> {
  if (!existsSync(join(mirrorDir, "custos.db"))) return 0;
  const store = SqliteStore.open(mirrorDir, { readonly: true });
  try {
    return await store.getSize();
  } finally {
    await store.close();
  }
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
      ["admin", "adm"],
      ["auditor", "regulator"],
    ],
    masterKeyFill: 22,
  });
  mirrorDir = join(env.root, "mirror");
  // Three days' retention, ticking every second, a small batch so expiry takes several ticks.
  expect(
    cli([
      "retention",
      "set",
      "--data",
      env.data,
      "--days",
      "3",
      "--every",
      "1",
      "--batch",
      "50",
      "--require-archive",
    ]).stdout,
  ).toMatch(/retention: 3 days, only once archived/);
}, 120_000);

afterAll(async () => {
  await stop(mirror);
  await stop(node);
  await env.cleanup();
});

describe("retention expiry with real processes", () => {
  it("expires content past retention on the node and its mirror once no hold stands", async () => {
    await startNode();
    const emr = new CustosClient({ url: url(), identity: env.identity("ehr-source/emr") });
    const now = Date.now();
    const records = Array.from({ length: 40 }, (_, i) => ({
      time: new Date(now - (40 - i) * 60_000).toISOString(),
      patientId: i % 2 ? "P1" : "P2",
      userId: `dr-${i % 5}`,
      action: "query" as const,
      sourceEventId: `evt-${i}`,
    }));
    const results = await emr.submit(records);
    await emr.waitForCheckpoint(Math.max(...results.map((r) => r.index)) + 1);

    // A mirror follows the node for the whole test.
    mirror = spawn(
      process.execPath,
      [
        BIN,
        "mirror",
        "--data",
        mirrorDir,
        "--from",
        url(),
        "--as",
        join(env.root, "mirror-acme.custos-id"),
        "--every",
        "1",
      ],
      { env: { PATH: process.env.PATH, ...CLI_ENV() }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let mirrorOut = "";
    mirror.stdout!.on("data", (c) => (mirrorOut += c));
    mirror.stderr!.on("data", (c) => (mirrorOut += c));
    const before = await recordContents(env.data);
    expect(before.length).toBeGreaterThanOrEqual(40);
    await until("the mirror to copy the log", async () =>
      (await mirrorSize()) >= (await nodeSize()) ? true : undefined,
    );
    expect((await recordContents(mirrorDir)).length).toBe(before.length);

    // Legal holds: the whole deployment, and patient P1 (who sees it in their query history).
    const admin = join(env.root, "adm.custos-id");
    const hold = (action: string, scope: string[]) =>
      cli(["hold", action, "--as", admin, "--server", url(), "--reference", "Case 2026-117", ...scope]);
    expect(hold("place", ["--deployment"]).stdout).toMatch(
      /placed legal hold "Case 2026-117" on the whole deployment/,
    );
    expect(hold("place", ["--patient", "P1"]).stdout).toMatch(/on the patient/);
    const history = cli([
      "query-history",
      "--server",
      url(),
      "--as",
      join(env.root, "P1.custos-id"),
      "--json",
    ]);
    expect(history.stderr).toBe("");
    expect(JSON.parse(history.stdout)).toContainEqual(
      expect.objectContaining({ operation: "legal-hold-placed", reason: "Case 2026-117", role: "admin" }),
    );

    // Archive before deletion, while the node is stopped: every record, for a regulator whose keys
    // the custodian re-wraps.
    await stop(node);
    const archive = join(env.root, "before-expiry.custos-archive");
    const made = cli([
      "archive",
      "--data",
      env.data,
      "--from",
      new Date(now - 2 * 3_600_000).toISOString(),
      "--to",
      new Date(now + 3_600_000).toISOString(),
      "--for",
      "auditor/regulator",
      "--as",
      join(env.root, "privacy.custos-id"),
      "--out",
      archive,
    ]);
    expect(made.stderr).toBe("");
    expect(made.stdout).toMatch(/archived 40 record\(s\)/);
    // The regulator's new envelopes (one per epoch) are content the expiry must reach too.
    const archived = await recordContents(env.data);
    expect(archived.length).toBeGreaterThan(before.length);

    // The node's clock moves four days on: past retention, but the holds stand.
    await startNode("+4d");
    const adminClient = new MtlsClient(url(), env.identity("admin/adm"));
    const status = await until("a retention tick", async () => {
      const s = await adminClient.call<{ lastRunAt?: string; expiredEpochs: number; holds: unknown[] }>(
        "GET",
        "/v1/retention",
      );
      return s.lastRunAt ? s : undefined;
    });
    expect(status.expiredEpochs).toBe(0);
    expect(status.holds).toHaveLength(2);
    // Each hold entry carries the placing admin's signature (the CLI took the node's time, moved
    // four days on, for the entry); the unsigned request of earlier releases is refused.
    expect(status.holds).toEqual([
      expect.objectContaining({ scope: "deployment", signed: true }),
      expect.objectContaining({ signed: true }),
    ]);
    await expect(
      adminClient.call("POST", "/v1/holds", { action: "lift", reference: "Case 2026-117" }),
    ).rejects.toMatchObject({ code: "BAD_SIGNATURE" });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await recordContents(env.data)).length).toBe(archived.length);

    // Lifting the deployment's hold lets P2's records expire; P1's stay while its own hold stands.
    expect(hold("lift", ["--deployment"]).stdout).toMatch(/lifted legal hold/);
    await until("P2's epochs to expire", async () => {
      const s = await adminClient.call<{ expiredEpochs: number; deferred: number }>("GET", "/v1/retention");
      return s.expiredEpochs > 0 && s.deferred > 0 ? s : undefined;
    });
    const p1Held = await recordContents(env.data);
    expect(p1Held.length).toBeGreaterThan(0);
    expect(p1Held.length).toBeLessThan(archived.length);
    expect(hold("lift", ["--patient", "P1"]).stdout).toMatch(/lifted legal hold/);
    await until("every epoch to expire", async () =>
      (await recordContents(env.data)).length === 0 ? true : undefined,
    );
    const finalSize = await until("a checkpoint after the erasures", async () => {
      const s = await nodeSize();
      const store = SqliteStore.open(env.data, { readonly: true });
      const size = await store.getSize();
      await store.close();
      return s === size ? s : undefined;
    });
    await until("the mirror to apply the erasures", async () =>
      (await mirrorSize()) >= finalSize && (await recordContents(mirrorDir)).length === 0 ? true : undefined,
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}: mirror at ${await mirrorSize()} of ${finalSize}, holding ${(await recordContents(mirrorDir)).length} items; it said: ${mirrorOut.slice(-2000)}`,
      );
    });
    expect(mirrorOut).not.toMatch(/error/);

    await stop(mirror);
    await stop(node);
    // Nothing of the expired ciphertexts remains in either store's files, WAL included.
    // Each finding names the file and the offset, so a failure says where the bytes stayed.
    const kept = [env.data, mirrorDir].flatMap((dir) =>
      ["custos.db", "custos.db-wal"].flatMap((file) => {
        const bytes = existsSync(join(dir, file)) ? readFileSync(join(dir, file)) : Buffer.alloc(0);
        return archived
          .map((item) => ({ entry: item.index, at: bytes.indexOf(item.content) }))
          .filter((found) => found.at >= 0)
          .map((found) => `${join(dir, file)} holds entry ${found.entry}'s content at byte ${found.at}`);
      }),
    );
    expect(kept, `node said: ${nodeOut.slice(-2000)}`).toEqual([]);
    // Both copies verify (no content missing without an erasure, none kept after one, no free page
    // or WAL left holding bytes), and every expired entry's inclusion proof still verifies.
    for (const dir of [env.data, mirrorDir]) {
      const verify = cli(["verify", "--data", dir]);
      expect(verify.stdout, verify.stderr).toContain("OK: no tampering found");
    }
    // The archive made before the expiry still verifies with the log's key alone and opens offline.
    const ledger = await openLogReadOnly(env.data);
    const verified = cli(["verify-archive", archive, "--log-key", ledger.meta.verifierKey]);
    expect(verified.stdout, verified.stderr).toContain("OK: the archive verifies");
    const read = cli([
      "read",
      "--archive",
      archive,
      "--log-key",
      ledger.meta.verifierKey,
      "--as",
      join(env.root, "regulator.custos-id"),
      "--json",
    ]);
    expect(read.stderr).toBe("");
    expect(
      (JSON.parse(read.stdout) as { records: { userId: string }[] }).records.map((r) => r.userId).sort(),
    ).toEqual(records.map((r) => r.userId).sort());
    try {
      const checkpoint = (await ledger.latestCheckpoint())!;
      const opened = openCheckpoint(checkpoint.note, ledger.meta.verifierKey);
      const size = Number(opened.checkpoint.size);
      for (const item of before) {
        const proof = await ledger.inclusionProof(item.index, size);
        expect(
          verifyInclusion(leafHash(item.entry), item.index, size, proof, opened.checkpoint.rootHash),
        ).toBe(true);
      }
    } finally {
      await ledger.close();
    }
  }, 300_000);
});
