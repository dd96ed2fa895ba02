// Backups that restore (issue 26.5), with real processes: a node, a witness and a mirror. The node's
// directory is lost; it comes back in a new directory from the mirror and its backup, serves, and a
// patient's client that trusted the old log reads on with no fork; the witness cosigns its growth. A
// lost witness comes back from its own backup and catches up. A restore that would serve fewer
// entries than the witness cosigned is refused, naming exactly how many, until that loss is accepted;
// the log may also come over the network (--from URL) beside the backup.

import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askWitnesses } from "../../src/backup/index.js";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { createTestDeployment, freePort, PASS, type TestDeployment } from "../helpers/deployment.js";
import { eventually, type ProcessGroup, processGroup } from "../helpers/processes.js";

let d: TestDeployment;
let group: ProcessGroup;
let origin: string;
let logKey: string;
let witnessKey: string;
let witnessPort: number;
let witnessDir: string;
let mirrorDir: string;
let restoredDir: string;
const BACKUP_PASS = "a long backup passphrase";

const env = () => ({
  PATH: process.env.PATH,
  CUSTOS_MASTER_KEY: d.masterKey,
  CUSTOS_BUNDLE_PASSPHRASE: PASS,
  CUSTOS_BACKUP_PASSPHRASE: BACKUP_PASS,
});
const url = () => `https://127.0.0.1:${d.apiPort}`;
const witnessFlag = () => `https://127.0.0.1:${witnessPort}=${witnessKey}`;

async function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
  return group.run(args, { ...env(), ...extra });
}
async function ok(args: string[]): Promise<string> {
  const run = await cli(args);
  expect(run.stderr, args.join(" ")).toBe("");
  expect(run.status, args.join(" ")).toBe(0);
  return run.stdout;
}

const serveWitness = (dir: string, port: number, extra: string[] = []) => [
  "witness",
  "serve",
  "--data",
  dir,
  "--identity",
  join(d.root, "w1.custos-id"),
  "--listen",
  `127.0.0.1:${port}`,
  ...extra,
];

/** Starts the witness; returns what it printed up to serving. */
async function startWitness(dir: string, extra: string[] = []): Promise<string> {
  const w = group.start("witness", serveWitness(dir, witnessPort, extra), env());
  await w.waitFor("serving on", 60_000);
  return w.output();
}

/** The size the witness cosigned for the log (0 if none). */
async function witnessed(): Promise<number> {
  const [view] = await askWitnesses(
    [{ url: `https://127.0.0.1:${witnessPort}`, verifierKey: witnessKey }],
    { origin, verifierKey: logKey },
    { ca: d.bundles.get("node/n1")!.caCertificate },
  );
  return view?.status === "cosigned" ? view.size : 0;
}

function patient(): CustosClient {
  return new CustosClient({
    url: url(),
    identity: d.identity("patient/P1"),
    statePath: join(d.root, "p1-state.json"),
    witnesses: { keys: [witnessKey], quorum: 1 },
  });
}

/** Submits records and waits until the witness cosigned a checkpoint covering them; returns that size. */
async function ingest(from: number, count: number): Promise<number> {
  const emr = new CustosClient({ url: url(), identity: d.identity("ehr-source/emr") });
  const results = await emr.submit(
    Array.from({ length: count }, (_, i) => ({
      time: new Date(Date.UTC(2026, 10, 22, 8) + (from + i) * 60_000).toISOString(),
      patientId: "P1",
      userId: `dr-${from + i}`,
      action: "query" as const,
      sourceEventId: `evt-${from + i}`,
    })),
  );
  const last = Math.max(...results.map((r) => r.index)) + 1;
  return eventually("the witness cosigns the new records", async () => {
    const size = await witnessed();
    expect(size).toBeGreaterThanOrEqual(last);
    return size;
  });
}

async function mirrorOnce(): Promise<number> {
  await ok([
    "mirror",
    "--once",
    "--data",
    mirrorDir,
    "--from",
    url(),
    "--as",
    join(d.root, "mirror-acme.custos-id"),
    "--witness-key",
    witnessKey,
    "--quorum",
    "1",
  ]);
  const store = SqliteStore.open(mirrorDir, { readonly: true });
  try {
    return await store.getSize();
  } finally {
    await store.close();
  }
}

/** GET /v1/ready on the portal port, as a load balancer without a client certificate asks it. */
function readyWithoutCertificate(): Promise<{
  status: number;
  body: { status: string; role: string; witnesses: { behind: number } & Record<string, number> };
}> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: d.portalPort, path: "/v1/ready", rejectUnauthorized: false },
      (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  d = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["node", "mirror-acme"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["auditor", "A1"],
      ["custodian", "privacy"],
      ["witness", "w1"],
    ],
    masterKeyFill: 73,
  });
  group = processGroup();
  const log = d.bundles.get("node/n1")!.log!;
  origin = log.origin;
  logKey = log.verifierKey;
  witnessDir = join(d.root, "w1");
  mirrorDir = join(d.root, "acme-mirror");
  restoredDir = join(d.root, "node-restored");
  witnessPort = await freePort();
  witnessKey = (await ok(["witness", "init", "--data", witnessDir, "--name", "w1.witness.example"]))
    .trim()
    .split("\n")
    .pop()!;
  await ok(["witness", "add-log", "--data", witnessDir, "--origin", origin, "--key", logKey]);
  await startWitness(witnessDir);
  await d.start(["--witness", witnessFlag()]);
}, 180_000);

afterAll(async () => {
  await group?.killAll();
  await d?.cleanup();
});

describe("backups that restore", () => {
  it("brings a lost node back in a new directory from the mirror and its backup, with no fork", async () => {
    await ingest(0, 20);
    const before = await patient().trail({ limit: 1000 });
    expect(before.records).toHaveLength(20);
    // The patient's read just appended a notice: the node signs it and the witness cosigns it within
    // a moment, so copy until the mirror holds everything the witness cosigned.
    const mirrored = await eventually("the mirror caught up with the witness", async () => {
      const copied = await mirrorOnce();
      const cosigned = await witnessed();
      if (copied !== cosigned) throw new Error(`mirror ${copied}, witness ${cosigned}`);
      return copied;
    });
    expect(mirrored).toBeGreaterThan(20);

    const file = join(d.root, "n1.backup");
    const made = await ok([
      "backup",
      "--data",
      d.data,
      "--out",
      file,
      "--identity",
      join(d.root, "n1.custos-id"),
    ]);
    expect(made).toMatch(/^wrote .*n1\.backup \(\d+ bytes\): a node's backup/);
    expect(made).toContain(
      "the keystore opens with the master key and holds the log's signing key and the CA's key",
    );
    expect(made).toContain("files: keystore.json, ca/ca.pem, ca/crl.pem, ca/state.json");
    // The master key is in no byte of the file, and the keystore's sealed text is not readable in it.
    const bytes = readFileSync(file);
    expect(bytes.includes(Buffer.from(d.masterKey, "base64"))).toBe(false);
    expect(bytes.includes(readFileSync(join(d.data, "keystore.json")).subarray(0, 40))).toBe(false);
    const checked = await ok(["backup", "verify", file]);
    expect(checked).toMatch(/^OK: .* opens and every file matches its hash: a node's backup/);
    expect(checked).toContain(`log: ${origin}, ${mirrored} entries when it was made`);
    const wrong = await cli(["backup", "verify", file], {
      CUSTOS_BACKUP_PASSPHRASE: "another long passphrase",
    });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(
      /^error: the backup does not open: a wrong backup passphrase, or the file was changed/,
    );

    // The node's directory is lost.
    await d.stop();
    rmSync(d.data, { recursive: true, force: true });
    // A mirror alone brings back the log but not the node: the message names the backup.
    const bare = join(d.root, "node-bare");
    await ok(["restore", "--data", bare, "--from-mirror", mirrorDir]);
    const refused = await cli([
      "serve",
      "--data",
      bare,
      "--identity",
      join(d.root, "n1.custos-id"),
      "--listen",
      "127.0.0.1:0",
    ]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(
      /^error: no keystore and no deployment CA in .*node-bare\. If this node was lost, its backup holds them \(a file made by `custos backup`\): restore into a new directory with `custos restore --data NEWDIR --backup FILE --from-mirror MIRROR`/,
    );

    const restored = await ok([
      "restore",
      "--data",
      restoredDir,
      "--backup",
      file,
      "--from-mirror",
      mirrorDir,
      "--witness",
      witnessFlag(),
    ]);
    expect(restored).toContain(
      `the witnesses cosigned ${mirrored} entries; the restored log holds ${mirrored}: nothing acknowledged is missing`,
    );
    expect(restored).toContain(`--identity ${join(restoredDir, "n1.custos-id")}`);
    expect(restored).toMatch(/the restore is recorded in the log as entry \d+/);
    expect(existsSync(join(restoredDir, "n1.custos-id"))).toBe(true);
    await ok(["verify", "--data", restoredDir]);
    // A second restore into the same directory is refused: nothing is overwritten.
    const again = await cli([
      "restore",
      "--data",
      restoredDir,
      "--backup",
      file,
      "--from-mirror",
      mirrorDir,
      "--without-witnesses",
    ]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(
      /already holds keystore\.json, .*restore a backup into a new \(or empty\) directory/,
    );

    await d.start(["--witness", witnessFlag()], restoredDir);
    // The patient's client, which trusted the old log's checkpoint, reads on: the restored log is
    // consistent with it, and the witness cosigns the restored node's growth (no fork).
    const grown = await ingest(20, 5);
    expect(grown).toBeGreaterThan(mirrored);
    const after = await eventually("the patient reads the new records", async () => {
      const trail = await patient().trail({ limit: 1000 });
      expect(trail.records).toHaveLength(25);
      return trail;
    });
    expect(after.records.map((r) => r.record.userId)).toContain("dr-24");
    const alerts = await new MtlsClient(url(), d.identity("auditor/A1")).call<{ alerts: unknown[] }>(
      "GET",
      "/v1/alerts",
    );
    expect(alerts.alerts).toEqual([]);
  }, 240_000);

  it("brings a lost witness back from its backup; it catches up with the log", async () => {
    const file = join(d.root, "w1.backup");
    // The witness may cosign a later checkpoint while the backup is made (a patient's read appends a
    // notice that is cosigned a moment later): the backup holds a size between these two.
    const beforeBackup = await witnessed();
    const made = await ok([
      "backup",
      "--data",
      witnessDir,
      "--out",
      file,
      "--identity",
      join(d.root, "w1.custos-id"),
    ]);
    expect(made).toMatch(/a witness's backup/);
    expect(made).toContain("holds the witness's cosigner key");
    const atBackup = await witnessed();
    expect(atBackup).toBeGreaterThanOrEqual(beforeBackup);
    const grown = await ingest(25, 3);
    expect(grown).toBeGreaterThan(atBackup);
    // The witness's directory is lost; it comes back from the backup, which knows only `atBackup`.
    const w = group;
    await w.killAll(); // the witness is the only process of the group still running
    rmSync(witnessDir, { recursive: true, force: true });
    // While the witness is down the node stays ready (ingest goes on) and says how far the newest
    // cosigned checkpoint is behind, to a balancer that has no client certificate (the portal port).
    const emr = new CustosClient({ url: url(), identity: d.identity("ehr-source/emr") });
    await emr.submit([
      {
        time: "2026-11-23T09:00:00Z",
        patientId: "P1",
        userId: "dr-late",
        action: "query",
        sourceEventId: "evt-late",
      },
    ]);
    const ready = await readyWithoutCertificate();
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: "ok",
      role: "sequencer",
      witnesses: { configured: 1, quorum: 1, cosigned: 1 },
    });
    expect(ready.body.witnesses.size).toBeGreaterThanOrEqual(grown);
    expect(ready.body.witnesses.behind).toBeGreaterThan(0);
    const newDir = join(d.root, "w1-restored");
    const restored = await ok(["restore", "--data", newDir, "--backup", file]);
    const heldLine = restored.split("\n").find((l) => l.includes(`${origin}: last cosigned size `));
    expect(heldLine).toMatch(/: last cosigned size \d+ as of the backup$/);
    const held = Number(/size (\d+) as of/.exec(heldLine!)![1]);
    expect(held).toBeGreaterThanOrEqual(beforeBackup);
    expect(held).toBeLessThanOrEqual(atBackup);
    expect(restored).toContain("before it cosigns again, custos witness serve checks each log");
    witnessDir = newDir;
    // It forgot what it cosigned after the backup: it does not serve until it has checked itself
    // against the log (or is told not to), and says so in one line.
    const unchecked = await cli(serveWitness(newDir, witnessPort));
    expect(unchecked.status).not.toBe(0);
    expect(unchecked.stderr.trim().split("\n")).toHaveLength(1);
    expect(unchecked.stderr).toMatch(
      /^error: this witness was restored from a backup of .* give --check-log URL .* or --unchecked/,
    );
    // Checked against the running node (over mutual TLS with the witness's identity): the node's
    // checkpoint is consistent with what the backup held, so the witness cosigns it and serves.
    const output = await startWitness(newDir, ["--check-log", url()]);
    const checked = new RegExp(
      `checked ${origin.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} against ${url()}: the backup held ${held}, the log serves (\\d+)`,
    ).exec(output);
    expect(checked, output).not.toBeNull();
    expect(Number(checked![1])).toBeGreaterThanOrEqual(grown);
    expect(output).toMatch(/consistent; now cosigned at \d+/);
    expect(existsSync(join(newDir, "restored.json"))).toBe(false);
    expect(await witnessed()).toBeGreaterThanOrEqual(Number(checked![1]));
    const next = await ingest(28, 2);
    expect(next).toBeGreaterThan(grown);
  }, 240_000);

  it("refuses a restore that lacks entries the witness cosigned, naming how many, until that loss is accepted", async () => {
    const mirrored = await mirrorOnce();
    const file = join(d.root, "n1-restored.backup");
    await ok([
      "backup",
      "--data",
      restoredDir,
      "--out",
      file,
      "--identity",
      join(restoredDir, "n1.custos-id"),
    ]);
    // Records acknowledged and cosigned after the mirror's last pass.
    const seen = await ingest(30, 4);
    const lacks = seen - mirrored;
    expect(lacks).toBeGreaterThanOrEqual(4);
    // The log can also come over the network, from a serving mirror or a node of the log (here the
    // running node), fetched with the node identity the backup carries: copied, verified, compared
    // with the witness, and no scratch copy left behind.
    const remote = join(d.root, "node-remote");
    const fetched = await ok([
      "restore",
      "--data",
      remote,
      "--backup",
      file,
      "--from",
      url(),
      "--witness",
      witnessFlag(),
    ]);
    expect(fetched).toMatch(
      new RegExp(
        `^copied (\\d+) entries from ${url()}, verified against its signed checkpoint cosigned by `,
        "m",
      ),
    );
    const copied = Number(/^copied (\d+) entries/m.exec(fetched)![1]);
    expect(copied).toBeGreaterThanOrEqual(seen);
    expect(fetched).toContain(`the restored log holds ${copied}: nothing acknowledged is missing`);
    expect(fetched).toMatch(/the restore is recorded in the log as entry \d+/);
    await ok(["verify", "--data", remote]);
    expect(readdirSync(d.root).filter((n) => n.startsWith(".custos-restore-"))).toEqual([]);
    const both = await cli([
      "restore",
      "--data",
      join(d.root, "node-x"),
      "--backup",
      file,
      "--from",
      url(),
      "--from-mirror",
      mirrorDir,
      "--without-witnesses",
    ]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(
      /^error: with --backup, the log comes from one of --from-mirror DIR, --from URL or --db URL/,
    );
    await d.stop();
    rmSync(restoredDir, { recursive: true, force: true });

    const target = join(d.root, "node-third");
    const args = [
      "restore",
      "--data",
      target,
      "--backup",
      file,
      "--from-mirror",
      mirrorDir,
      "--witness",
      witnessFlag(),
    ];
    const refused = await cli(args);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(
      `refusing to restore: the witnesses cosigned ${seen} entries and the restored log holds ${mirrored}: it lacks ${lacks} entries (entries ${mirrored} to ${seen - 1})`,
    );
    expect(refused.stderr).toContain(`run again with --accept-loss ${lacks}`);
    expect(existsSync(target)).toBe(false);
    const tooFew = await cli([...args, "--accept-loss", String(lacks - 1)]);
    expect(tooFew.status).toBe(2);
    expect(existsSync(target)).toBe(false);
    const blind = await cli(["restore", "--data", target, "--backup", file, "--from-mirror", mirrorDir]);
    expect(blind.stderr).toMatch(/^error: give --witness URL=KEY for each witness of the log/);

    const accepted = await ok([...args, "--accept-loss", String(lacks)]);
    expect(accepted).toContain(
      `accepted loss: the witnesses cosigned ${seen} entries and the restored log holds ${mirrored}`,
    );
    await ok(["verify", "--data", target]);

    // A witness restored from a backup now that it cosigned `seen` entries, checked against this
    // restored node (which lost entries): refused, naming both sizes. Once that node has grown past
    // the witness's size with other entries, the check proves the fork and keeps it as evidence.
    const heldNow = await witnessed();
    expect(heldNow).toBeGreaterThanOrEqual(seen);
    const wBackup = join(d.root, "w1-again.backup");
    await ok(["backup", "--data", witnessDir, "--out", wBackup, "--identity", join(d.root, "w1.custos-id")]);
    const wCopy = join(d.root, "w1-copy");
    await ok(["restore", "--data", wCopy, "--backup", wBackup]);
    const copyPort = await freePort();
    await d.start([], target);
    const behind = await cli(serveWitness(wCopy, copyPort, ["--check-log", url()]));
    expect(behind.status).not.toBe(0);
    expect(behind.stderr.trim().split("\n")).toHaveLength(1);
    expect(behind.stderr).toMatch(
      new RegExp(
        `^error: ${url()} serves \\d+ entries of .*, fewer than the ${heldNow} this witness cosigned before its backup`,
      ),
    );
    expect(existsSync(join(wCopy, "restored.json"))).toBe(true);
    const emr = new CustosClient({ url: url(), identity: d.identity("ehr-source/emr") });
    await emr.submit(
      Array.from({ length: lacks + 3 }, (_, i) => ({
        time: new Date(Date.UTC(2026, 10, 24, 8) + i * 60_000).toISOString(),
        patientId: "P1",
        userId: `dr-other-${i}`,
        action: "query" as const,
        sourceEventId: `evt-other-${i}`,
      })),
    );
    const reader = new MtlsClient(url(), d.identity("auditor/A1"));
    await eventually("the restored node signs past the witness's size", async () => {
      const note = await reader.call<string>("GET", "/v1/checkpoint");
      expect(Number(note.split("\n")[1])).toBeGreaterThan(heldNow);
    });
    reader.close();
    const forked = await cli(serveWitness(wCopy, copyPort, ["--check-log", url()]));
    expect(forked.status).not.toBe(0);
    expect(forked.stderr).toMatch(
      new RegExp(
        `^error: ${url()} serves a checkpoint of .* that is not an extension of the ${heldNow} entries this witness cosigned before its backup: a fork`,
      ),
    );
    const shown = JSON.parse(await ok(["witness", "show", "--data", wCopy, "--json"]));
    expect(shown.evidence).toBe(1);
    expect(shown.logs[0].size).toBe(heldNow);
    await d.stop();
    // A file that is not a backup, or a cut-off one, is refused with a one-line message.
    writeFileSync(join(d.root, "not-a-backup"), "hello");
    const bad = await cli(["backup", "verify", join(d.root, "not-a-backup")]);
    expect(bad.stderr).toMatch(/^error: not a Custos backup file: it does not start with CUSTOSBK/);
    const cut = readFileSync(file).subarray(0, 200);
    writeFileSync(join(d.root, "cut.backup"), cut);
    const cutRun = await cli(["backup", "verify", join(d.root, "cut.backup")]);
    expect(cutRun.status).toBe(2);
    expect(cutRun.stderr).toMatch(/^error: (not a Custos backup file|the backup does not open)/);
  }, 240_000);
});
