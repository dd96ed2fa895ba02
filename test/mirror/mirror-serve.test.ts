// A mirror that serves: a real node (witnessed by a real witness) and a real `custos mirror --serve`
// process. A patient's trail read from the mirror is the node's, verified against the witnessed
// checkpoint and decrypted by the unchanged SDK and CLI; an audit company reads its granted patients;
// callers not enrolled, revoked, or of a role that reads no trails are refused; reads are kept in the
// mirror's sealed read log; the mirror keeps serving while the node is down; and an entry edited in
// the mirror's copy is caught by the client, which names it. A node can be restored from the mirror
// over the network while the node is down.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient, VerificationError } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { fromBase64 } from "../../src/core/bytes.js";
import type { CustosError } from "../../src/core/errors.js";
import { READ_LOG_FILE, verifyReadLog } from "../../src/mirror/index.js";
import { openNotice } from "../../src/records/notices.js";
import { BIN, createTestDeployment, freePort, PASS, type TestDeployment } from "../helpers/deployment.js";
import { eventually } from "../helpers/processes.js";

let env: TestDeployment;
let stranger: TestDeployment;
let witness: { dir: string; port: number; key: string; child?: ChildProcess };
let mirror: { dir: string; port: number; child?: ChildProcess; output: string };
const children: ChildProcess[] = [];

const envVars = () => ({
  PATH: process.env.PATH,
  CUSTOS_MASTER_KEY: env.masterKey,
  CUSTOS_BUNDLE_PASSPHRASE: PASS,
});
const cli = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: envVars(), timeout: 60_000 });
const nodeUrl = () => `https://127.0.0.1:${env.apiPort}`;
const mirrorUrl = () => `https://127.0.0.1:${mirror.port}`;

async function startProcess(args: string[], ready: string, onOutput?: (text: string) => void) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: envVars(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`did not start: ${out}`)), 30_000);
    const seen = (chunk: Buffer) => {
      out += chunk;
      onOutput?.(chunk.toString());
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  return child;
}

async function startMirror(): Promise<void> {
  mirror.output = "";
  mirror.child = await startProcess(
    [
      "mirror",
      "--data",
      mirror.dir,
      "--from",
      nodeUrl(),
      "--as",
      join(env.root, "mirror-acme.custos-id"),
      "--witness-key",
      witness.key,
      "--quorum",
      "1",
      "--every",
      "1",
      "--serve",
      `127.0.0.1:${mirror.port}`,
    ],
    "serving its verified copy",
    (text) => {
      mirror.output += text;
    },
  );
}

async function stopMirror(): Promise<void> {
  const child = mirror.child;
  if (!child || child.exitCode !== null) return;
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
}

function client(who: string, url: string, from: TestDeployment = env) {
  return new CustosClient({
    url,
    identity: from.identity(who),
    witnesses: { keys: [witness.key], quorum: 1 },
  });
}

async function submit(from: number, count: number): Promise<number> {
  const emr = client("ehr-source/emr", nodeUrl());
  const results = await emr.submit(
    Array.from({ length: count }, (_, i) => ({
      time: new Date(Date.UTC(2026, 10, 23, 8) + (from + i) * 60_000).toISOString(),
      patientId: (from + i) % 3 === 0 ? "P2" : "P1",
      userId: `dr-${(from + i) % 5}`,
      action: (from + i) % 4 === 0 ? "print" : "query",
      sourceEventId: `ms-${from + i}`,
    })),
  );
  const size = Math.max(...results.map((r) => r.index)) + 1;
  await emr.waitForCheckpoint(size);
  return size;
}

/** Waits until the mirror serves a witnessed checkpoint covering `size` entries. */
async function mirrorCaughtUp(size: number): Promise<void> {
  await client("patient/P1", mirrorUrl()).waitForCheckpoint(size, 30_000);
}

const comparable = (records: { index: number; record: unknown }[]) =>
  records.map((r) => ({ index: r.index, record: r.record }));

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["node", "mirror-acme"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["patient", "P3"],
      ["custodian", "privacy"],
      ["admin", "it"],
      ["auditor", "acme"],
      ["witness", "w-acme"],
    ],
    grants: [{ auditor: "acme", patients: ["P1", "P2"] }],
    masterKeyFill: 61,
  });
  stranger = await createTestDeployment({ people: [["patient", "P1"]], masterKeyFill: 62 });
  const log = env.bundles.get("patient/P1")!.log!;
  const dir = join(env.root, "w-acme");
  const init = cli(["witness", "init", "--data", dir, "--name", "w-acme.witness.example"]);
  expect(init.status, init.stderr).toBe(0);
  const key = init.stdout.trim().split("\n").pop()!;
  expect(
    cli(["witness", "add-log", "--data", dir, "--origin", log.origin, "--key", log.verifierKey]).status,
  ).toBe(0);
  witness = { dir, port: await freePort(), key };
  witness.child = await startProcess(
    [
      "witness",
      "serve",
      "--data",
      dir,
      "--identity",
      join(env.root, "w-acme.custos-id"),
      "--listen",
      `127.0.0.1:${witness.port}`,
    ],
    "serving on",
  );
  await env.start(["--witness", `https://127.0.0.1:${witness.port}=${witness.key}`]);
  mirror = { dir: join(env.root, "mirror"), port: await freePort(), output: "" };
}, 120_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await env?.cleanup();
  await stranger?.cleanup();
});

describe("a mirror serving its verified copy", () => {
  it("serves a patient the same trail as the node, verified against the witnessed checkpoint", async () => {
    const size = await submit(0, 60);
    await startMirror();
    await mirrorCaughtUp(size);

    const fromNode = await client("patient/P1", nodeUrl()).trail({ limit: 5000 });
    const fromMirror = await client("patient/P1", mirrorUrl()).trail({ limit: 5000 });
    expect(fromNode.records).toHaveLength(40);
    expect(comparable(fromMirror.records)).toEqual(comparable(fromNode.records));
    expect(fromMirror.checkpoint.witnesses).toEqual(["w-acme.witness.example"]);
    // The mirror's own trail map (rebuilt from its copy) proves the trail's end as the node's does.
    expect(fromMirror.completeness).toMatchObject({ proven: true, count: 40 });
    expect(fromNode.completeness).toEqual(fromMirror.completeness);
    expect(fromMirror.records.every((r) => r.record.patientId === "P1")).toBe(true);

    // The read API too: the checkpoint, a receipt, the C2SP tiles, all from the copy.
    const p1 = client("patient/P1", mirrorUrl());
    const receipt = await p1.receipt(fromMirror.records[0]!.index);
    expect(receipt.checkpoint.cosigners).toContain("w-acme.witness.example");
    const raw = new MtlsClient(mirrorUrl(), env.identity("patient/P1"));
    expect(await raw.call<string>("GET", "/checkpoint")).toMatch(/^e2e\.custos\.example\/log\n\d+\n/);
    expect((await raw.bytes("/tile/entries/000.p/10")).length).toBeGreaterThan(20);
    const info = await raw.call<{ sequencing: boolean; size: number }>("GET", "/v1/log");
    expect(info.sequencing).toBe(false);
    await expect(raw.call("POST", "/v1/records", [])).rejects.toThrow(/no such endpoint on a mirror/);
  }, 120_000);

  it("answers `custos query --server MIRROR` with the witness quorum, exactly as the node does", async () => {
    const args = (url: string, state: string) => [
      "query",
      "--server",
      url,
      "--as",
      join(env.root, "P1.custos-id"),
      "--state",
      join(env.root, state),
      "--witness-key",
      witness.key,
      "--quorum",
      "1",
      "--json",
    ];
    const node = cli(args(nodeUrl(), "p1-node.json"));
    const copy = cli(args(mirrorUrl(), "p1-mirror.json"));
    expect(copy.stderr).toBe("");
    expect(copy.status).toBe(0);
    const records = (run: typeof copy) => (JSON.parse(run.stdout) as { records: unknown[] }).records;
    expect(records(copy)).toEqual(records(node));
    expect(records(copy)).toHaveLength(40);
  }, 60_000);

  it("serves an audit company all its granted patients by tag, and refuses patient IDs it cannot map", async () => {
    const fromNode = await client("auditor/acme", nodeUrl()).auditTrails({ limit: 5000 });
    const fromMirror = await client("auditor/acme", mirrorUrl()).auditTrails({ limit: 5000 });
    const byTag = (view: typeof fromNode) =>
      Object.fromEntries(view.patients.map((p) => [p.tag, comparable(p.result?.records ?? [])]));
    expect(fromMirror.patients).toHaveLength(2);
    expect(fromMirror.patients.every((p) => p.patientId === null && !p.error)).toBe(true);
    expect(byTag(fromMirror)).toEqual(byTag(fromNode));
    expect(Object.values(byTag(fromMirror)).flat()).toHaveLength(60);
    for (const p of fromMirror.patients)
      expect(p.result?.completeness).toMatchObject({ proven: true, count: p.result?.records.length });

    await expect(
      client("auditor/acme", mirrorUrl()).auditTrails({ patientIds: ["P1"] }),
    ).rejects.toMatchObject({ code: "NO_BLIND_INDEX" });
    await expect(client("auditor/acme", mirrorUrl()).trail({ patientId: "P1" })).rejects.toMatchObject({
      code: "NO_BLIND_INDEX",
    });
  }, 60_000);

  it("refuses callers not enrolled, revoked, or of a role that reads no trails, as the node does", async () => {
    // Another deployment's patient: its certificate is not from this deployment's CA.
    await expect(client("patient/P1", mirrorUrl(), stranger).trail()).rejects.toThrow(/mutual TLS/);
    await expect(client("ehr-source/emr", mirrorUrl()).trail({ patientId: "P1" })).rejects.toMatchObject({
      code: "NOT_AUTHORIZED",
    });
    await expect(client("patient/P1", mirrorUrl()).trail({ patientId: "P2" })).rejects.toMatchObject({
      code: "NOT_AUTHORIZED",
    });

    expect((await client("patient/P3", mirrorUrl()).trail()).records).toHaveLength(0);
    const admin = new MtlsClient(nodeUrl(), env.identity("admin/it"));
    await admin.call("POST", "/v1/revocations", { role: "patient", id: "P3" });
    // Once the mirror has copied the revocation from the log, P3 is refused there too.
    const error = await eventually("P3 refused at the mirror", async () => {
      try {
        await client("patient/P3", mirrorUrl()).trail();
      } catch (caught) {
        return caught as CustosError;
      }
      throw new Error("still served");
    });
    expect(error.code).toBe("NOT_AUTHENTICATED");
  }, 60_000);

  it("records an identity's refusals within the node's refusal budget, then in summaries", async () => {
    const readLogLines = () => verifyReadLog(readFileSync(join(mirror.dir, READ_LOG_FILE), "utf8")).lines;
    const before = readLogLines().length;
    const started = Date.now();
    const emr = new MtlsClient(mirrorUrl(), env.identity("ehr-source/emr"));
    const tries = 130;
    for (let i = 0; i < tries; i++)
      await expect(emr.call("POST", "/v1/trail", { patientId: "P1" })).rejects.toMatchObject({
        code: "NOT_AUTHORIZED",
      });
    const seconds = Math.ceil((Date.now() - started) / 1000);
    const added = readLogLines().slice(before);
    expect(added.every((l) => l.kind === "refusal")).toBe(true);
    // A burst of 100 notices plus one a second, and one summary for the rest (each refused all the same).
    expect(added.length).toBeLessThanOrEqual(Math.min(tries, 100 + seconds + 1));
    expect(added.length).toBeLessThan(tries);
    const admin = env.identity("admin/it");
    const summaries = added
      .map((l, i) =>
        openNotice(
          { index: i, entry: fromBase64(l.entry), content: fromBase64(l.content) },
          admin.encryptionPrivateKey(),
        ),
      )
      .filter((n) => n !== undefined && /over its refusal budget, \d+ refusals/.test(n.body.reason ?? ""));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.body.requester).toBe(env.identity("ehr-source/emr").uri);
  }, 120_000);

  it("keeps a durable read log, sealed: only the patient (or custodian) learns who read", () => {
    const text = readFileSync(join(mirror.dir, READ_LOG_FILE), "utf8");
    const { lines } = verifyReadLog(text);
    expect(lines.filter((l) => l.kind === "query").length).toBeGreaterThanOrEqual(4);
    expect(lines.some((l) => l.kind === "refusal")).toBe(true);
    expect(text).not.toMatch(/patient\/P1|auditor\/acme/);
    const p1 = env.identity("patient/P1");
    const opened = lines
      .map((l, i) =>
        openNotice(
          { index: i, entry: fromBase64(l.entry), content: fromBase64(l.content) },
          p1.encryptionPrivateKey(),
        ),
      )
      .filter((n) => n !== undefined);
    expect(opened.some((n) => n.body.requester === p1.uri && n.body.operation === "read-trail")).toBe(true);
    expect(opened.some((n) => n.body.requester.endsWith("/auditor/acme"))).toBe(true);
    // An edited line breaks the chain.
    const edited = text.replace(/"kind":"query"/, '"kind":"refusal"');
    expect(() => verifyReadLog(edited)).toThrow(/line 2 of the mirror's read log does not follow/);
  });

  it("keeps serving while the node is down", async () => {
    const before = await client("patient/P1", mirrorUrl()).trail({ limit: 5000 });
    await env.stop();
    const during = await client("patient/P1", mirrorUrl()).trail({ limit: 5000 });
    expect(comparable(during.records)).toEqual(comparable(before.records));
    await eventually("the mirror notices", async () => {
      if (!mirror.output.includes("unreachable")) throw new Error("not yet");
    });
    // A replacement node is rebuilt over the network from the mirror alone, checked against the quorum.
    const restored = cli([
      "restore",
      "--data",
      join(env.root, "replacement"),
      "--from",
      mirrorUrl(),
      "--as",
      join(env.root, "n1.custos-id"),
      "--witness-key",
      witness.key,
      "--quorum",
      "1",
    ]);
    expect(restored.stderr).toBe("");
    expect(restored.stdout).toMatch(/restored \d+ entries from .*cosigned by w-acme\.witness\.example/);
  }, 60_000);

  it("a client catches an entry edited in the mirror's copy, naming it", async () => {
    const trail = await client("patient/P1", mirrorUrl()).trail({ limit: 5000 });
    const target = trail.records[3]!.index;
    await stopMirror();
    const db = new Database(join(mirror.dir, "custos.db"));
    const row = db.prepare("SELECT data FROM entries WHERE idx = ?").get(target) as { data: Buffer };
    const edited = Buffer.from(row.data);
    edited[edited.length - 1]! ^= 1;
    db.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(edited, target);
    // And the copy in the patient's trail index, which history reads serve.
    expect(
      db.prepare("UPDATE lookup SET entry = ? WHERE idx = ?").run(edited, target).changes,
    ).toBeGreaterThan(0);
    db.close();
    await startMirror(); // the node is still down: the mirror serves what it holds
    const error = await client("patient/P1", mirrorUrl())
      .trail({ limit: 5000 })
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as VerificationError).index).toBe(target);
    expect((error as Error).message).toMatch(new RegExp(`${target}`));
  }, 60_000);
});
