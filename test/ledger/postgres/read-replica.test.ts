// Read replicas on one PostgreSQL log, as real processes: a sequencer and two replicas (`custos serve`
// against the same database). Replicas answer trail queries, audit trails and query histories from
// the shared log, verified by the SDK; each read's notice goes through the outbox into the log
// (readable from any node once drained); ingest at a replica is refused. When the sequencer is killed
// (kill -9) the replicas keep serving reads, and the one that takes over appends what waited in the
// outbox: every read recorded exactly once, and the log verifies.

import { type ChildProcess, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../../src/client/custos-client.js";
import { MtlsClient } from "../../../src/client/mtls-client.js";
import { Identity } from "../../../src/identity/bundle.js";
import type { OpenedNotice } from "../../../src/records/notices.js";
import { BIN, PASS } from "../../helpers/deployment.js";
import { PG_URL, type PostgresNodes, postgresNodes, sql } from "../../helpers/postgres.js";

const MASTER_KEY = Buffer.alloc(32, 47).toString("base64");
let nodes: PostgresNodes;

interface Node {
  readonly port: number;
  readonly child: ChildProcess;
  readonly output: () => string;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

async function startNode(database?: string): Promise<Node> {
  const { port, node } = await nodes.serve(database === undefined ? {} : { db: database });
  return {
    port,
    child: node.child,
    output: () => node.output(),
    waitFor: (text, ms) => node.waitFor(text, ms),
  };
}

const identity = (id: string) => nodes.identity(id);
const client = (id: string, node: Node) =>
  new CustosClient({ url: `https://127.0.0.1:${node.port}`, identity: identity(id) });
const raw = (id: string, node: Node) => new MtlsClient(`https://127.0.0.1:${node.port}`, identity(id));

/** Polls until `read` returns a value `done` accepts (the drain and the next checkpoint take a moment). */
async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** P1's trail reads so far, each of which must end up as exactly one notice in the log. */
let p1Reads = 0;
function p1Trail(node: Node) {
  p1Reads++;
  return client("P1", node).trail();
}

const reads = (notices: readonly OpenedNotice[], requester: string) =>
  notices.filter((n) => n.kind === "query" && n.body.requester === requester);

beforeAll(async () => {
  nodes = await postgresNodes({
    prefix: "custos-replica-",
    origin: "replica.custos.example/log",
    masterKey: MASTER_KEY,
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["auditor", "acme"],
      ["admin", "adm"],
      ["custodian", "privacy"],
    ],
    setUp: (deployment, bundles) =>
      deployment.grant(Identity.unlock(bundles.get("adm")!, PASS), { auditor: "acme", patients: ["P1"] }),
  });
}, 60_000);

afterAll(async () => {
  await nodes?.close();
});

describe("read replicas on one PostgreSQL log", () => {
  it("serve verified trails and record every read through the outbox, across a kill -9 of the sequencer", async () => {
    const a = await startNode();
    await a.waitFor("API (mutual TLS)");
    const b = await startNode();
    const c = await startNode();
    await b.waitFor("standby: another node sequences this log");
    await c.waitFor("standby: another node sequences this log");
    const p1Uri = identity("P1").uri;
    const acmeUri = identity("acme").uri;

    const record = (i: number, patientId = "P1") => ({
      time: `2026-11-23T08:0${i}:00Z`,
      patientId,
      userId: `u${i}`,
      action: "query",
      sourceEventId: `s-${i}`,
    });
    await raw("emr", a).call("POST", "/v1/records", [record(1), record(2), record(3), record(4, "P2")]);

    // Ingest at a replica is refused, saying where to send it.
    await expect(raw("emr", b).call("POST", "/v1/records", [record(5)])).rejects.toMatchObject({
      code: "STORE_BUSY",
      message: expect.stringContaining("read replica"),
    });
    expect(await raw("emr", b).call("GET", "/v1/log")).toMatchObject({ sequencing: false });
    // So are grants (any well-formed body: the replica refuses before reading it).
    await expect(raw("adm", b).call("POST", "/v1/grants", { entry: "AAAA" })).rejects.toMatchObject({
      code: "STORE_BUSY",
    });

    // A patient's trail from a replica equals the sequencer's, each verified by the SDK.
    const fromA = await eventually(
      () => p1Trail(a),
      (t) => t.records.length === 3,
    );
    const fromB = await p1Trail(b);
    const summary = (t: typeof fromA) =>
      t.records.map((r) => [r.index, r.record.sourceEventId, r.record.userId]);
    expect(summary(fromB)).toEqual(summary(fromA));
    expect(fromB.records.map((r) => r.record.sourceEventId)).toEqual(["s-3", "s-2", "s-1"]);

    // The replica's read reaches the log, readable from either node.
    for (const node of [a, b]) {
      const history = await eventually(
        () => client("P1", node).queryHistory(),
        (n) => reads(n, p1Uri).length === p1Reads,
      );
      expect(reads(history, p1Uri)).toHaveLength(p1Reads);
    }

    // An audit company's view from the other replica; a patient it is not granted is refused, and
    // that refusal reaches the patient's query history too.
    const audit = await client("acme", c).auditTrails({ patientIds: ["P1", "P2"] });
    expect(audit.patients[0]?.result?.records.map((r) => r.record.sourceEventId)).toEqual([
      "s-3",
      "s-2",
      "s-1",
    ]);
    expect(audit.patients[1]?.error?.code).toBe("NOT_AUTHORIZED");
    const p2History = await eventually(
      () => client("P2", a).queryHistory(),
      (n) => n.some((x) => x.kind === "refusal"),
    );
    expect(p2History.filter((n) => n.kind === "refusal" && n.body.requester === acmeUri)).toHaveLength(1);
    const p1AfterAudit = await eventually(
      () => client("P1", c).queryHistory(),
      (n) => reads(n, acmeUri).length === 1,
    );
    expect(reads(p1AfterAudit, acmeUri)).toHaveLength(1);

    // Readiness and the outbox gauge on a replica.
    expect(await raw("emr", b).call("GET", "/v1/ready")).toMatchObject({
      status: "ok",
      checks: { outbox: "ok" },
    });
    const metrics = await raw("emr", b).call<string>("GET", "/metrics");
    expect(String(metrics)).toMatch(/^custos_outbox_depth \d+$/m);

    // A node on a server that accepts only reads (as a hot standby does) serves proofs, but cannot
    // record queries, so it refuses them.
    const readOnlyDb = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}options=${encodeURIComponent("-c default_transaction_read_only=on")}&schema=${nodes.schema}`;
    const d = await startNode(readOnlyDb);
    await d.waitFor("the database accepts only reads");
    expect(await raw("emr", d).call("GET", "/v1/log")).toMatchObject({ sequencing: false });
    expect(await raw("emr", d).call("GET", `/v1/receipt/${fromA.records[0]!.index}`)).toMatchObject({
      index: fromA.records[0]!.index,
    });
    await expect(raw("P1", d).call("POST", "/v1/trail", {})).rejects.toMatchObject({ code: "STORE_BUSY" });
    d.child.kill("SIGTERM");
    await new Promise((resolve) => d.child.once("exit", resolve));

    // The sequencer dies. The replicas keep answering trail queries; their notices wait in the
    // outbox until one of them takes over and appends them.
    a.child.kill("SIGKILL");
    await new Promise((resolve) => a.child.once("exit", resolve));
    const during = await Promise.all([p1Trail(b), p1Trail(c)]);
    for (const trail of during) expect(trail.records).toHaveLength(3);
    // Usually both wait in the outbox now (a replica probes for the lock every 2 s).
    const waiting = Number((await sql(`SELECT count(*) AS n FROM "${nodes.schema}".outbox`)).rows[0]?.n);
    expect(waiting).toBeLessThanOrEqual(2);

    await Promise.race([
      b.waitFor("this node now sequences the log"),
      c.waitFor("this node now sequences the log"),
    ]);
    const [sequencer, replica] = b.output().includes("this node now sequences the log") ? [b, c] : [c, b];
    expect(await raw("emr", sequencer).call("GET", "/v1/log")).toMatchObject({ sequencing: true });
    expect(await raw("emr", replica).call("GET", "/v1/log")).toMatchObject({ sequencing: false });

    // Two replicas' worth of reads after the takeover too, one through each path.
    await p1Trail(sequencer);
    await p1Trail(replica);

    // Every read recorded exactly once, whichever node appended it.
    for (const node of [sequencer, replica]) {
      const history = await eventually(
        () => client("P1", node).queryHistory(),
        (n) => reads(n, p1Uri).length >= p1Reads,
      );
      const mine = reads(history, p1Uri);
      expect(mine).toHaveLength(p1Reads);
      expect(new Set(mine.map((n) => n.index)).size).toBe(p1Reads);
    }
    expect(Number((await sql(`SELECT count(*) AS n FROM "${nodes.schema}".outbox`)).rows[0]?.n)).toBe(0);

    for (const node of [sequencer, replica]) {
      node.child.kill("SIGTERM");
      await new Promise((resolve) => node.child.once("exit", resolve));
    }
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
  }, 180_000);
});
