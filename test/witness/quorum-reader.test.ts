// Readers that require a witness quorum keep reading while a witness is down: a real node (`custos
// serve`, SQLite, quorum of two), two real witnesses, a real serving mirror that requires both, and
// patients' clients requiring two or one cosignatures. One witness is killed: a quorum-2 reader is
// served the last checkpoint both cosigned (and told how far behind it is), a quorum-1 reader the
// newest; readiness on the portal port, without a client certificate, says how the quorum stands. The
// witness comes back: what was appended meanwhile becomes visible to the quorum-2 reader.

import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import {
  createTestDeployment,
  freePort,
  initWitness,
  processEnv,
  type TestDeployment,
  type TestWitness,
  witnessFlags,
  witnessServeArgs,
} from "../helpers/deployment.js";
import { type CustosProcess, eventually, type ProcessGroup, processGroup } from "../helpers/processes.js";

let env: TestDeployment;
let group: ProcessGroup;
let node: CustosProcess;
let mirror: CustosProcess;
let apiPort: number;
let portalPort: number;
let mirrorPort: number;
const witnesses: (TestWitness & { process?: CustosProcess })[] = [];

const childEnv = () => processEnv(env);
const nodeUrl = () => `https://127.0.0.1:${apiPort}`;
const mirrorUrl = () => `https://127.0.0.1:${mirrorPort}`;

async function startWitness(w: (typeof witnesses)[number]): Promise<void> {
  w.process = group.start(`witness ${w.id}`, witnessServeArgs(env, w), childEnv());
  await w.process.waitFor("serving on", 60_000);
}

/** A patient client requiring `quorum` of the two witnesses, with its own trust state. */
function reader(quorum: number, url: string, name: string): CustosClient {
  return new CustosClient({
    url,
    identity: env.identity("patient/P1"),
    statePath: join(env.root, `${name}.state.json`),
    witnesses: { keys: witnesses.map((w) => w.key), quorum },
  });
}

let nextEvent = 0;
async function submit(count: number): Promise<void> {
  const source = new CustosClient({ url: nodeUrl(), identity: env.identity("ehr-source/emr") });
  const records = Array.from({ length: count }, () => ({
    time: new Date(Date.now() - 60_000).toISOString(),
    patientId: "P1",
    userId: "dr-house",
    action: "query" as const,
    sourceEventId: `quorum-${nextEvent++}`,
  }));
  await source.submit(records);
}

/** GET /v1/ready on the portal port, as a load balancer without a client certificate asks it. */
function ready(): Promise<{ status: number; body: { witnesses: Record<string, number> } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: portalPort, path: "/v1/ready", rejectUnauthorized: false },
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
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
      ["witness", "w-acme"],
      ["witness", "w-north"],
      ["node", "acme-mirror"],
    ],
    masterKeyFill: 67,
  });
  group = processGroup();
  const bundle = env.bundles.get("node/n1")!.log!;
  for (const id of ["w-acme", "w-north"]) witnesses.push(await initWitness(env, id, bundle));
  await Promise.all(witnesses.map(startWitness));
  apiPort = await freePort();
  portalPort = await freePort();
  mirrorPort = await freePort();
  node = group.start(
    "custos serve",
    [
      "serve",
      "--data",
      env.data,
      "--identity",
      join(env.root, "n1.custos-id"),
      "--listen",
      `127.0.0.1:${apiPort}`,
      "--portal",
      `127.0.0.1:${portalPort}`,
      ...witnessFlags(witnesses),
    ],
    childEnv(),
  );
  await node.waitFor("portal (login)", 60_000);
  mirror = group.start(
    "custos mirror",
    [
      "mirror",
      "--every",
      "1",
      "--data",
      join(env.root, "acme-mirror"),
      "--from",
      nodeUrl(),
      "--as",
      join(env.root, "acme-mirror.custos-id"),
      ...witnesses.flatMap((w) => ["--witness-key", w.key]),
      "--quorum",
      "2",
      "--serve",
      `127.0.0.1:${mirrorPort}`,
    ],
    childEnv(),
  );
  await mirror.waitFor("serving its verified copy", 60_000);
}, 180_000);

afterAll(async () => {
  await group?.killAll();
  await env?.cleanup();
});

describe("a witness down", () => {
  it("quorum readers keep reading up to the last checkpoint the quorum cosigned, and catch up after", async () => {
    onTestFailed(() => {
      for (const p of [node, mirror, ...witnesses.map((w) => w.process)])
        if (p) process.stdout.write(`${p.name} printed:\n${p.output().slice(-3000)}\n`);
    });
    const both = reader(2, nodeUrl(), "both");
    const one = reader(1, nodeUrl(), "one");
    const fromMirror = reader(2, mirrorUrl(), "mirror");
    await submit(5);
    for (const [name, client] of [
      ["node", both],
      ["mirror", fromMirror],
    ] as const) {
      await eventually(`5 records cosigned by both witnesses, read from the ${name}`, async () => {
        const page = await client.trail();
        if (page.records.length < 5) throw new Error(`${page.records.length} records`);
        expect(page.checkpoint.witnesses).toHaveLength(2);
        expect(page.checkpoint.behind).toBeUndefined();
      });
    }

    const north = witnesses[1]!;
    await north.process!.kill("SIGKILL");
    await submit(3);
    // A quorum of one sees the new records under checkpoints the remaining witness cosigned.
    const newest = await eventually("the quorum-1 reader seeing all 8 records", async () => {
      const page = await one.trail();
      if (page.records.length < 8) throw new Error(`${page.records.length} records`);
      expect(page.checkpoint.witnesses).toEqual(["w-acme.witness.example"]);
      return page.checkpoint.size;
    });
    // A quorum of two is still served, by the node and the mirror alike: the last checkpoint both
    // witnesses cosigned, consistent with what it trusted before, and told how far that is behind.
    const trustedBefore = both.trustedSize;
    const behind = await both.trail();
    expect(behind.records).toHaveLength(5);
    expect(behind.checkpoint.witnesses).toHaveLength(2);
    expect(behind.checkpoint.size).toBeGreaterThanOrEqual(trustedBefore);
    expect(behind.checkpoint.size).toBeLessThan(newest);
    expect(behind.checkpoint.behind?.entries).toBeGreaterThanOrEqual(newest - behind.checkpoint.size);
    expect(behind.checkpoint.behind?.seconds).toBeGreaterThanOrEqual(0);
    const mirrored = await fromMirror.trail();
    expect(mirrored.records).toHaveLength(5);
    expect(mirrored.checkpoint.witnesses).toHaveLength(2);
    // The command line says it is behind (and still verifies and lists what the quorum covers).
    const cli = await group.run(
      [
        "query",
        "--server",
        nodeUrl(),
        "--as",
        join(env.root, "P1.custos-id"),
        "--state",
        join(env.root, "cli.state.json"),
        "--witness-key",
        ...witnesses.map((w) => w.key),
        "--quorum",
        "2",
        "--json",
      ],
      childEnv(),
    );
    expect(cli.status, cli.stderr).toBe(0);
    const printed = JSON.parse(cli.stdout) as { records: unknown[]; behind?: { entries: number } };
    expect(printed.records).toHaveLength(5);
    expect(printed.behind?.entries).toBeGreaterThan(0);
    expect(cli.stderr).toMatch(/^behind: \d+ newer entr(y|ies) of the log/m);
    // Readiness, without a client certificate: ready (ingest goes on), one cosignature on the newest,
    // the quorum's checkpoint behind it.
    const probe = await ready();
    expect(probe.status).toBe(200);
    expect(probe.body.witnesses).toMatchObject({ configured: 2, quorum: 2, cosigned: 1 });
    expect(probe.body.witnesses.quorumSize).toBe(behind.checkpoint.size);
    expect(probe.body.witnesses.quorumBehind).toBeGreaterThan(0);
    expect(probe.body.witnesses.quorumStaleSeconds).toBeGreaterThanOrEqual(0);

    // The witness returns: the records appended while it was down become visible to quorum 2.
    await startWitness(north);
    for (const [name, client] of [
      ["node", both],
      ["mirror", fromMirror],
    ] as const) {
      await eventually(
        `all 8 records cosigned by both witnesses again, read from the ${name}`,
        async () => {
          const page = await client.trail();
          if (page.records.length < 8) throw new Error(`${page.records.length} records`);
          expect(page.checkpoint.witnesses).toHaveLength(2);
          expect(page.checkpoint.behind).toBeUndefined();
        },
        60_000,
        300,
      );
    }
    await eventually("readiness: the quorum's checkpoint is the newest again", async () => {
      const after = await ready();
      expect(after.body.witnesses).toMatchObject({ cosigned: 2, quorumStaleSeconds: 0 });
      expect(after.body.witnesses.quorumSize).toBe(after.body.witnesses.size);
    });
  }, 240_000);
});
