// Repeated PostgreSQL failovers under ingest (the longer version of test/ledger/postgres/failover.test.ts):
// a primary with a synchronous streaming standby (Debian's server programs), one `custos serve` on the
// multi-host URL, two SDK writers. Each round stops the primary as in a crash, promotes the standby a
// moment later, and rebuilds the old primary as the new one's standby (pg_basebackup), so the roles
// swap every round and the node follows them both ways. Figures: the time from each promotion to the
// first acknowledged write, and acknowledged records lost or stored twice over all rounds.
// FAILOVER_ROUNDS (default 5, times BENCH_SCALE, at least 1).

import { join } from "node:path";
import { CustosClient } from "../src/client/custos-client.js";
import { Identity } from "../src/identity/bundle.js";
import { PASS, processEnv } from "../test/helpers/deployment.js";
import {
  AckingWriters,
  compareWithTrail,
  enrollFailoverDeployment,
  serveOn,
} from "../test/helpers/failover-run.js";
import { startReplicatedPostgres } from "../test/helpers/pg-replication.js";
import { processGroup } from "../test/helpers/processes.js";
import { tempDir } from "../test/helpers/temp.js";
import { percentile } from "./stats.js";
import type { BenchRow } from "./types.js";

const MASTER_KEY = Buffer.alloc(32, 59).toString("base64");

export async function benchFailover(scale: number): Promise<BenchRow[]> {
  const rounds = Math.max(1, Math.round(Number(process.env.FAILOVER_ROUNDS ?? 5) * scale));
  const root = tempDir("custos-bench-failover-");
  const cluster = await startReplicatedPostgres();
  const group = processGroup();
  try {
    const db = `${cluster.multiHostUrl}&schema=bench_failover`;
    const bundles = await enrollFailoverDeployment(root.dir, db, "failover.bench.example/log", MASTER_KEY);
    const { node, url } = await serveOn(group, root.dir, db, MASTER_KEY);
    const emr = new CustosClient({
      url,
      identity: Identity.unlock(bundles.get("emr")!, PASS),
      writeRounds: 120,
    });
    const load = new AckingWriters(emr, node);

    const recoveries: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await load.ackedBy(load.acked.size + 50, 120_000);
      await cluster.crashPrimary();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await cluster.promoteStandby();
      const promotedAt = Date.now();
      await load.ackedBy(load.acked.size + 2, 120_000);
      recoveries.push(load.firstAfter(promotedAt));
      await cluster.rebuildStandby();
      process.stderr.write(
        `  failover ${round + 1}/${rounds}: first write ${recoveries.at(-1)} ms after promotion\n`,
      );
    }
    await load.ackedBy(load.acked.size + 50, 120_000);
    await load.stop();
    if (load.failure !== undefined) throw load.failure;

    const { lost, doubled } = await compareWithTrail(url, bundles.get("P1")!, load.acked);
    await node.kill("SIGTERM");
    const verify = await group.run(
      ["verify", "--data", join(root.dir, "data"), "--db", db],
      processEnv({ masterKey: MASTER_KEY }),
    );
    const verified = /^OK/m.test(verify.stdout) && verify.status === 0;

    const sorted = [...recoveries].sort((a, b) => a - b);
    return [
      {
        name: `PostgreSQL failover (synchronous standby promoted, ${rounds} rounds): first acknowledged write after promotion, median`,
        value: percentile(sorted, 50),
        unit: "ms",
        goal: "<= 5,000 ms (the sequencer's longest pause)",
        met: percentile(sorted, 50) <= 5000,
      },
      {
        name: "PostgreSQL failover: first acknowledged write after promotion, max",
        value: sorted.at(-1)!,
        unit: "ms",
        goal: "<= 10,000 ms",
        met: sorted.at(-1)! <= 10_000,
      },
      {
        name: `PostgreSQL failover: acknowledged records lost or stored twice (of ${load.acked.size}), verify ${verified ? "clean" : "FAILED"}`,
        value: lost.length + doubled.length,
        unit: "records",
        goal: "0, verify clean",
        met: lost.length + doubled.length === 0 && verified,
      },
    ];
  } finally {
    await group.killAll();
    await cluster.stop();
    root.cleanup();
  }
}
