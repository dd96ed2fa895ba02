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
import { PASS, processEnv } from "../../helpers/deployment.js";
import {
  AckingWriters,
  compareWithTrail,
  enrollFailoverDeployment,
  serveOn,
} from "../../helpers/failover-run.js";
import {
  type ReplicatedPostgres,
  requirePostgresBinaries,
  startReplicatedPostgres,
} from "../../helpers/pg-replication.js";
import { processGroup } from "../../helpers/processes.js";
import { tempDir } from "../../helpers/temp.js";

const MASTER_KEY = Buffer.alloc(32, 53).toString("base64");
let root: { dir: string; cleanup: () => void };
let cluster: ReplicatedPostgres | undefined;
let db: string;
let bundles: Map<string, IdentityBundle>;
const group = processGroup();

beforeAll(async () => {
  requirePostgresBinaries();
  root = tempDir("custos-failover-");
  cluster = await startReplicatedPostgres();
  db = `${cluster.multiHostUrl}&schema=failover`;
  bundles = await enrollFailoverDeployment(root.dir, db, "failover.custos.example/log", MASTER_KEY);
}, 90_000);

afterAll(async () => {
  await group.killAll();
  await cluster?.stop();
  root?.cleanup();
});

describe("a PostgreSQL failover under ingest", () => {
  it("carries on on the promoted standby: no acknowledged record lost or doubled, verify clean", async () => {
    const c = cluster!;
    const { node, url } = await serveOn(group, root.dir, db, MASTER_KEY);
    // The SDK rides out the failover itself: STORE_BUSY and UNAVAILABLE are retried with the same
    // source event IDs, pausing for the node's Retry-After, for up to 60 rounds.
    const emr = new CustosClient({
      url,
      identity: Identity.unlock(bundles.get("emr")!, PASS),
      writeRounds: 60,
    });
    // Two writers, so a batch is in flight when the primary goes.
    const load = new AckingWriters(emr, node);

    await load.ackedBy(100);
    const crashedAt = Date.now();
    await c.crashPrimary();
    const ackedBeforeCrash = load.acked.size;
    // The node keeps running with its database gone; a moment later the standby is promoted (an
    // operator or Patroni deciding that the primary is dead).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(node.exited).toBe(false);
    await c.promoteStandby();
    const promotedAt = Date.now();
    // The promoted server is the primary now (the helper swaps the roles), and accepts writes.
    expect(await c.inRecovery(c.primaryPort)).toBe(false);
    await load.ackedBy(ackedBeforeCrash + 4);
    await load.ackedBy(load.acked.size + 100);
    await load.stop();
    expect(load.failure).toBeUndefined();
    expect(node.exited).toBe(false);
    expect(node.output()).not.toMatch(/STORE_CORRUPT|does not match|unexpected failure/);

    if (process.env.SHOW) console.log(node.output());
    console.log(
      `failover: primary stopped (immediate), standby promoted ${promotedAt - crashedAt} ms later; first acknowledged write ${load.firstAfter(promotedAt)} ms after the promotion; ${load.acked.size} acknowledged, 0 lost, 0 duplicates`,
    );

    // Every acknowledged record is in the patient's verified trail once, at the index it was given,
    // read from the node that now runs on the promoted server.
    const { lost, doubled } = await compareWithTrail(url, bundles.get("P1")!, load.acked);
    expect(lost, "acknowledged records missing after the failover").toEqual([]);
    expect(doubled, "records stored twice").toEqual([]);

    await node.kill("SIGTERM");
    // The log verifies on the promoted server (the multi-host URL now lands there).
    const verify = await group.run(
      ["verify", "--data", join(root.dir, "data"), "--db", db],
      processEnv({ masterKey: MASTER_KEY }),
      60_000,
    );
    expect(verify.stdout, verify.stderr).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  }, 150_000);
});
