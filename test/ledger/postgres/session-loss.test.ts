// The sequencer survives losing its PostgreSQL sessions (a database failover or a network cut ends
// them): a real `custos serve` process under ingest has every session of its pool terminated, 20 times
// (only its own sessions: its pool carries an application_name this test chose). The process must
// survive each time and take writes again without a restart; no acknowledged record may be lost; the
// log must verify. Clients see STORE_BUSY (503 with Retry-After) or a dropped connection meanwhile.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../../src/client/custos-client.js";
import { MtlsClient } from "../../../src/client/mtls-client.js";
import { CustosError } from "../../../src/core/errors.js";
import { Identity, type IdentityBundle } from "../../../src/identity/bundle.js";
import { BIN, PASS } from "../../helpers/deployment.js";
import {
  dropSchema,
  enrollPostgresDeployment,
  PG_URL,
  requirePostgres,
  sql,
  testSchema,
} from "../../helpers/postgres.js";
import { eventually, processGroup } from "../../helpers/processes.js";
import { tempDir } from "../../helpers/temp.js";

const MASTER_KEY = Buffer.alloc(32, 47).toString("base64");
const KILLS = Number(process.env.KILLS ?? 20);
let root: { dir: string; cleanup: () => void };
let schema: string;
let appName: string;
let db: string;
const bundles = new Map<string, IdentityBundle>();
const group = processGroup();

beforeAll(async () => {
  await requirePostgres();
  root = tempDir("custos-session-loss-");
  schema = testSchema();
  appName = `custos-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const separator = PG_URL.includes("?") ? "&" : "?";
  db = `${PG_URL}${separator}schema=${schema}&application_name=${appName}`;
  const deployment = await enrollPostgresDeployment(
    root.dir,
    db,
    "session-loss.custos.example/log",
    MASTER_KEY,
    [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
    ] as const,
    bundles,
  );
  await deployment.close();
}, 60_000);

afterAll(async () => {
  await group.killAll();
  await dropSchema(schema);
  root?.cleanup();
});

/** Terminates every session this test's node holds (and no one else's). */
async function killSessions(): Promise<number> {
  const result = await sql(
    "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
    [appName],
  );
  return result.rowCount ?? 0;
}

describe("the sequencer loses its PostgreSQL sessions under ingest", () => {
  it(`survives ${KILLS} terminations of every session, loses no acknowledged record, and verifies`, async () => {
    const node = group.start(
      "node",
      [
        "serve",
        ...["--data", join(root.dir, "data"), "--db", db],
        ...["--identity", join(root.dir, "n1.custos-id"), "--listen", "127.0.0.1:0"],
        ...["--verify-every", "0"],
      ],
      { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER_KEY, CUSTOS_BUNDLE_PASSPHRASE: PASS },
    );
    await node.waitFor(/API \(mutual TLS\): https:\/\/127\.0\.0\.1:\d+/);
    const url = /API \(mutual TLS\): (https:\/\/127\.0\.0\.1:\d+)/.exec(node.output())![1]!;
    const emr = new MtlsClient(url, Identity.unlock(bundles.get("emr")!, PASS));

    // Ingest: one record per request, each retried (same source event ID, so the same idempotency
    // key) until acknowledged; the acknowledged ones are remembered with their index.
    const acked = new Map<string, number>();
    // Time from each termination to the next acknowledged write (the README's fault figures).
    const recoveries: number[] = [];
    let killedAt: number | undefined;
    const refusals = new Map<string, number>();
    let sent = 0;
    let stop = false;
    const ingest = (async () => {
      while (!stop) {
        const id = `e-${sent++}`;
        const record = {
          time: "2026-12-01T08:00:00Z",
          patientId: "P1",
          userId: "u1",
          action: "query",
          sourceEventId: id,
        };
        while (!stop) {
          try {
            const reply = await emr.call<{ records: { index: number }[] }>("POST", "/v1/records", [record]);
            acked.set(id, reply.records[0]!.index);
            if (killedAt !== undefined) {
              recoveries.push(Date.now() - killedAt);
              killedAt = undefined;
            }
            break;
          } catch (error) {
            const code = error instanceof CustosError ? error.code : "other";
            refusals.set(code, (refusals.get(code) ?? 0) + 1);
            if (code !== "STORE_BUSY" && code !== "UNAVAILABLE") throw error;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      }
    })();

    let terminated = 0;
    for (let round = 0; round < KILLS; round++) {
      const before = acked.size;
      await eventually(
        `writes resume before kill ${round + 1}`,
        () => {
          if (node.exited) throw new Error(`the node exited: ${node.output()}`);
          if (acked.size < before + 3) throw new Error(`${acked.size - before} new acknowledgements`);
        },
        60_000,
        20,
      );
      killedAt = Date.now();
      terminated += await killSessions();
      expect(node.exited).toBe(false);
    }
    await eventually("writes resume after the last kill", () => {
      if (node.exited) throw new Error(`the node exited: ${node.output()}`);
      if (acked.size < sent - 1 + 0 && acked.size === 0) throw new Error("none");
    });
    const last = acked.size;
    await eventually(
      "more writes after the last kill",
      () => {
        if (acked.size < last + 3) throw new Error("no new acknowledgements");
      },
      60_000,
    );
    stop = true;
    await ingest;
    expect(node.exited).toBe(false);
    expect(terminated).toBeGreaterThanOrEqual(KILLS);
    // The node refused writes while it recovered (it was not lucky 20 times).
    expect((refusals.get("STORE_BUSY") ?? 0) + (refusals.get("UNAVAILABLE") ?? 0)).toBeGreaterThan(0);
    expect(node.output()).not.toMatch(/STORE_CORRUPT|does not match|unexpected failure/);

    // Readiness: the recovered node is the ready sequencer.
    const ready = await emr.call<{ status: string; role: string }>("GET", "/v1/ready?role=sequencer");
    expect(ready).toMatchObject({ status: "ok", role: "sequencer" });

    // Every acknowledged record is in the patient's verified trail at the index it was given.
    const p1 = new CustosClient({ url, identity: Identity.unlock(bundles.get("P1")!, PASS) });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const seen = new Map<string, number>();
    let before: number | undefined;
    for (;;) {
      const page = await p1.trail(before === undefined ? {} : { before });
      for (const r of page.records) seen.set(r.record.sourceEventId!, r.index);
      if (page.next === null) break;
      before = page.next;
    }
    for (const [id, index] of acked) expect(seen.get(id), id).toBe(index);

    if (process.env.SHOW) console.log(node.output(), [...refusals]);
    const sorted = [...recoveries].sort((x, y) => x - y);
    console.log(
      `session loss: ${recoveries.length} terminations, first acknowledged write after ${sorted[0]} ms (min), ${sorted[Math.floor(sorted.length / 2)]} ms (median), ${sorted.at(-1)} ms (max); ${acked.size} acknowledged, 0 lost`,
    );
    await node.kill("SIGTERM");
    const verify = spawnSync(
      process.execPath,
      [BIN, "verify", "--data", join(root.dir, "data"), "--db", db],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER_KEY },
      },
    );
    expect(verify.stdout).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  }, 300_000);
});
