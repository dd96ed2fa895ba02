// A split view caught by gossip, with real processes over TLS: the operator copies its node (same
// origin, same key) and shows the copy's other history to one witness only. That witness refuses it
// and keeps the evidence; the honest node reads the witness's evidence, proves the fork against its
// own tree once it can, and lists an alert with both notes. Run for several seeds (sizes), every time.

import { type ChildProcess, spawnSync } from "node:child_process";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { fetchWitnessCheckpoint } from "../../src/witness/witness-client.js";
import {
  BIN,
  createTestDeployment,
  initWitness,
  processEnv,
  startWitnessProcess,
  type TestDeployment,
  type TestWitness,
  witnessFlags,
} from "../helpers/deployment.js";
import { eventually } from "../helpers/processes.js";

let env: TestDeployment;
const witnesses: (TestWitness & { child?: ChildProcess })[] = [];
const cli = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: processEnv(env), timeout: 60_000 });
const flag = (w: TestWitness) => witnessFlags([w]);

async function startWitness(w: (typeof witnesses)[number]): Promise<void> {
  w.child = await startWitnessProcess(env, w);
}

let event = 0;
async function submit(port: number, count: number, tag: string): Promise<void> {
  const emr = new MtlsClient(`https://127.0.0.1:${port}`, env.identity("ehr-source/emr"));
  await emr.call(
    "POST",
    "/v1/records",
    Array.from({ length: count }, () => ({
      time: new Date(Date.UTC(2026, 10, 22, 9) + event * 60_000).toISOString(),
      patientId: "P1",
      userId: `dr-${tag}`,
      action: "query",
      sourceEventId: `${tag}-${event++}`,
    })),
  );
}

interface AlertJson {
  id: number;
  source?: string;
  kind?: string;
  witness: string;
  size: number;
  checkpoint: string;
  witnessCheckpoint: string | null;
  evidence?: { foreignNote: string; referenceNote: string };
}

const alertsOf = (port: number) =>
  new MtlsClient(`https://127.0.0.1:${port}`, env.identity("auditor/acme"))
    .call<{ alerts: AlertJson[] }>("GET", "/v1/alerts?all=true")
    .then((r) => r.alerts.filter((a) => a.source === "gossip"));

async function witnessSize(w: (typeof witnesses)[number], origin: string): Promise<number> {
  const ca = env.bundles.get("patient/P1")!.caCertificate;
  const note = await fetchWitnessCheckpoint(
    { url: `https://127.0.0.1:${w.port}`, verifierKey: w.key },
    origin,
    { ca },
  );
  return note ? Number(note.split("\n")[1]) : 0;
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
      ["auditor", "acme"],
      ["witness", "w-acme"],
      ["witness", "w-north"],
    ],
    masterKeyFill: 61,
  });
  const log = env.bundles.get("patient/P1")!.log!;
  for (const id of ["w-acme", "w-north"]) {
    const w = await initWitness(env, id, log);
    witnesses.push(w);
    await startWitness(w);
  }
}, 120_000);

afterAll(async () => {
  for (const w of witnesses) if (w.child && w.child.exitCode === null) w.child.kill("SIGKILL");
  await env.cleanup();
});

describe("split-view detection by gossip", () => {
  it("catches a fork shown to one witness only, every time, with both notes kept by the node and the witness", async () => {
    const origin = env.bundles.get("patient/P1")!.log!.origin;
    const [acme, north] = witnesses as [(typeof witnesses)[number], (typeof witnesses)[number]];
    const gossip = ["--gossip-every", "300ms"];
    let seen = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      await env.start([...flag(acme), ...flag(north), ...gossip]);
      // Honest growth first: witnessed by both, and never an alert.
      await submit(env.apiPort, 3 + seed, `honest${seed}`);
      await env.stop();
      const forkData = join(env.root, `fork-${seed}`);
      cpSync(env.data, forkData, { recursive: true });
      await env.start([...flag(acme), ...flag(north), ...gossip]);
      const honest = env.apiPort;
      await submit(honest, 2 * seed, `honest${seed}b`);
      const held = await eventually("the honest log witnessed by both", async () => {
        const log = await new MtlsClient(`https://127.0.0.1:${honest}`, env.identity("auditor/acme")).call<{
          size: number;
        }>("GET", "/v1/log");
        const sizes = [await witnessSize(acme, origin), await witnessSize(north, origin)];
        if (sizes.some((s) => s !== log.size)) throw new Error(`witnesses at ${sizes}, log at ${log.size}`);
        return log.size;
      });
      // Nothing new from honest growth. (A fork of an earlier round may have had a second checkpoint
      // refused by the witness, proven later, by size or by a same-size root: also a real split view.)
      const before = await alertsOf(honest);
      expect(before.length).toBeGreaterThanOrEqual(seen);
      seen = before.length;
      // The copy, shown to one witness only, grows past what that witness holds with another history.
      await env.start([...flag(acme), "--gossip-every", "0"], forkData);
      const forkPort = env.apiPort;
      await submit(forkPort, 4 * seed + 6, `fork${seed}`);
      // The fork may sign (and acme refuse) more than one checkpoint: wait until the refusals settle
      // (no new one for 3 s), so the honest log is made to pass the biggest.
      let lastRefused = -1;
      let settledSince = Date.now();
      const forkSize = await eventually(
        "the fork refused by acme's witness",
        async () => {
          const records = JSON.parse(cli(["witness", "evidence", "--data", acme.dir, "--json"]).stdout) as {
            submittedSize: number | string;
          }[];
          if (records.length < seed) throw new Error(`${records.length} evidence records`);
          const refused = Math.max(...records.map((r) => Number(r.submittedSize)));
          if (refused !== lastRefused) {
            lastRefused = refused;
            settledSince = Date.now();
          }
          if (Date.now() - settledSince < 3000) throw new Error(`refusals not settled (last ${refused})`);
          return refused;
        },
        60_000,
      );
      expect(forkSize).toBeGreaterThan(held);
      // The other witness never saw it.
      expect(cli(["witness", "show", "--data", north.dir]).stdout).not.toMatch(/EVIDENCE: [1-9]/);
      // Bigger than the honest log: unprovable until the honest log passes that size; then proven.
      await submit(honest, forkSize - held + 2, `honest${seed}c`);
      const alerts = await eventually(
        "the honest node's gossip alert",
        async () => {
          const list = await alertsOf(honest);
          if (list.length <= seen) throw new Error(`${list.length} gossip alerts`);
          return list;
        },
        30_000,
      );
      const alert = alerts[alerts.length - 1]!;
      expect(alert.kind).toBe("not-a-prefix");
      expect(alert.witness).toBe(`https://127.0.0.1:${acme.port}`);
      expect(alert.witnessCheckpoint).toBe(alert.evidence?.foreignNote);
      expect(alert.checkpoint).toBe(alert.evidence?.referenceNote);
      expect(alert.witnessCheckpoint!.split("\n")[1]).toBe(String(alert.size));
      // The witness kept the same foreign note.
      const evidence = cli(["witness", "evidence", "--data", acme.dir, "--json"]).stdout;
      expect(evidence).toContain(alert.witnessCheckpoint!.split("\n")[2]!);
      seen = alerts.length;
      expect(seen).toBeGreaterThanOrEqual(seed);
      await env.stop();
    }
  }, 300_000);

  it("a mirror checks the witnesses' evidence against its verified copy and reports the fork with both notes", async () => {
    const [acme] = witnesses as [(typeof witnesses)[number]];
    await env.start(["--gossip-every", "0"]);
    try {
      const mirrorDir = join(env.root, "gossip-mirror");
      const run = cli([
        "mirror",
        "--data",
        mirrorDir,
        "--from",
        `https://127.0.0.1:${env.apiPort}`,
        "--as",
        join(env.root, "n1.custos-id"),
        "--once",
        "--gossip",
        `https://127.0.0.1:${acme.port}`,
      ]);
      expect(run.status, run.stderr).toBe(0);
      // Every fork acme's witness refused is proven against the mirror's copy, each with both notes.
      const reported = run.stderr.match(/^ALERT \d+: split view shown by /gm) ?? [];
      expect(reported.length).toBeGreaterThanOrEqual(5); // one per fork, more if a fork was refused twice
      expect(run.stderr).toContain("the verified copy's checkpoint:");
      expect(run.stderr).toContain("the conflicting checkpoint:");
      const kept = readFileSync(join(mirrorDir, "alerts.jsonl"), "utf8").trim().split("\n");
      expect(kept.filter((line) => line.includes('"type":"alert"'))).toHaveLength(reported.length);
      // A second pass raises nothing new.
      const again = cli([
        "mirror",
        "--data",
        mirrorDir,
        "--from",
        `https://127.0.0.1:${env.apiPort}`,
        "--as",
        join(env.root, "n1.custos-id"),
        "--once",
        "--gossip",
        `https://127.0.0.1:${acme.port}`,
      ]);
      expect(again.status, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/^ALERT/m);
    } finally {
      await env.stop();
    }
  }, 120_000);

  it("POST /v1/gossip refuses malformed bodies with stable codes and raises nothing for unsigned notes", async () => {
    await env.start(["--gossip-every", "0"]);
    try {
      const client = new MtlsClient(`https://127.0.0.1:${env.apiPort}`, env.identity("patient/P1"));
      const before = (await alertsOf(env.apiPort)).length;
      for (const body of [
        {},
        { checkpoints: [] },
        { checkpoints: "x" },
        { checkpoints: [1] },
        { checkpoints: Array.from({ length: 17 }, () => "x") },
        { checkpoints: ["x".repeat(16 * 1024 + 1)] },
        { checkpoints: ["x"], extra: 1 },
        "not json",
      ]) {
        await expect(
          client.call("POST", "/v1/gossip", body),
          JSON.stringify(body).slice(0, 60),
        ).rejects.toMatchObject({
          code: "BAD_ARGUMENT",
        });
      }
      await expect(
        client.call("POST", "/v1/gossip", { checkpoints: ["x".repeat(600 * 1024)] }),
      ).rejects.toMatchObject({ code: "TOO_LARGE" });
      const origin = env.bundles.get("patient/P1")!.log!.origin;
      const unsigned = `${origin}\n5\n${"A".repeat(43)}=\n\n\u2014 ${origin} AAAAAAAA\n`;
      const reply = await client.call<{ results: { status: string }[] }>("POST", "/v1/gossip", {
        checkpoints: [unsigned, "junk"],
      });
      expect(reply.results.map((r) => r.status)).toEqual(["ignored", "ignored"]);
      // The node's own checkpoint is consistent with itself.
      const own = await client.call<string>("GET", "/v1/checkpoint");
      const mine = await client.call<{ results: { status: string }[] }>("POST", "/v1/gossip", {
        checkpoints: [own],
      });
      expect(mine.results[0]!.status).toBe("consistent");
      expect((await alertsOf(env.apiPort)).length).toBe(before);
    } finally {
      await env.stop();
    }
  }, 60_000);
});
