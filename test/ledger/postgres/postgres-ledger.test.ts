// The ledger, verify and the tamper checks over PostgreSQL, with rows edited directly in the database.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../../src/core/bytes.js";
import { encodeDataEntry } from "../../../src/core/entry/index.js";
import { leafHash, verifyInclusion } from "../../../src/core/merkle/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../../src/core/note/index.js";
import { Ledger } from "../../../src/ledger/ledger.js";
import { PostgresStore } from "../../../src/ledger/postgres/index.js";
import { verifyStore } from "../../../src/ledger/verify/verifier.js";
import { dropSchema, PG_URL, requirePostgres, sql, testSchema } from "../../helpers/postgres.js";
import { dataEntry } from "../fixtures.js";

let schema: string;
const { signerKey } = generateSignerKey("pg.custos.example/log");

beforeEach(async () => {
  await requirePostgres();
  schema = testSchema();
  const store = await PostgresStore.open(PG_URL, { schema, create: true });
  await store.initialize({
    origin: "pg.custos.example/log",
    verifierKey: verifierKeyFromSigner(signerKey),
    createdAt: 0,
    formatVersion: 1,
  });
  const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 60_000 });
  for (const end of [500, 1200]) {
    const start = await ledger.size();
    await ledger.append(Array.from({ length: end - start }, (_, i) => ({ entry: dataEntry(start + i) })));
    await ledger.checkpoint();
  }
  await ledger.close();
});
afterEach(async () => dropSchema(schema));

async function verify() {
  const store = await PostgresStore.open(PG_URL, { schema });
  try {
    return await verifyStore(store);
  } finally {
    await store.close();
  }
}

describe("the ledger on PostgreSQL", () => {
  it("resumes after a restart with proofs that verify, and verify is clean", async () => {
    const store = await PostgresStore.open(PG_URL, { schema });
    const ledger = await Ledger.open(store, { signerKey });
    expect(await ledger.size()).toBe(1200);
    await ledger.appendOne({ entry: dataEntry(1200) });
    const root = await ledger.rootAt(1201);
    const proof = await ledger.inclusionProof(777, 1201);
    expect(verifyInclusion(leafHash(dataEntry(777)), 777, 1201, proof, root)).toBe(true);
    await ledger.close();
    const report = await verify();
    expect(report.findings).toEqual([]);
  });

  it("detects an entry edited in the database, and names it", async () => {
    await sql(`UPDATE "${schema}".entries SET data = $1 WHERE idx = 321`, [
      Buffer.from(encodeDataEntry(utf8("forged"))),
    ]);
    const finding = (await verify()).findings.find((f) => f.code === "ENTRY_MODIFIED");
    expect([finding?.firstIndex, finding?.lastIndex]).toEqual([321, 321]);
  });

  it("detects deleted rows, swapped rows and truncation", async () => {
    await sql(`DELETE FROM "${schema}".entries WHERE idx = 42`);
    await sql(
      `UPDATE "${schema}".entries SET data = CASE idx WHEN 100 THEN (SELECT data FROM "${schema}".entries WHERE idx = 101) ELSE (SELECT data FROM "${schema}".entries WHERE idx = 100) END WHERE idx IN (100, 101)`,
    );
    await sql(`DELETE FROM "${schema}".entries WHERE idx >= 1100`);
    const codes = (await verify()).findings.map((f) => [f.code, f.firstIndex]);
    expect(codes).toContainEqual(["ENTRIES_MISSING", 42]);
    expect(codes).toContainEqual(["ENTRIES_REORDERED", 100]);
    expect(codes).toContainEqual(["LOG_TRUNCATED", 1100]);
  });

  it("detects a replaced checkpoint", async () => {
    await sql(
      `UPDATE "${schema}".checkpoints SET note = replace(note, E'\\n1200\\n', E'\\n1199\\n') WHERE size = 1200`,
    );
    expect((await verify()).findings.map((f) => f.code)).toContain("CHECKPOINT_BAD_SIGNATURE");
  });
});

describe("PostgreSQL operations", () => {
  it("lets only one node sequence a log, and another take over when it stops", async () => {
    const first = await PostgresStore.open(PG_URL, { schema });
    const second = await PostgresStore.open(PG_URL, { schema });
    expect(await first.acquireSequencerLock()).toBe(true);
    expect(await second.acquireSequencerLock()).toBe(false);
    expect(await second.getSize()).toBe(1200);
    await first.close();
    expect(await second.waitForSequencerLock(AbortSignal.timeout(5000), 50)).toBe(true);
    await second.close();
  });

  it("refuses a schema newer than the code, and an unreachable server, with clear messages", async () => {
    await sql(`UPDATE "${schema}".meta SET value = '99' WHERE key = 'schema_version'`);
    await expect(PostgresStore.open(PG_URL, { schema })).rejects.toThrow(
      /schema is version 99, newer than this Custos/,
    );
    await expect(PostgresStore.open("postgres://root@127.0.0.1:1/test", { schema })).rejects.toThrow(
      /cannot reach PostgreSQL at 127\.0\.0\.1:1 .*CUSTOS_DB_URL/,
    );
  });
});
