// Two nodes on one PostgreSQL log: the first sequences; the second, started against the same log,
// serves reads as a standby and refuses writes; when the first is killed (kill -9), the second takes
// over sequencing, and every acknowledged record is there and the log verifies.

import { type ChildProcess, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../../src/client/custos-client.js";
import { MtlsClient } from "../../../src/client/mtls-client.js";
import { Identity } from "../../../src/identity/bundle.js";
import { BIN, freePort, PASS } from "../../helpers/deployment.js";
import { type PostgresNodes, postgresNodes } from "../../helpers/postgres.js";

const MASTER_KEY = Buffer.alloc(32, 31).toString("base64");
let nodes: PostgresNodes;

async function startNode(port: number): Promise<{
  child: ChildProcess;
  output: () => string;
  waitFor: (text: string) => Promise<void>;
}> {
  const { node } = await nodes.serve({ port });
  return { child: node.child, output: () => node.output(), waitFor: (text) => node.waitFor(text) };
}

beforeAll(async () => {
  nodes = await postgresNodes({
    prefix: "custos-standby-",
    origin: "standby.custos.example/log",
    masterKey: MASTER_KEY,
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
    ],
  });
}, 60_000);

afterAll(async () => {
  await nodes?.close();
});

describe("one sequencer per PostgreSQL log, and a standby that takes over", () => {
  it("serves reads on the standby, refuses its writes, and takes over when the sequencer dies", async () => {
    const portA = await freePort();
    const portB = await freePort();
    const a = await startNode(portA);
    await a.waitFor("API (mutual TLS)");
    const b = await startNode(portB);
    await b.waitFor("standby: another node sequences this log");

    const emr = (port: number) =>
      new MtlsClient(`https://127.0.0.1:${port}`, Identity.unlock(nodes.bundles.get("emr")!, PASS));
    const record = (i: number) => ({
      time: "2026-11-23T08:00:00Z",
      patientId: "P1",
      userId: `u${i}`,
      action: "query",
      sourceEventId: `s-${i}`,
    });
    const acked: number[] = [];
    const first = await emr(portA).call<{ records: { index: number }[] }>("POST", "/v1/records", [
      record(1),
      record(2),
    ]);
    acked.push(...first.records.map((r) => r.index));

    expect(await emr(portB).call("GET", "/v1/log")).toMatchObject({ sequencing: false });
    await expect(emr(portB).call("POST", "/v1/records", [record(3)])).rejects.toMatchObject({
      code: "STORE_BUSY",
    });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const receipt = await emr(portB).call<{ index: number }>("GET", `/v1/receipt/${acked[0]}`);
    expect(receipt.index).toBe(acked[0]);

    // The SDK sends a write on to another node of the log: the standby answers STORE_BUSY, so the
    // same records go to the sequencer.
    const viaStandby = new CustosClient({
      url: `https://127.0.0.1:${portB}`,
      failover: [`https://127.0.0.1:${portA}`],
      identity: Identity.unlock(nodes.bundles.get("emr")!, PASS),
    });
    const [routed] = await viaStandby.submit([record(1)]);
    expect(routed).toMatchObject({ index: acked[0], duplicate: true });

    a.child.kill("SIGKILL");
    // A node that cannot be reached is UNAVAILABLE (not an authentication failure).
    await expect(emr(portA).call("GET", "/v1/log")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await b.waitFor("this node now sequences the log");
    expect(await emr(portB).call("GET", "/v1/log")).toMatchObject({ sequencing: true });
    const after = await emr(portB).call<{ records: { index: number; duplicate: boolean }[] }>(
      "POST",
      "/v1/records",
      [record(2), record(3)],
    );
    expect(after.records[0]).toMatchObject({ index: acked[1], duplicate: true });
    acked.push(after.records[1]!.index);

    // Every acknowledged record is there for the patient, verified end to end through the new sequencer.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const p1 = new CustosClient({
      url: `https://127.0.0.1:${portB}`,
      identity: Identity.unlock(nodes.bundles.get("P1")!, PASS),
    });
    const trail = await p1.trail();
    expect(trail.records.map((r) => r.record.sourceEventId).sort()).toEqual(["s-1", "s-2", "s-3"]);

    b.child.kill("SIGTERM");
    await new Promise((resolve) => b.child.once("exit", resolve));
    const verify = spawnSync(
      process.execPath,
      [BIN, "verify", "--data", join(nodes.dir, "data"), "--db", nodes.db],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER_KEY },
      },
    );
    expect(verify.stdout).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  }, 120_000);
});
