// `custos verify --against-mirror` / `--against`: a real node witnessed by a real witness, a mirror that
// copied it, and copies of the node's store attacked on disk (an entry edited, ciphertext edited and
// deleted, rows deleted in the middle and at the end, the whole store deleted, a conflicting checkpoint
// signed with the log's key). Each comparison names the exact damage and prints the restore command;
// that command, run as printed, brings the store back, and the comparison is then clean. The same
// against a mirror serving its copy over mutual TLS.

import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { signCheckpoint } from "../../src/core/checkpoint/index.js";
import { contentHashOf, decodeEntry, ENTRY_KINDS } from "../../src/core/entry/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { loadSignerKey } from "../../src/ledger/data-dir.js";
import { runCli } from "../cli/run-cli.js";
import { BIN, createTestDeployment, freePort, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
let witness: { port: number; key: string };
let mirrorDir: string;
let pristine: string;
let size: number;
const children: ChildProcess[] = [];
const nodeUrl = () => `https://127.0.0.1:${env.apiPort}`;
const bundle = (id: string) => join(env.root, `${id}.custos-id`);
const cli = (args: string[]) =>
  runCli(args, { env: { CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_MASTER_KEY: env.masterKey } });
const quorum = () => ["--witness-key", witness.key, "--quorum", "1"];

interface JsonFinding {
  code: string;
  firstIndex?: number;
  lastIndex?: number;
  entryKinds?: string[];
  notes?: { local: string; reference: string };
}
interface JsonReport {
  ok: boolean;
  local: { ok: boolean; findings: JsonFinding[] } | null;
  against: {
    checkpoint: { size: number; cosigners: string[] };
    entriesCompared: number;
    notYetCopied: { firstIndex: number; lastIndex: number; count: number } | null;
    findings: JsonFinding[];
  };
  repair: string | null;
}

function startProcess(args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_MASTER_KEY: env.masterKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`did not start: ${out}`)), 30_000);
    const seen = (chunk: Buffer) => {
      out += chunk;
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

async function submit(from: number, count: number): Promise<number> {
  const emr = new CustosClient({ url: nodeUrl(), identity: env.identity("ehr-source/emr") });
  let last = 0;
  for (let i = 0; i < count; i += 250) {
    const results = await emr.submit(
      Array.from({ length: Math.min(250, count - i) }, (_, j) => ({
        time: new Date(Date.UTC(2026, 10, 24, 8) + (from + i + j) * 60_000).toISOString(),
        patientId: (from + i + j) % 2 ? "P1" : "P2",
        userId: `dr-${(from + i + j) % 7}`,
        action: "query",
        sourceEventId: `va-${from + i + j}`,
      })),
    );
    last = Math.max(last, ...results.map((r) => r.index));
  }
  await emr.waitForCheckpoint(last + 1);
  return last + 1;
}

function syncMirror(): void {
  const run = cli([
    "mirror",
    "--once",
    "--data",
    mirrorDir,
    "--from",
    nodeUrl(),
    "--as",
    bundle("mirror-acme"),
    ...quorum(),
  ]);
  expect(run.stderr).toBe("");
}

let copies = 0;
/** A fresh copy of the stopped node's data directory (log and keystore), to attack. */
function nodeCopy(): string {
  const dir = join(env.root, `node-copy-${copies++}`);
  cpSync(pristine, dir, { recursive: true });
  return dir;
}

/** Entries of the mirror's copy, with their kind and content hash, to pick targets from. */
function entries(): { index: number; kind: number; contentHash?: Buffer }[] {
  const db = new Database(join(mirrorDir, "custos.db"), { readonly: true });
  const rows = db.prepare("SELECT idx, data FROM entries WHERE idx < ? ORDER BY idx").all(size) as {
    idx: number;
    data: Buffer;
  }[];
  db.close();
  return rows.map((row) => {
    const hash = contentHashOf(decodeEntry(new Uint8Array(row.data)));
    return { index: row.idx, kind: row.data[1]!, ...(hash ? { contentHash: Buffer.from(hash) } : {}) };
  });
}

function verifyJson(args: string[]): { status: number; report: JsonReport } {
  const run = cli(["verify", ...args, "--json"]);
  expect(run.stderr).toBe("");
  return { status: run.status, report: JSON.parse(run.stdout) as JsonReport };
}

const compact = (findings: JsonFinding[]) =>
  findings.map((f) => ({
    code: f.code,
    firstIndex: f.firstIndex,
    lastIndex: f.lastIndex,
    ...(f.entryKinds ? { entryKinds: f.entryKinds } : {}),
  }));

/** Runs the printed `to repair:` command as printed, then the comparison must be clean. */
function repairAndRecheck(text: string, verifyArgs: string[]): void {
  const line = text.split("\n").find((l) => l.startsWith("to repair: "));
  expect(line, text).toBeDefined();
  const words = line!.slice("to repair: ".length).split(" ");
  expect(words.slice(0, 2)).toEqual(["custos", "restore"]);
  const restored = cli(words.slice(1));
  expect(restored.stderr).toBe("");
  expect(restored.status).toBe(0);
  const again = cli(["verify", ...verifyArgs]);
  expect(again.stdout).toMatch(/^OK: this store matches the verified copy of /m);
  expect(again.status).toBe(0);
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
      ["witness", "w-acme"],
    ],
    masterKeyFill: 71,
  });
  const log = env.bundles.get("patient/P1")!.log!;
  const dir = join(env.root, "w-acme");
  const init = cli(["witness", "init", "--data", dir, "--name", "w-acme.witness.example"]);
  expect(init.status, init.stderr).toBe(0);
  witness = { port: await freePort(), key: init.stdout.trim().split("\n").pop()! };
  expect(
    cli(["witness", "add-log", "--data", dir, "--origin", log.origin, "--key", log.verifierKey]).status,
  ).toBe(0);
  await startProcess(
    [
      "witness",
      "serve",
      "--data",
      dir,
      "--identity",
      bundle("w-acme"),
      "--listen",
      `127.0.0.1:${witness.port}`,
    ],
    "serving on",
  );
  await env.start(["--witness", `https://127.0.0.1:${witness.port}=${witness.key}`]);
  mirrorDir = join(env.root, "mirror");
  pristine = join(env.root, "pristine");
}, 120_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await env?.cleanup();
});

describe("custos verify against a mirror", () => {
  it("compares a running node clean, and says which of its entries the mirror has not copied yet", async () => {
    const copied = await submit(0, 600);
    syncMirror();
    const ahead = await submit(600, 3);
    const { status, report } = verifyJson(["--data", env.data, "--against-mirror", mirrorDir, ...quorum()]);
    expect(status).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.local?.findings).toEqual([]);
    expect(report.against.findings).toEqual([]);
    expect(report.against.checkpoint.size).toBe(copied);
    expect(report.against.checkpoint.cosigners).toEqual(["w-acme.witness.example"]);
    expect(report.against.notYetCopied).toEqual({
      firstIndex: copied,
      lastIndex: ahead - 1,
      count: ahead - copied,
    });
    expect(report.repair).toBeNull();
    const text = cli(["verify", "--data", env.data, "--against-mirror", mirrorDir]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `OK: this store matches the verified copy of the mirror .*; ${ahead - copied} later entries here \\(entries ${copied} to ${ahead - 1}\\) are not yet copied there, which is fine`,
      ),
    );

    syncMirror();
    size = ahead;
    await env.stop();
    cpSync(env.data, pristine, { recursive: true });
  }, 120_000);

  it("names an entry edited on disk, with its kind, and the restore brings it back", () => {
    const target = entries().filter((e) => e.kind === ENTRY_KINDS.accessRecord)[40]!;
    const dir = nodeCopy();
    const db = new Database(join(dir, "custos.db"));
    const row = db.prepare("SELECT data FROM entries WHERE idx = ?").get(target.index) as { data: Buffer };
    const edited = Buffer.from(row.data);
    edited[edited.length - 1]! ^= 1;
    db.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(edited, target.index);
    db.close();

    const args = ["--data", dir, "--against-mirror", mirrorDir, ...quorum()];
    const { status, report } = verifyJson(args);
    expect(status).toBe(1);
    expect(compact(report.against.findings)).toEqual([
      {
        code: "ENTRY_MODIFIED",
        firstIndex: target.index,
        lastIndex: target.index,
        entryKinds: ["accessRecord"],
      },
    ]);
    expect(report.local?.findings.map((f) => f.code)).toContain("ENTRY_MODIFIED");
    expect(report.repair).toBe(
      `custos restore --data ${dir} --from-mirror ${mirrorDir} --witness-key ${witness.key} --quorum 1`,
    );
    const text = cli(["verify", ...args]);
    expect(text.stdout).toContain(
      `[ENTRY_MODIFIED] entry ${target.index} (access record) differs from the verified copy in the mirror ${mirrorDir}: altered in this store`,
    );
    expect(text.stdout).toMatch(/^DAMAGE FOUND: /m);
    repairAndRecheck(text.stdout, args);
  }, 120_000);

  it("names ciphertext edited and ciphertext deleted, which the mirror still holds", () => {
    const withContent = entries().filter((e) => e.contentHash !== undefined);
    const edited = withContent[10]!;
    const deleted = withContent[200]!;
    const dir = nodeCopy();
    const db = new Database(join(dir, "custos.db"));
    const content = db.prepare("SELECT data FROM contents WHERE hash = ?").get(edited.contentHash) as {
      data: Buffer;
    };
    const changed = Buffer.from(content.data);
    changed[5]! ^= 0x40;
    db.prepare("UPDATE contents SET data = ? WHERE hash = ?").run(changed, edited.contentHash);
    db.prepare("DELETE FROM contents WHERE hash = ?").run(deleted.contentHash);
    db.close();
    const kindOf = (e: { kind: number }) =>
      Object.entries(ENTRY_KINDS).find(([, code]) => code === e.kind)![0];

    const args = ["--data", dir, "--against-mirror", mirrorDir];
    const { status, report } = verifyJson(args);
    expect(status).toBe(1);
    expect(compact(report.against.findings)).toEqual([
      {
        code: "CONTENT_MODIFIED",
        firstIndex: edited.index,
        lastIndex: edited.index,
        entryKinds: [kindOf(edited)],
      },
      {
        code: "CONTENT_MISSING",
        firstIndex: deleted.index,
        lastIndex: deleted.index,
        entryKinds: [kindOf(deleted)],
      },
    ]);
    const text = cli(["verify", ...args]);
    expect(text.stdout).toContain(`[CONTENT_MODIFIED] the encrypted content of entry ${edited.index}`);
    expect(text.stdout).toContain(`[CONTENT_MISSING] the encrypted content of entry ${deleted.index}`);
    repairAndRecheck(text.stdout, args);
  }, 120_000);

  it("counts acknowledged entries deleted in the middle and at the end, held by the mirror", () => {
    const dir = nodeCopy();
    const db = new Database(join(dir, "custos.db"));
    db.prepare("DELETE FROM entries WHERE idx IN (100, 101, 102)").run();
    db.prepare("DELETE FROM entries WHERE idx >= ?").run(size - 7);
    db.close();
    const args = ["--data", dir, "--against-mirror", mirrorDir, ...quorum()];
    const { status, report } = verifyJson(args);
    expect(status).toBe(1);
    expect(compact(report.against.findings).map(({ entryKinds: _, ...f }) => f)).toEqual([
      { code: "ENTRIES_MISSING", firstIndex: 100, lastIndex: 102 },
      { code: "ENTRIES_MISSING", firstIndex: size - 7, lastIndex: size - 1 },
    ]);
    const text = cli(["verify", ...args]);
    expect(text.stdout).toContain(
      `[ENTRIES_MISSING] 7 acknowledged entries (entries ${size - 7} to ${size - 1}: `,
    );
    expect(text.stdout).toContain(`gone from this store: the log here ends at ${size - 7}`);
    repairAndRecheck(text.stdout, args);
  }, 120_000);

  it("reports a store deleted whole, and restores every entry", () => {
    const dir = nodeCopy();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(dir, `custos.db${suffix}`), { force: true });
    const args = ["--data", dir, "--against-mirror", mirrorDir, ...quorum()];
    const { status, report } = verifyJson(args);
    expect(status).toBe(1);
    expect(report.local).toBeNull();
    expect(compact(report.against.findings)).toEqual([
      { code: "STORE_LOST", firstIndex: 0, lastIndex: size - 1 },
    ]);
    const text = cli(["verify", ...args]);
    expect(text.stdout).toContain(
      `[STORE_LOST] this node's store ${join(dir, "custos.db")} is gone: the mirror ${mirrorDir} holds the ${size} entries (entries 0 to ${size - 1})`,
    );
    repairAndRecheck(text.stdout, args);
  }, 120_000);

  it("shows a fork: a checkpoint the log's key signed for another history, with both notes", async () => {
    const dir = nodeCopy();
    const signer = await loadSignerKey(
      dir,
      new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: env.masterKey }),
    );
    const origin = env.bundles.get("patient/P1")!.log!.origin;
    const forged = signCheckpoint({ origin, size: 50, rootHash: new Uint8Array(32).fill(7) }, signer);
    const db = new Database(join(dir, "custos.db"));
    db.prepare("INSERT INTO checkpoints (size, note, stored_at) VALUES (?, ?, ?)").run(
      50,
      forged,
      Date.now(),
    );
    db.close();
    const args = ["--data", dir, "--against-mirror", mirrorDir, ...quorum()];
    const { status, report } = verifyJson(args);
    expect(status).toBe(1);
    const fork = report.against.findings.find((f) => f.code === "CHECKPOINT_FORK")!;
    expect(report.against.findings).toHaveLength(1);
    expect(fork.notes?.local).toBe(forged);
    expect(fork.notes?.reference).toMatch(new RegExp(`^${origin}\\n${size}\\n`));
    expect(fork.notes?.reference).toContain("— w-acme.witness.example ");
    const text = cli(["verify", ...args]);
    expect(text.stdout).toContain(
      "[CHECKPOINT_FORK] the log's key signed two histories: this store's checkpoint at size 50",
    );
    expect(text.stdout).toContain("      this store's checkpoint:\n");
    expect(text.stdout).toMatch(/^note: a fork is evidence/m);
    repairAndRecheck(text.stdout, args);
  }, 120_000);

  it("compares with a mirror serving its copy over mutual TLS, and restores from it", async () => {
    const port = await freePort();
    await startProcess(
      [
        "mirror",
        "--data",
        mirrorDir,
        "--from",
        nodeUrl(),
        "--as",
        bundle("mirror-acme"),
        ...quorum(),
        "--serve",
        `127.0.0.1:${port}`,
      ],
      "serving its verified copy",
    );
    const mirrorUrl = `https://127.0.0.1:${port}`;
    const clean = verifyJson([
      "--data",
      nodeCopy(),
      "--against",
      mirrorUrl,
      "--as",
      bundle("n1"),
      ...quorum(),
    ]);
    expect(clean.status).toBe(0);
    expect(clean.report.against.entriesCompared).toBe(size);
    expect(clean.report.against.checkpoint.cosigners).toEqual(["w-acme.witness.example"]);

    const target = entries().filter((e) => e.kind === ENTRY_KINDS.keyEnvelope)[3]!;
    const dir = nodeCopy();
    const db = new Database(join(dir, "custos.db"));
    const row = db.prepare("SELECT data FROM entries WHERE idx = ?").get(target.index) as { data: Buffer };
    const edited = Buffer.from(row.data);
    edited[edited.length - 40]! ^= 1;
    db.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(edited, target.index);
    db.prepare("DELETE FROM entries WHERE idx >= ?").run(size - 2);
    db.close();
    const args = ["--data", dir, "--against", mirrorUrl, "--as", bundle("n1"), ...quorum()];
    const { status, report } = verifyJson(args);
    expect(status).toBe(1);
    expect(compact(report.against.findings).map(({ entryKinds: _, ...f }) => f)).toEqual([
      { code: "ENTRY_MODIFIED", firstIndex: target.index, lastIndex: target.index },
      { code: "ENTRIES_MISSING", firstIndex: size - 2, lastIndex: size - 1 },
    ]);
    expect(report.against.findings[0]!.entryKinds).toEqual(["keyEnvelope"]);
    expect(report.repair).toBe(
      `custos restore --data ${dir} --from ${mirrorUrl} --as ${bundle("n1")} --witness-key ${witness.key} --quorum 1`,
    );
    const text = cli(["verify", ...args]);
    expect(text.stdout).toContain(
      `[ENTRY_MODIFIED] entry ${target.index} (key envelope) differs from the verified copy in ${mirrorUrl}`,
    );
    repairAndRecheck(text.stdout, args);
  }, 120_000);

  it("refuses bad combinations of flags with exit 2 and one line", () => {
    const both = cli([
      "verify",
      "--data",
      pristine,
      "--against-mirror",
      mirrorDir,
      "--against",
      "https://127.0.0.1:1",
    ]);
    expect(both.status).toBe(2);
    expect(both.stderr).toBe("error: give either --against-mirror DIR or --against URL, not both\n");
    const noBundle = cli(["verify", "--data", pristine, "--against", "https://127.0.0.1:1"]);
    expect(noBundle.status).toBe(2);
    expect(noBundle.stderr).toMatch(/^error: --against URL needs --as BUNDLE/);
    const stray = cli(["verify", "--data", pristine, ...quorum()]);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toMatch(
      /^error: --as, --passphrase-file, --witness-key and --quorum apply only with/,
    );
    const notAMirror = cli(["verify", "--data", pristine, "--against-mirror", join(env.root, "nowhere")]);
    expect(notAMirror.status).toBe(2);
    expect(notAMirror.stderr).toMatch(/^error: no Custos log in /);
  });
});
