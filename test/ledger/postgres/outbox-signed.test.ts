// Signed outbox rows (issue 26.8), on PostgreSQL with real processes: a sequencer and a read replica.
// A replica's notices reach the patient's query history; notices planted in the outbox table by
// someone with database access (unsigned, with a made-up signature, or signed by a patient's key
// instead of a node's) are never appended: set aside, counted in readiness and the metrics, and
// logged by reason, never by content.

import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient } from "../../../src/client/custos-client.js";
import { MtlsClient } from "../../../src/client/mtls-client.js";
import { patientSubject } from "../../../src/identity/registry.js";
import { outboxSigningMessage } from "../../../src/ledger/postgres/index.js";
import { sealNotice } from "../../../src/records/notices.js";
import { type PostgresNodes, postgresNodes, sql } from "../../helpers/postgres.js";
import { type CustosProcess, eventually } from "../../helpers/processes.js";

const MASTER_KEY = Buffer.alloc(32, 83).toString("base64");
let nodes: PostgresNodes;
let tag: Uint8Array;
let patientKey: Uint8Array;
const identity = (id: string) => nodes.identity(id);

async function startNode(): Promise<{ port: number; process: CustosProcess }> {
  const { port, node } = await nodes.serve({ args: ["--log"] });
  return { port, process: node };
}

/** GET /v1/ready, reading the 503's body (the API port asks for a client certificate). */
function readiness(port: number): Promise<{ status: number; body: string }> {
  const tls = identity("emr").tlsOptions();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/ready",
        ca: tls.ca,
        key: tls.key.export({ type: "pkcs8", format: "pem" }).toString(),
        cert: tls.cert,
      },
      (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  nodes = await postgresNodes({
    prefix: "custos-outbox-signed-",
    origin: "outbox-signed.custos.example/log",
    masterKey: MASTER_KEY,
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
    ],
    // What planting a notice takes: the patient's tag and public encryption key (from the database).
    setUp(deployment) {
      tag = deployment.vault.patientTag("P1");
      patientKey = deployment.registry.active("patient", patientSubject(tag), Date.now())!.encryptionKey;
    },
  });
}, 60_000);

afterAll(async () => {
  await nodes?.close();
});

describe("signed outbox rows", () => {
  it("appends a replica's signed notices and sets aside notices planted in the database", async () => {
    const a = await startNode();
    await a.process.waitFor("API (mutual TLS)", 60_000);
    const b = await startNode();
    await b.process.waitFor("standby: another node sequences this log", 60_000);
    const url = (n: { port: number }) => `https://127.0.0.1:${n.port}`;
    await new MtlsClient(url(a), identity("emr")).call("POST", "/v1/records", [
      {
        time: "2026-11-23T08:00:00Z",
        patientId: "P1",
        userId: "dr.a",
        action: "query",
        sourceEventId: "s-1",
      },
    ]);
    const p1 = (n: { port: number }) => new CustosClient({ url: url(n), identity: identity("P1") });
    await eventually("the record is readable", async () =>
      expect((await p1(a).trail()).records).toHaveLength(1),
    );

    // A read on the replica: its notice goes through the outbox, signed with the replica's node key.
    const p1Uri = identity("P1").uri;
    const trailReads = async () =>
      (await p1(a).queryHistory()).filter(
        (n) => n.body.requester === p1Uri && n.body.operation === "read-trail",
      ).length;
    const before = await trailReads();
    await p1(b).trail();
    await eventually("the replica's notice is in the log", async () =>
      expect(await trailReads()).toBeGreaterThanOrEqual(before + 1),
    );

    // Someone with database access plants notices "mallory read your trail", well-formed and sealed
    // to the patient, that would be appended if rows were not checked for a node's signature.
    const planted = (who: string) =>
      sealNotice(
        { kind: "query", time: Date.now(), patientTag: tag },
        {
          time: new Date().toISOString(),
          requester: `custos://stmary/auditor/${who}`,
          role: "auditor",
          operation: "read-trail",
          returned: 1,
        },
        [{ id: "patient", role: "patient", encryptionKey: patientKey }],
      );
    const insert = async (who: string, signer: string | null, sign?: (m: Uint8Array) => Uint8Array) => {
      const item = planted(who);
      const id = new Uint8Array(16).map(() => Math.floor(Math.random() * 256));
      const signature =
        signer === null
          ? null
          : Buffer.from(
              sign ? sign(outboxSigningMessage(id, item.entry, signer)) : new Uint8Array(64).fill(7),
            );
      await sql(
        `INSERT INTO "${nodes.schema}".outbox (id, entry, content, lookup_keys, created_at, signer, signature)
         VALUES ($1, $2, $3, $4::bytea[], $5, $6, $7)`,
        [
          Buffer.from(id),
          Buffer.from(item.entry),
          Buffer.from(item.content!),
          item.lookupKeys!.map((k) => Buffer.from(k)),
          Date.now(),
          signer,
          signature,
        ],
      );
    };
    const n1Uri = identity("n1").uri;
    await insert("mallory-unsigned", null);
    await insert("mallory-forged", n1Uri);
    await insert("mallory-patient-key", p1Uri, (m) => identity("P1").sign(m));

    const rejected = await eventually("the sequencer sets the planted rows aside", async () => {
      const rows = (
        await sql(
          `SELECT rejected_reason FROM "${nodes.schema}".outbox WHERE rejected_at IS NOT NULL ORDER BY seq`,
        )
      ).rows.map((r) => r.rejected_reason as string);
      expect(rows).toHaveLength(3);
      return rows;
    });
    expect(rejected).toEqual([
      "unsigned: not recorded by a node of this Custos (written to the database directly, or by an older node)",
      "its signature does not verify with the signer's node key",
      "its signer is not a node of this deployment",
    ]);
    // Not one planted notice reached the patient's history; the replica's genuine ones did.
    await p1(b).trail();
    await eventually("the second replica read is in the log", async () =>
      expect(await trailReads()).toBeGreaterThanOrEqual(before + 2),
    );
    const history = await p1(a).queryHistory();
    expect(history.filter((n) => n.body.requester.includes("mallory"))).toEqual([]);

    // Counted where operators look, and logged by reason only.
    const ready = await readiness(a.port);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(/"outbox":"3 outbox row\(s\) refused/);
    const metrics = await new MtlsClient(url(a), identity("emr")).call<string>("GET", "/metrics");
    expect(String(metrics)).toMatch(/^custos_outbox_rejected 3$/m);
    const log = a.process.output();
    expect(log).toContain("an outbox row was set aside, not appended: unsigned");
    expect(log).toContain("an outbox row was set aside, not appended: its signature does not verify");
    expect(log).not.toContain("mallory");
  }, 180_000);
});
