// The ledger, verify and the tamper checks over PostgreSQL, end to end: a few thousand entries through
// the sequencer, proofs checked, then rows edited directly in the database.
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

beforeEach(requirePostgres);
beforeEach(async () => {
  schema = testSchema();
  const store = await PostgresStore.open(PG_URL, { schema, create: true });
  await store.initialize({
    origin: "pg.custos.example/log",
    verifierKey: verifierKeyFromSigner(signerKey),
    createdAt: 0,
    formatVersion: 1,
  });
  // As a node does (openLogWritable): batches then go through the session holding the lock.
  expect(await store.acquireSequencerLock()).toBe(true);
  const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 60_000 });
  for (const end of [500, 3000]) {
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
    expect(await ledger.size()).toBe(3000);
    await ledger.appendOne({ entry: dataEntry(3000) });
    const root = await ledger.rootAt(3001);
    for (const index of [0, 777, 2047, 2048, 3000]) {
      const proof = await ledger.inclusionProof(index, 3001);
      expect(verifyInclusion(leafHash(dataEntry(index)), index, 3001, proof, root)).toBe(true);
      expect(verifyInclusion(leafHash(dataEntry(index + 1)), index, 3001, proof, root)).toBe(false);
    }
    await ledger.close();
    const report = await verify();
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("detects an entry edited in the database, and names it", async () => {
    await sql(`UPDATE "${schema}".entries SET data = $1 WHERE idx = 321`, [
      Buffer.from(encodeDataEntry(utf8("forged"))),
    ]);
    const report = await verify();
    expect(report.ok).toBe(false);
    const finding = report.findings.find((f) => f.code === "ENTRY_MODIFIED");
    expect([finding?.firstIndex, finding?.lastIndex]).toEqual([321, 321]);
  });

  it("detects deleted rows, swapped rows and truncation", async () => {
    await sql(`DELETE FROM "${schema}".entries WHERE idx = 42`);
    await sql(
      `UPDATE "${schema}".entries SET data = CASE idx WHEN 100 THEN (SELECT data FROM "${schema}".entries WHERE idx = 101) ELSE (SELECT data FROM "${schema}".entries WHERE idx = 100) END WHERE idx IN (100, 101)`,
    );
    await sql(`DELETE FROM "${schema}".entries WHERE idx >= 2900`);
    const codes = (await verify()).findings.map((f) => [f.code, f.firstIndex]);
    expect(codes).toContainEqual(["ENTRIES_MISSING", 42]);
    expect(codes).toContainEqual(["ENTRIES_REORDERED", 100]);
    expect(codes).toContainEqual(["LOG_TRUNCATED", 2900]);
  });

  it("detects a replaced checkpoint", async () => {
    await sql(
      `UPDATE "${schema}".checkpoints SET note = replace(note, E'\\n3000\\n', E'\\n2999\\n') WHERE size = 3000`,
    );
    expect((await verify()).findings.map((f) => f.code)).toContain("CHECKPOINT_BAD_SIGNATURE");
  });
});
