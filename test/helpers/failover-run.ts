// The failover scenario shared by test/ledger/postgres/failover.test.ts and bench/failover.ts: a
// deployment on a (multi-host) PostgreSQL URL, one `custos serve` process on it, and EHR writers that
// submit two records at a time through the SDK, so a batch is in flight when the primary goes. What
// was acknowledged (and when) is kept to compare with the patient's verified trail afterwards.

import { join } from "node:path";
import { CustosClient } from "../../src/client/custos-client.js";
import { Identity, type IdentityBundle } from "../../src/identity/bundle.js";
import { PASS, processEnv } from "./deployment.js";
import { enrollPostgresDeployment } from "./postgres.js";
import { type CustosProcess, eventually, type ProcessGroup } from "./processes.js";

/** Enrolls a node, an EHR source (emr), a patient (P1) and a custodian on `db`; their bundles by ID. */
export async function enrollFailoverDeployment(
  root: string,
  db: string,
  origin: string,
  masterKey: string,
): Promise<Map<string, IdentityBundle>> {
  const bundles = new Map<string, IdentityBundle>();
  const deployment = await enrollPostgresDeployment(
    root,
    db,
    origin,
    masterKey,
    [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
    ] as const,
    bundles,
  );
  await deployment.close();
  return bundles;
}

/** Starts `custos serve` on `db` (port 0) and resolves with the process and its API URL. */
export async function serveOn(
  group: ProcessGroup,
  root: string,
  db: string,
  masterKey: string,
): Promise<{ node: CustosProcess; url: string }> {
  const node = group.start(
    "node",
    [
      "serve",
      ...["--data", join(root, "data"), "--db", db],
      ...["--identity", join(root, "n1.custos-id"), "--listen", "127.0.0.1:0"],
      ...["--verify-every", "0"],
    ],
    processEnv({ masterKey }),
  );
  const api = /API \(mutual TLS\): (https:\/\/127\.0\.0\.1:\d+)/;
  await node.waitFor(api);
  return { node, url: api.exec(node.output())![1]! };
}

/** Two writers submitting records for P1 back to back until stopped; each ack kept with its time. */
export class AckingWriters {
  /** Source event ID to the index it was acknowledged at. */
  readonly acked = new Map<string, number>();
  /** Source event ID to when its acknowledgement came (ms since the epoch). */
  readonly ackedAt = new Map<string, number>();
  /** The error a write failed with for good (the SDK gave up), if any. */
  failure: unknown;
  #sent = 0;
  #stop = false;
  readonly #writers: Promise<unknown>;
  readonly #node: CustosProcess;

  constructor(emr: CustosClient, node: CustosProcess) {
    this.#node = node;
    this.#writers = Promise.all([this.#write(emr), this.#write(emr)]).catch((error: unknown) => {
      this.failure = error;
    });
  }

  async #write(emr: CustosClient): Promise<void> {
    while (!this.#stop) {
      const ids = [`e-${this.#sent++}`, `e-${this.#sent++}`];
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
        this.acked.set(id, reply[i]!.index);
        this.ackedAt.set(id, now);
      }
    }
  }

  /** Waits until `count` records are acknowledged; fails at once if the node exits or a write gives up. */
  ackedBy(count: number, timeoutMs = 60_000): Promise<void> {
    return eventually(
      `${count} acknowledged records`,
      () => {
        if (this.#node.exited) throw new Error(`the node exited: ${this.#node.output()}`);
        if (this.failure !== undefined) throw new Error(`a write failed for good: ${this.failure}`);
        if (this.acked.size < count) throw new Error(`${this.acked.size} acknowledged`);
      },
      timeoutMs,
      20,
    );
  }

  /** The first acknowledgement after `at`, in ms after it. */
  firstAfter(at: number): number {
    return Math.min(...[...this.ackedAt.values()].filter((t) => t > at)) - at;
  }

  /** Stops submitting and waits for the batches in flight. */
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#writers;
  }
}

/**
 * Reads P1's whole verified trail and compares it with what was acknowledged: the acknowledged records
 * missing at their index, and the records stored more than once.
 */
export async function compareWithTrail(
  url: string,
  patient: IdentityBundle,
  acked: ReadonlyMap<string, number>,
): Promise<{ lost: [string, number][]; doubled: [string, number[]][] }> {
  const p1 = new CustosClient({ url, identity: Identity.unlock(patient, PASS) });
  // The newest records are proven under the next checkpoint, signed within a second.
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
  return {
    lost: [...acked].filter(([id, index]) => !seen.get(id)?.includes(index)),
    doubled: [...seen].filter(([, indexes]) => indexes.length > 1),
  };
}
