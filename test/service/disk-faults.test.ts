// Disk faults under a real `custos serve` on SQLite: its data directory on a small loop-mounted ext4
// image and on a size-limited tmpfs, filled under ingest; the ext4 one then turned read-only at once
// (`remount,abort`, as after a disk error). The node must stay responsive (health answers, readiness
// names the fault, SIGTERM works), answer writes with 503 STORE_BUSY and Retry-After, log the cause,
// resume ingest without a restart once space returns, refuse to start on a read-only mount, and lose
// no acknowledged record. (A read-only remount of a file system the node has open for writing is
// refused by Linux with EBUSY, for tmpfs as for ext4: abort is the read-only fault there is.)

import { spawnSync } from "node:child_process";
import { cpSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { CustosError } from "../../src/core/errors.js";
import { BIN, createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { loopExt4, type SmallDisk, smallTmpfs } from "../helpers/mounts.js";
import { eventually } from "../helpers/processes.js";

/** GETs an open route on the portal port (no client certificate, as a load balancer would). */
function probe(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "GET",
        rejectUnauthorized: false,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${path}: no answer in 10 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** Batches of records, each retried (same source event IDs) until acknowledged; refusals counted. */
function ingestLoop(env: TestDeployment, prefix: string) {
  const emr = new MtlsClient(`https://127.0.0.1:${env.apiPort}`, env.identity("ehr-source/emr"));
  const acked = new Map<string, number>();
  const refusals: CustosError[] = [];
  let stop = false;
  let batch = 0;
  const done = (async () => {
    while (!stop) {
      const records = Array.from({ length: 20 }, (_, i) => ({
        time: "2026-12-01T08:00:00Z",
        patientId: "P1",
        userId: `u${i}`,
        action: "query",
        sourceEventId: `${prefix}-${batch}-${i}`,
      }));
      batch++;
      while (!stop) {
        try {
          const reply = await emr.call<{ records: { index: number }[] }>("POST", "/v1/records", records);
          for (const [i, r] of reply.records.entries()) acked.set(records[i]!.sourceEventId, r.index);
          break;
        } catch (error) {
          if (!(error instanceof CustosError) || error.code !== "STORE_BUSY") throw error;
          refusals.push(error);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
  })();
  return {
    acked,
    refusals,
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function trailIndexes(env: TestDeployment): Promise<Map<string, number>> {
  const p1 = new CustosClient({
    url: `https://127.0.0.1:${env.apiPort}`,
    identity: env.identity("patient/P1"),
  });
  const seen = new Map<string, number>();
  let before: number | undefined;
  for (;;) {
    const page = await p1.trail(before === undefined ? {} : { before });
    for (const r of page.records) seen.set(r.record.sourceEventId!, r.index);
    if (page.next === null) return seen;
    before = page.next;
  }
}

function verifyClean(env: TestDeployment, data: string): void {
  const verify = spawnSync(process.execPath, [BIN, "verify", "--data", data, "--no-save-state"], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: env.masterKey },
  });
  expect(verify.stdout, verify.stderr).toMatch(/^OK/m);
  expect(verify.status).toBe(0);
}

const DISKS: readonly [string, () => SmallDisk, boolean][] = [
  ["a loop-mounted ext4 image", () => loopExt4(24), true],
  ["a size-limited tmpfs", () => smallTmpfs(24), false],
];

// One deployment (made on the ordinary disk), copied onto each small disk.
let env: TestDeployment;
beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
    ],
  });
}, 60_000);
afterAll(async () => {
  await env?.cleanup();
});

describe.each(DISKS)("a node whose data directory is on %s", (name, makeDisk, canAbort) => {
  let disk: SmallDisk;
  let data: string;
  const acked = new Map<string, number>();

  beforeAll(() => {
    disk = makeDisk();
    data = join(disk.dir, "data");
    cpSync(env.data, data, { recursive: true });
  });

  afterAll(async () => {
    await env?.stop().catch(() => undefined);
    disk?.unmount();
  });

  it("answers 503 STORE_BUSY with Retry-After while the disk is full, stays responsive, and resumes once space returns", async () => {
    await env.start(["--verify-every", "0"], data);
    const load = ingestLoop(env, "full");
    try {
      await eventually("first acknowledgements", () => expect(load.acked.size).toBeGreaterThan(40), 60_000);
      disk.fill();
      await eventually(
        "writes refused on the full disk",
        () => expect(load.refusals.length).toBeGreaterThan(3),
        120_000,
      );
      const refusal = load.refusals[0]!;
      expect(refusal.message).toMatch(/disk full/);
      expect(refusal.retryAfterSeconds).toBeGreaterThanOrEqual(1);

      // Responsive: liveness answers, readiness says why it is not ready (and that this is the sequencer).
      expect((await probe(env.portalPort, "/v1/health")).status).toBe(200);
      const ready = await probe(env.portalPort, "/v1/ready");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ role: "sequencer" });
      expect(JSON.stringify(ready.body.checks)).toMatch(/disk full/);
      expect(env.output).toMatch(/a write to the log's store failed: disk full/);

      const before = load.acked.size;
      const freedAt = Date.now();
      disk.free();
      // The README's fault figure: from space returning to the next acknowledged write.
      await eventually(
        "a first write once space returns",
        () => expect(load.acked.size).toBeGreaterThan(before),
        120_000,
        10,
      );
      console.log(
        `disk full (${name}): first acknowledged write ${Date.now() - freedAt} ms after space returned`,
      );
      await eventually(
        "ingest resumes without a restart",
        () => expect(load.acked.size).toBeGreaterThan(before + 40),
        120_000,
      );
      await eventually("ready again", async () =>
        expect((await probe(env.portalPort, "/v1/ready")).status).toBe(200),
      );
    } finally {
      await load.stop();
    }
    for (const [id, index] of load.acked) acked.set(id, index);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const seen = await trailIndexes(env);
    for (const [id, index] of acked) expect(seen.get(id), id).toBe(index);
    await env.stop();
    verifyClean(env, data);
  }, 300_000);

  if (canAbort)
    it("stays responsive when the file system turns read-only, stops on SIGTERM, refuses to start on it, and keeps every acknowledged record", async () => {
      await env.start(["--verify-every", "0"], data);
      const load = ingestLoop(env, "ro");
      try {
        await eventually("acknowledgements", () => expect(load.acked.size).toBeGreaterThan(40), 60_000);
        disk.abort();
        await eventually(
          "writes refused on the read-only disk",
          () => expect(load.refusals.length).toBeGreaterThan(3),
          120_000,
        );
        expect(load.refusals.at(-1)!.message).toMatch(/read-only|I\/O error/);
        expect((await probe(env.portalPort, "/v1/health")).status).toBe(200);
        const ready = await probe(env.portalPort, "/v1/ready");
        expect(ready.status).toBe(503);
        expect(JSON.stringify(ready.body.checks)).toMatch(/read-only|I\/O|failing writes/);
      } finally {
        await load.stop();
      }
      for (const [id, index] of load.acked) acked.set(id, index);
      await env.stop(); // SIGTERM, and waits for the exit

      const refused = spawnSync(
        process.execPath,
        [
          BIN,
          "serve",
          "--data",
          data,
          "--identity",
          join(env.root, "n1.custos-id"),
          "--listen",
          "127.0.0.1:0",
        ],
        {
          encoding: "utf8",
          env: {
            PATH: process.env.PATH,
            CUSTOS_MASTER_KEY: env.masterKey,
            CUSTOS_BUNDLE_PASSPHRASE: PASS,
          },
          timeout: 60_000,
        },
      );
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/^error: .*read-only/m);

      disk.repair();
      await env.start(["--verify-every", "0"], data);
      const seen = await trailIndexes(env);
      for (const [id, index] of acked) expect(seen.get(id), id).toBe(index);
      await env.stop();
      verifyClean(env, data);
    }, 300_000);
});
