// A read replica in a deployment with witnesses: the sequencer publishes its witnessed checkpoint in
// the database, and the replica proves its replies against it, so a client that demands the witness
// quorum reads its trail from the replica as from the sequencer.

import { type ChildProcess, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../../src/client/custos-client.js";
import { MtlsClient } from "../../../src/client/mtls-client.js";
import { MemoryTrustStore, TrailReader, type Transport } from "../../../src/client/trail-reader.js";
import { BIN, freePort, startWitnessProcess } from "../../helpers/deployment.js";
import { type PostgresNodes, postgresNodes } from "../../helpers/postgres.js";
import { type CustosProcess, eventually } from "../../helpers/processes.js";

const MASTER_KEY = Buffer.alloc(32, 59).toString("base64");
let nodes: PostgresNodes;
const witness = { id: "w1", dir: "", port: 0, key: "" };
let witnessChild: ChildProcess | undefined;

const identity = (id: string) => nodes.identity(id);

async function startNode(port: number): Promise<CustosProcess> {
  const args = ["--witness", `https://127.0.0.1:${witness.port}=${witness.key}`];
  return (await nodes.serve({ port, args })).node;
}

beforeAll(async () => {
  nodes = await postgresNodes({
    prefix: "custos-replica-witness-",
    origin: "witnessed.custos.example/log",
    masterKey: MASTER_KEY,
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
      ["witness", "w1"],
    ],
  });
  const log = nodes.bundles.get("P1")!.log!;
  witness.dir = join(nodes.dir, "w1");
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: nodes.env });
  const init = cli(["witness", "init", "--data", witness.dir, "--name", "w1.witness.example"]);
  expect(init.status, init.stderr).toBe(0);
  witness.key = init.stdout.trim().split("\n").pop()!;
  const added = cli([
    "witness",
    "add-log",
    "--data",
    witness.dir,
    "--origin",
    log.origin,
    "--key",
    log.verifierKey,
  ]);
  expect(added.status, added.stderr).toBe(0);
  witness.port = await freePort();
  witnessChild = await startWitnessProcess({ root: nodes.dir, masterKey: MASTER_KEY }, witness);
}, 90_000);

afterAll(async () => {
  if (witnessChild && witnessChild.exitCode === null) witnessChild.kill("SIGKILL");
  await nodes?.close();
});

describe("a read replica with witnesses", () => {
  it("serves the witnessed checkpoint, so a client demanding the quorum reads from it", async () => {
    const portA = await freePort();
    const a = await startNode(portA);
    await a.waitFor("API (mutual TLS)");
    const portB = await freePort();
    const b = await startNode(portB);
    await b.waitFor("standby: another node sequences this log");

    const emr = new MtlsClient(`https://127.0.0.1:${portA}`, identity("emr"));
    await emr.call("POST", "/v1/records", [
      { time: "2026-11-23T08:00:00Z", patientId: "P1", userId: "u1", action: "print", sourceEventId: "w-1" },
      { time: "2026-11-23T08:01:00Z", patientId: "P1", userId: "u2", action: "copy", sourceEventId: "w-2" },
    ]);
    const client = (port: number) =>
      new CustosClient({
        url: `https://127.0.0.1:${port}`,
        identity: identity("P1"),
        witnesses: { keys: [witness.key], quorum: 1 },
      });
    const fromReplica = await eventually(
      "the replica serves a witnessed checkpoint with both records",
      async () => {
        const trail = await client(portB).trail();
        if (trail.records.length < 2) throw new Error(`${trail.records.length} records so far`);
        return trail;
      },
      30_000,
      300,
    );
    expect(fromReplica.checkpoint.witnesses).toHaveLength(1);
    const fromSequencer = await client(portA).trail();
    expect(fromReplica.records.map((r) => r.record.sourceEventId)).toEqual(
      fromSequencer.records.map((r) => r.record.sourceEventId),
    );
    // Both prove the trail's end with the witnessed checkpoint's trail map (the sequencer's map has
    // moved on since it was witnessed; the replica keeps its own, built from the database).
    expect(fromReplica.completeness).toMatchObject({ proven: true, count: 2 });
    expect(fromSequencer.completeness).toMatchObject({ proven: true, count: 2 });

    // A replica that hides the trail (a tampered replica, or a proxy): a fresh client refuses it.
    const http = new MtlsClient(`https://127.0.0.1:${portB}`, identity("P1"));
    const hiding: Transport = {
      async call<T>(method: "GET" | "POST", path: string, body?: unknown, type?: string): Promise<T> {
        const reply = await http.call<T>(method, path, body, type);
        // The reader asks for its quorum (/v1/trail?quorum=1): the path before the query is the route.
        if (path.split("?")[0] === "/v1/trail") Object.assign(reply as object, { items: [], next: null });
        return reply;
      },
    };
    const fresh = new TrailReader({
      transport: hiding,
      log: identity("P1").bundle.log!,
      witnesses: { keys: [witness.key], quorum: 1 },
      encryptionPrivateKey: identity("P1").encryptionPrivateKey(),
      state: new MemoryTrustStore(),
    });
    await expect(fresh.trail()).rejects.toMatchObject({ code: "TRAIL_INCOMPLETE" });
  }, 120_000);
});
