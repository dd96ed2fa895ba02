// Repeated PostgreSQL failovers under ingest (the longer version of test/ledger/postgres/failover.test.ts):
// a primary with a synchronous streaming standby (Debian's server programs), one `custos serve` on the
// multi-host URL, two SDK writers. Each round stops the primary as in a crash, promotes the standby a
// moment later, and rebuilds the old primary as the new one's standby (pg_basebackup), so the roles
// swap every round and the node follows them both ways. Figures: the time from each promotion to the
// first acknowledged write, and acknowledged records lost or stored twice over all rounds.
// FAILOVER_ROUNDS (default 5, times BENCH_SCALE, at least 1).

import { join } from "node:path";
import { CustosClient } from "../src/client/custos-client.js";
import { Identity, type IdentityBundle } from "../src/identity/bundle.js";
import { PASS } from "../test/helpers/deployment.js";
import { startReplicatedPostgres } from "../test/helpers/pg-replication.js";
import { enrollPostgresDeployment } from "../test/helpers/postgres.js";
import { eventually, processGroup } from "../test/helpers/processes.js";
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
    const bundles = new Map<string, IdentityBundle>();
    const deployment = await enrollPostgresDeployment(
      root.dir,
      db,
      "failover.bench.example/log",
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
    const env = { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER_KEY, CUSTOS_BUNDLE_PASSPHRASE: PASS };
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
    const emr = new CustosClient({
      url,
      identity: Identity.unlock(bundles.get("emr")!, PASS),
      writeRounds: 120,
    });

    const acked = new Map<string, number>();
    const ackTimes: number[] = [];
    let sent = 0;
    let stop = false;
    let failure: unknown;
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
        for (const [i, id] of ids.entries()) acked.set(id, reply[i]!.index);
        ackTimes.push(Date.now());
      }
    };
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
        120_000,
        20,
      );

    const recoveries: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await ackedBy(acked.size + 50);
      await cluster.crashPrimary();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await cluster.promoteStandby();
      const promotedAt = Date.now();
      await ackedBy(acked.size + 2);
      recoveries.push(Math.min(...ackTimes.filter((at) => at > promotedAt)) - promotedAt);
      await cluster.rebuildStandby();
      process.stderr.write(
        `  failover ${round + 1}/${rounds}: first write ${recoveries.at(-1)} ms after promotion\n`,
      );
    }
    await ackedBy(acked.size + 50);
    stop = true;
    await writers;
    if (failure !== undefined) throw failure;

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
    const lost = [...acked].filter(([id, index]) => !seen.get(id)?.includes(index)).length;
    const doubled = [...seen.values()].filter((indexes) => indexes.length > 1).length;
    await node.kill("SIGTERM");
    const verify = await group.run(["verify", "--data", join(root.dir, "data"), "--db", db], env);
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
        name: `PostgreSQL failover: acknowledged records lost or stored twice (of ${acked.size}), verify ${verified ? "clean" : "FAILED"}`,
        value: lost + doubled,
        unit: "records",
        goal: "0, verify clean",
        met: lost + doubled === 0 && verified,
      },
    ];
  } finally {
    await group.killAll();
    await cluster.stop();
    root.cleanup();
  }
}
