// A sequencer never appends below the size the witnesses already cosigned (issue 26): a PostgreSQL
// standby fed by asynchronous replication can be promoted without the last committed transactions.
// The state is built in a real PostgreSQL schema: a copy of the log's schema taken while it held M
// entries (what such a standby holds), while the log itself went on to C > M entries, all cosigned by
// a real witness process. A real `custos serve` on the copy must refuse to sequence it, naming both
// sizes, and write nothing; on the full schema it serves (the check passes where nothing is lost).

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askWitnesses } from "../../../src/backup/index.js";
import { MtlsClient } from "../../../src/client/mtls-client.js";
import { freePort } from "../../helpers/deployment.js";
import {
  dropSchema,
  PG_URL,
  type PostgresNodes,
  postgresNodes,
  sql,
  testSchema,
} from "../../helpers/postgres.js";
import { eventually } from "../../helpers/processes.js";

const MASTER_KEY = Buffer.alloc(32, 61).toString("base64");
const ORIGIN = "committed.custos.example/log";
let nodes: PostgresNodes;
let witnessKey: string;
let witnessPort: number;
let logKey: string;
let copySchema: string;

const witnessFlag = () => `https://127.0.0.1:${witnessPort}=${witnessKey}`;

async function cosigned(): Promise<number> {
  const [view] = await askWitnesses(
    [{ url: `https://127.0.0.1:${witnessPort}`, verifierKey: witnessKey }],
    { origin: ORIGIN, verifierKey: logKey },
    { ca: nodes.bundles.get("n1")!.caCertificate },
  );
  return view?.status === "cosigned" ? view.size : 0;
}

/** Starts a node on the full schema, submits `count` records, waits until the witness cosigned them all. */
async function ingestCosigned(from: number, count: number): Promise<number> {
  const { url, node } = await nodes.serve({ args: ["--witness", witnessFlag()] });
  await node.waitFor(/API \(mutual TLS\)/, 60_000);
  const emr = new MtlsClient(url, nodes.identity("emr"));
  const reply = await emr.call<{ records: { index: number }[] }>(
    "POST",
    "/v1/records",
    Array.from({ length: count }, (_, i) => ({
      time: "2026-12-01T08:00:00Z",
      patientId: "P1",
      userId: `u-${from + i}`,
      action: "query",
      sourceEventId: `e-${from + i}`,
    })),
  );
  emr.close();
  const last = Math.max(...reply.records.map((r) => r.index)) + 1;
  const size = await eventually("the witness cosigns the records", async () => {
    const n = await cosigned();
    expect(n).toBeGreaterThanOrEqual(last);
    return n;
  });
  await node.kill("SIGTERM");
  return size;
}

async function entries(schema: string): Promise<number> {
  const result = await sql(`SELECT count(*)::int AS n FROM "${schema}".entries`);
  return result.rows[0].n as number;
}

beforeAll(async () => {
  nodes = await postgresNodes({
    prefix: "custos-committed-",
    origin: ORIGIN,
    masterKey: MASTER_KEY,
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
      ["witness", "w1"],
    ],
  });
  logKey = nodes.bundles.get("n1")!.log!.verifierKey;
  const witnessDir = join(nodes.dir, "w1");
  const init = await nodes.group.run(
    ["witness", "init", "--data", witnessDir, "--name", "w1.witness.example"],
    nodes.env,
  );
  expect(init.status, init.stderr).toBe(0);
  witnessKey = init.stdout.trim().split("\n").pop()!;
  const added = await nodes.group.run(
    ["witness", "add-log", "--data", witnessDir, "--origin", ORIGIN, "--key", logKey],
    nodes.env,
  );
  expect(added.status, added.stderr).toBe(0);
  witnessPort = await freePort();
  const witness = nodes.group.start(
    "witness",
    [
      ...["witness", "serve", "--data", witnessDir, "--identity", join(nodes.dir, "w1.custos-id")],
      ...["--listen", `127.0.0.1:${witnessPort}`],
    ],
    nodes.env,
  );
  await witness.waitFor("serving on", 60_000);
  copySchema = testSchema();
}, 120_000);

afterAll(async () => {
  await dropSchema(copySchema).catch(() => undefined);
  await nodes?.close();
});

describe("a sequencer on a store that lost committed entries", () => {
  it("refuses to sequence below the size the witnesses cosigned, and writes nothing", async () => {
    const m = await ingestCosigned(0, 3);
    // What an asynchronous standby holds when it is promoted: the log as it was at M entries.
    const dump = spawnSync(
      "sh",
      [
        "-c",
        `/usr/lib/postgresql/15/bin/pg_dump --no-owner --schema='${nodes.schema}' '${PG_URL}' | sed 's/${nodes.schema}/${copySchema}/g' | psql -q -v ON_ERROR_STOP=1 '${PG_URL}'`,
      ],
      { encoding: "utf8" },
    );
    expect(dump.status, dump.stderr).toBe(0);
    const held = await entries(copySchema);
    expect(held).toBe(m);
    // The log goes on; the witness cosigns more.
    const c = await ingestCosigned(3, 4);
    expect(c).toBeGreaterThan(m);

    const separator = PG_URL.includes("?") ? "&" : "?";
    const promoted = `${PG_URL}${separator}schema=${copySchema}`;
    const refused = await nodes.group.run(
      [
        ...["serve", "--data", join(nodes.dir, "data"), "--db", promoted],
        ...["--identity", join(nodes.dir, "n1.custos-id"), "--listen", "127.0.0.1:0"],
        ...["--verify-every", "0", "--witness", witnessFlag()],
      ],
      nodes.env,
    );
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toContain(
      `error: refusing to sequence: the store holds ${m} entries but witness w1.witness.example cosigned ${c}; the database lost ${c - m} committed entries`,
    );
    expect(refused.stdout).not.toContain("serving");
    expect(await entries(copySchema)).toBe(m);
    // The witness still holds C, and the full schema still serves (the check passes there).
    expect(await cosigned()).toBe(c);
    const again = await ingestCosigned(7, 1);
    expect(again).toBeGreaterThan(c);
  }, 300_000);
});
