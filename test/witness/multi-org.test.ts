// Several organizations on one machine, each a separate process with its own identity and data
// directory, over TLS: the hospital's node, two audit companies' witnesses. Clients require a quorum
// of witness cosignatures; a witness that dies never blocks ingest and catches up when it returns;
// and when the operator forks the log (same origin, same key, different history) the witnesses refuse
// to cosign, keep the evidence, the node raises an alert, and clients refuse the unwitnessed log.

import { type ChildProcess, spawnSync } from "node:child_process";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
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
const others: ChildProcess[] = [];

function cli(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: processEnv(env),
    timeout: 60_000,
  });
}

async function startWitness(w: (typeof witnesses)[number]): Promise<void> {
  w.child = await startWitnessProcess(env, w);
}

function patient(port: number, quorum: number, statePath?: string) {
  return new CustosClient({
    url: `https://127.0.0.1:${port}`,
    identity: env.identity("patient/P1"),
    witnesses: { keys: witnesses.map((w) => w.key), quorum },
    ...(statePath ? { statePath } : {}),
  });
}

async function submit(port: number, from: number, count: number): Promise<number> {
  const emr = new MtlsClient(`https://127.0.0.1:${port}`, env.identity("ehr-source/emr"));
  const reply = await emr.call<{ records: { index: number }[] }>(
    "POST",
    "/v1/records",
    Array.from({ length: count }, (_, i) => ({
      time: new Date(Date.UTC(2026, 10, 22, 9) + (from + i) * 60_000).toISOString(),
      patientId: "P1",
      userId: "dr-who",
      action: "query",
      sourceEventId: `e-${from + i}`,
    })),
  );
  return reply.records.length;
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
      ["node", "acme-mirror"],
      ["node", "north-mirror"],
    ],
    masterKeyFill: 51,
  });
  const log = env.bundles.get("patient/P1")!.log!;
  for (const id of ["w-acme", "w-north"]) {
    const w = await initWitness(env, id, log);
    witnesses.push(w);
    await startWitness(w);
  }
  await env.start(witnessFlags(witnesses));
}, 120_000);

afterAll(async () => {
  for (const w of witnesses) if (w.child && w.child.exitCode === null) w.child.kill("SIGKILL");
  for (const child of others) if (child.exitCode === null) child.kill("SIGKILL");
  await env.cleanup();
});

describe("a hospital's node and two audit companies' witnesses", () => {
  it("serves checkpoints cosigned by both witnesses, and clients require the quorum", async () => {
    expect(await submit(env.apiPort, 0, 20)).toBe(20);
    const trail = await eventually("quorum of 2", async () => {
      const result = await patient(env.apiPort, 2).trail();
      if (result.records.length < 20)
        throw new Error(`only ${result.records.length} records under the witnessed checkpoint`);
      return result;
    });
    expect([...trail.checkpoint.witnesses].sort()).toEqual([
      "w-acme.witness.example",
      "w-north.witness.example",
    ]);
    // Each audit company's mirror copies the log, accepting only checkpoints both witnesses cosigned.
    for (const mirror of ["acme-mirror", "north-mirror"]) {
      const dir = join(env.root, mirror);
      const run = cli([
        "mirror",
        "--once",
        "--data",
        dir,
        "--from",
        `https://127.0.0.1:${env.apiPort}`,
        "--as",
        join(env.root, `${mirror}.custos-id`),
        ...witnesses.flatMap((w) => ["--witness-key", w.key]),
        "--quorum",
        "2",
      ]);
      expect(run.stderr).toBe("");
      expect(run.stdout).toMatch(
        /verified against the signed checkpoint, cosigned by w-acme\.witness\.example, w-north\.witness\.example/,
      );
      expect(cli(["verify", "--data", dir]).status).toBe(0);
    }
  }, 60_000);

  it("keeps ingesting when a witness dies; a 2-of-2 client reads up to what both cosigned, 1-of-2 sees all; the witness catches up", async () => {
    const north = witnesses[1]!;
    north.child!.kill("SIGKILL");
    expect(await submit(env.apiPort, 20, 10)).toBe(10);
    await eventually("the new checkpoint witnessed by one", async () => {
      const result = await patient(env.apiPort, 1).trail();
      if (result.records.length < 30) throw new Error("not yet");
    });
    // A client requiring both witnesses is served the newest checkpoint both cosigned (issue 26.3):
    // the 20 records from before the witness died, and how far behind the newest that is.
    const held = await patient(env.apiPort, 2).trail();
    expect(held.records).toHaveLength(20);
    expect([...held.checkpoint.witnesses].sort()).toEqual([
      "w-acme.witness.example",
      "w-north.witness.example",
    ]);
    expect(held.checkpoint.behind?.entries).toBeGreaterThanOrEqual(10);
    await startWitness(north);
    await eventually(
      "both witnesses again",
      async () => {
        const result = await patient(env.apiPort, 2).trail();
        if (result.records.length < 30) throw new Error(`${result.records.length} records under both`);
      },
      30_000,
    );
  }, 90_000);

  it("catches a fork: the witnesses refuse the rewritten history and keep evidence, the node alerts, clients refuse", async () => {
    const statePath = join(env.root, "p1-state.json");
    await eventually("trusted state", () => patient(env.apiPort, 2, statePath).trail());
    // The operator copies its node (same origin, same signing key) and gives the copy another history.
    await env.stop();
    const forkData = join(env.root, "fork");
    cpSync(env.data, forkData, { recursive: true });
    await env.start(witnessFlags(witnesses));
    const honestPort = env.apiPort;
    expect(await submit(honestPort, 100, 5)).toBe(5);
    await eventually("honest log witnessed", async () => {
      const result = await patient(honestPort, 2, statePath).trail();
      if (result.records.length < 35) throw new Error("not yet");
    });
    const honest = { api: env.apiPort, portal: env.portalPort };
    // The fork: same data directory copy, different records.
    await env.start(witnessFlags(witnesses), forkData);
    const forkPort = env.apiPort;
    expect(forkPort).not.toBe(honest.api);
    // Longer than the honest log, so each witness is shown the rewritten history and must refuse it.
    expect(await submit(forkPort, 500, 120)).toBe(120);
    const alerts = await eventually("the forked node's alert", async () => {
      const reply = await new MtlsClient(`https://127.0.0.1:${forkPort}`, env.identity("auditor/acme")).call<{
        alerts: {
          id: number;
          witness: string;
          reason: string;
          checkpoint: string;
          witnessCheckpoint: string | null;
        }[];
      }>("GET", "/v1/alerts");
      const refused = reply.alerts.filter((a) => /refused: (409|422)/.test(a.reason));
      if (new Set(refused.map((a) => a.witness)).size < 2) throw new Error(`${refused.length} refusals`);
      return refused;
    });
    expect(alerts.map((a) => a.reason).join("\n")).toMatch(/refused: (409|422)/);
    // Each alert carries both signed checkpoints: the fork's, and the honest one the witness holds.
    const origin = env.bundles.get("patient/P1")!.log!.origin;
    for (const alert of alerts) {
      expect(alert.checkpoint.startsWith(`${origin}\n`)).toBe(true);
      expect(alert.witnessCheckpoint?.startsWith(`${origin}\n`)).toBe(true);
      expect(alert.witnessCheckpoint).not.toBe(alert.checkpoint);
    }
    // An audit company acknowledges one; it leaves the open list but stays on record.
    const acme = new MtlsClient(`https://127.0.0.1:${forkPort}`, env.identity("auditor/acme"));
    const first = alerts[0]!;
    const acked = await acme.call<{ alert: { acknowledged: { by: string } } }>(
      "POST",
      `/v1/alerts/${first.id}/ack`,
    );
    expect(acked.alert.acknowledged.by).toBe("custos://stmary/auditor/acme");
    const open = await acme.call<{ alerts: { id: number }[] }>("GET", "/v1/alerts");
    expect(open.alerts.map((a) => a.id)).not.toContain(first.id);
    const all = await acme.call<{ alerts: { id: number }[] }>("GET", "/v1/alerts?all=true");
    expect(all.alerts.map((a) => a.id)).toContain(first.id);
    await expect(
      new MtlsClient(`https://127.0.0.1:${forkPort}`, env.identity("patient/P1")).call("GET", "/v1/alerts"),
    ).rejects.toMatchObject({ code: "NOT_AUTHORIZED" });
    for (const w of witnesses) {
      const evidence = cli(["witness", "show", "--data", w.dir]);
      expect(evidence.stdout).toMatch(/EVIDENCE: [1-9]\d* record/);
    }
    // Clients never see the unwitnessed history: the fork can serve only what the witnesses cosigned
    // before it split, which a client that trusted the honest log's newer checkpoint refuses outright.
    await expect(patient(forkPort, 2, statePath).trail()).rejects.toThrow(/newer than this node's latest/);
    const fresh = await patient(forkPort, 2).trail({ limit: 5000 });
    expect(fresh.records.some((r) => Number(r.record.sourceEventId!.slice(2)) >= 500)).toBe(false);
    expect(fresh.records.length).toBeGreaterThanOrEqual(30);
    expect(fresh.checkpoint.witnesses).toHaveLength(2);
  }, 120_000);
});
