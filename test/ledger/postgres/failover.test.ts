// A real database failover under ingest: a throwaway PostgreSQL primary with a synchronous streaming
// standby (Debian's initdb, pg_basebackup, pg_ctl; test/helpers/pg-replication.ts), a `custos serve`
// process given both servers in one libpq-style URL (target_session_attrs=read-write), and an EHR
// source submitting through the SDK. The primary is stopped as in a crash (pg_ctl stop -m immediate)
// and the standby promoted (pg_ctl promote): the node must carry on, on the promoted server, without a
// restart; every acknowledged record must be in the log once, at the index it was given; custos
// verify must be clean. The time from the promotion to the first acknowledged write is printed (the
// README's fault figures).

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../../src/client/custos-client.js";
import { Identity, type IdentityBundle } from "../../../src/identity/bundle.js";
import { PASS } from "../../helpers/deployment.js";
import {
  type ReplicatedPostgres,
  requirePostgresBinaries,
  startReplicatedPostgres,
} from "../../helpers/pg-replication.js";
import { enrollPostgresDeployment } from "../../helpers/postgres.js";
import { eventually, processGroup } from "../../helpers/processes.js";
import { tempDir } from "../../helpers/temp.js";

const MASTER_KEY = Buffer.alloc(32, 53).toString("base64");
let root: { dir: string; cleanup: () => void };
let cluster: ReplicatedPostgres | undefined;
let db: string;
const bundles = new Map<string, IdentityBundle>();
const group = processGroup();
const env = { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER_KEY, CUSTOS_BUNDLE_PASSPHRASE: PASS };

beforeAll(async () => {
  requirePostgresBinaries();
  root = tempDir("custos-failover-");
  cluster = await startReplicatedPostgres();
  db = `${cluster.multiHostUrl}&schema=failover`;
  const deployment = await enrollPostgresDeployment(
    root.dir,
    db,
    "failover.custos.example/log",
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
}, 90_000);

afterAll(async () => {
  await group.killAll();
  await cluster?.stop();
  root?.cleanup();
});

describe("a PostgreSQL failover under ingest", () => {
  it("carries on on the promoted standby: no acknowledged record lost or doubled, verify clean", async () => {
    const c = cluster!;
    const node = group.start(
      "node",
      [
        "serve",
        ...["--data", join(root.dir, "data"), "--db", db],
        ...["--identity", join(root.dir, "n1.custos-id"), "--listen", "127.0.0.1:0"],
        ...["--verify-every", "0"],
      ],
      env,
    );
    await node.waitFor(/API \(mutual TLS\): https:\/\/127\.0\.0\.1:\d+/);
    const url = /API \(mutual TLS\): (https:\/\/127\.0\.0\.1:\d+)/.exec(node.output())![1]!;
    // The SDK rides out the failover itself: STORE_BUSY and UNAVAILABLE are retried with the same
    // source event IDs, pausing for the node's Retry-After, for up to 60 rounds.
    const emr = new CustosClient({
      url,
      identity: Identity.unlock(bundles.get("emr")!, PASS),
      writeRounds: 60,
    });

    const acked = new Map<string, number>();
    const ackedAt = new Map<string, number>();
    let sent = 0;
    let stop = false;
    // Two writers, so a batch is in flight when the primary goes.
    const writer = async (): Promise<void> => {
      while (!stop) {
        const ids = [`e-${sent++}`, `e-${sent++}`];
        const reply = await emr.submit(
          ids.map((id) => ({
            time: "2026-12-01T08:00:00Z",
            patientId: "P1",
            userId: "u1",
            action: "query",
            sourceEventId: id,
          })),
        );
        const now = Date.now();
        for (const [i, id] of ids.entries()) {
          acked.set(id, reply[i]!.index);
          ackedAt.set(id, now);
        }
      }
    };
    let failure: unknown;
    const writers = Promise.all([writer(), writer()]).catch((error: unknown) => {
      failure = error;
    });
    const ackedBy = (count: number) =>
      eventually(
        `${count} acknowledged records`,
        () => {
          if (node.exited) throw new Error(`the node exited: ${node.output()}`);
          if (failure !== undefined) throw new Error(`a write failed for good: ${failure}`);
          if (acked.size < count) throw new Error(`${acked.size} acknowledged`);
        },
        60_000,
        20,
      );

    await ackedBy(100);
    const crashedAt = Date.now();
    await c.crashPrimary();
    const ackedBeforeCrash = acked.size;
    // The node keeps running with its database gone; a moment later the standby is promoted (an
    // operator or Patroni deciding that the primary is dead).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(node.exited).toBe(false);
    await c.promoteStandby();
    const promotedAt = Date.now();
    // The promoted server is the primary now (the helper swaps the roles), and accepts writes.
    expect(await c.inRecovery(c.primaryPort)).toBe(false);
    await ackedBy(ackedBeforeCrash + 4);
    await ackedBy(acked.size + 100);
    stop = true;
    await writers;
    expect(failure).toBeUndefined();
    expect(node.exited).toBe(false);
    expect(node.output()).not.toMatch(/STORE_CORRUPT|does not match|unexpected failure/);

    if (process.env.SHOW) console.log(node.output());
    const firstAfter = Math.min(...[...ackedAt.values()].filter((at) => at > promotedAt));
    console.log(
      `failover: primary stopped (immediate), standby promoted ${promotedAt - crashedAt} ms later; first acknowledged write ${firstAfter - promotedAt} ms after the promotion; ${acked.size} acknowledged, 0 lost, 0 duplicates`,
    );

    // Every acknowledged record is in the patient's verified trail once, at the index it was given,
    // read from the node that now runs on the promoted server.
    const p1 = new CustosClient({ url, identity: Identity.unlock(bundles.get("P1")!, PASS) });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const seen = new Map<string, number[]>();
    let before: number | undefined;
    for (;;) {
      const page = await p1.trail(before === undefined ? {} : { before });
      for (const r of page.records) {
        const id = r.record.sourceEventId!;
        seen.set(id, [...(seen.get(id) ?? []), r.index]);
      }
      if (page.next === null) break;
      before = page.next;
    }
    const lost = [...acked].filter(([id, index]) => !seen.get(id)?.includes(index));
    const doubled = [...seen].filter(([, indexes]) => indexes.length > 1);
    expect(lost, "acknowledged records missing after the failover").toEqual([]);
    expect(doubled, "records stored twice").toEqual([]);

    await node.kill("SIGTERM");
    // The log verifies on the promoted server (the multi-host URL now lands there).
    const verify = await group.run(["verify", "--data", join(root.dir, "data"), "--db", db], env, 60_000);
    expect(verify.stdout, verify.stderr).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  }, 150_000);
});
