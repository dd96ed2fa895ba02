// The tamper matrix: seeded random tamperings of one row of one table (entries, tiles, contents, lookup
// rows and their trail copies, idempotency rows, checkpoints, meta, the trail map snapshot), each of which `custos verify` must
// detect and locate, and untouched copies on which it must find nothing. Each tampering is made in
// place and undone after its verify (every tenth undo is checked clean); PostgreSQL runs fewer.
// Replay a failure with the printed seed: CUSTOS_TAMPER_SEED=<seed>; more: CUSTOS_TAMPER_ROUNDS=<n>.

import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSignerKey, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { type VerifyReport, verifyStore } from "../../src/ledger/verify/verifier.js";
import type { VerifyState } from "../../src/ledger/verify/verify-state.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { seeded } from "../helpers/seeded.js";
import { tempDir } from "../helpers/temp.js";
import { createTestLog, dbPath, type TestLog } from "./fixtures.js";
import {
  buildLog,
  type Inventory,
  inventory,
  randomTampering,
  SNAPSHOT_OPTIONS,
  type Sql,
  Tally,
} from "./tamper-matrix.js";

const SEED = Number(process.env.CUSTOS_TAMPER_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = Number(process.env.CUSTOS_TAMPER_ROUNDS ?? 1000);
const PG_ROUNDS = Math.max(50, Math.floor(ROUNDS / 8));
const UNTOUCHED = 100;
const log = (line: string) => process.stdout.write(`[tamper-matrix seed=${SEED}] ${line}\n`);

async function verifyWith(store: LedgerStore, state: VerifyState): Promise<VerifyReport> {
  return verifyStore(store, { state });
}

function sqliteSql(db: Database.Database): Sql {
  return {
    dialect: "sqlite",
    async all(text, params = []) {
      return db.prepare(text).all(...params) as Record<string, unknown>[];
    },
    async run(text, params = []) {
      db.prepare(text).run(...params);
    },
  };
}

describe("the tamper matrix (SQLite)", () => {
  let base: TestLog;
  let inv: Inventory;
  let state: VerifyState;
  const work = tempDir();

  beforeAll(async () => {
    base = await createTestLog(SNAPSHOT_OPTIONS);
    await buildLog(base.ledger);
    await base.ledger.close();
    const db = new Database(dbPath(base.dir));
    db.pragma("wal_checkpoint(TRUNCATE)");
    inv = await inventory(sqliteSql(db));
    db.close();
    // A snapshot of several parts, at the log's size, so each of its tamperings names one part.
    expect(inv.snapshot.length).toBeGreaterThanOrEqual(3);
    expect(new Set(inv.snapshot.map((r) => r.size))).toEqual(new Set([inv.size]));
    const store = SqliteStore.open(base.dir, { readonly: true });
    const clean = await verifyStore(store);
    await store.close();
    expect(clean.findings).toEqual([]);
    state = clean.nextState!;
  }, 120_000);

  afterAll(async () => {
    await base.cleanup();
    work.cleanup();
  });

  const copy = (): string => {
    const target = join(work.dir, "store");
    rmSync(target, { recursive: true, force: true });
    copyFileSync(dbPath(base.dir), join(mkdir(target), "custos.db"));
    return target;
  };

  it("finds nothing on untouched copies", async () => {
    for (let i = 0; i < UNTOUCHED; i++) {
      const store = SqliteStore.open(copy(), { readonly: true });
      const report = await verifyWith(store, state);
      await store.close();
      expect(report.findings).toEqual([]);
      expect(report.unchecked).toEqual([]);
    }
  }, 300_000);

  it(`detects and locates every one of ${ROUNDS} random tamperings, and nothing once each is undone`, async () => {
    log(`${ROUNDS} tamperings of a ${inv.size}-entry store; replay with CUSTOS_TAMPER_SEED=${SEED}`);
    const random = seeded(SEED);
    const tally = new Tally();
    // In place on one copy, each undone after its verify: a copy per tampering costs ten times more.
    const dir = copy();
    const db = new Database(dbPath(dir));
    db.pragma("synchronous = OFF");
    // As the node writes (src/ledger/sqlite/open-database.ts): an undo frees pages zero-filled, so the
    // "nothing once undone" check does not find the tampering's own bytes left on a free page.
    db.pragma("secure_delete = ON");
    const sql = sqliteSql(db);
    const store = SqliteStore.open(dir, { readonly: true });
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const tampering = randomTampering(inv, random, "sqlite");
        for (const [text, params] of tampering.apply) await sql.run(text, params);
        const report = await verifyWith(store, state);
        for (const [text, params] of tampering.undo) await sql.run(text, params);
        tally.add(tampering, report.findings);
        if (round % 10 === 9) expect((await verifyWith(store, state)).findings).toEqual([]);
      }
    } finally {
      await store.close();
      db.close();
    }
    log(`\n${tally.table()}`);
    const total = tally.total();
    log(`total: ${total.tamperings} tampered, ${total.detected} detected, ${total.located} located`);
    expect(tally.misses).toEqual([]);
    expect(total).toEqual({ tamperings: ROUNDS, detected: ROUNDS, located: ROUNDS });
  }, 900_000);
});

describe("the tamper matrix (PostgreSQL)", () => {
  let schema: string;
  let client: pg.Client;
  let store: PostgresStore;
  let inv: Inventory;
  let state: VerifyState;
  let sql: Sql;

  beforeAll(async () => {
    await requirePostgres();
    schema = testSchema();
    const { signerKey } = generateSignerKey("matrix.custos.example/log");
    const writer = await PostgresStore.open(PG_URL, { schema, create: true });
    await writer.initialize({
      origin: "matrix.custos.example/log",
      verifierKey: verifierKeyFromSigner(signerKey),
      createdAt: 0,
      formatVersion: 1,
    });
    expect(await writer.acquireSequencerLock()).toBe(true);
    const ledger = await Ledger.open(writer, {
      signerKey,
      checkpointIntervalMs: 60_000,
      ...SNAPSHOT_OPTIONS,
    });
    await buildLog(ledger);
    await ledger.close();
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`SET search_path TO "${schema}"`);
    sql = {
      dialect: "postgres",
      async all(text, params = []) {
        return (await client.query(numbered(text), params)).rows;
      },
      async run(text, params = []) {
        await client.query(
          numbered(text),
          params.map((p) => (p instanceof Uint8Array ? Buffer.from(p) : p)),
        );
      },
    };
    inv = await inventory(sql);
    expect(inv.snapshot.length).toBeGreaterThanOrEqual(3);
    expect(new Set(inv.snapshot.map((r) => r.size))).toEqual(new Set([inv.size]));
    store = await PostgresStore.open(PG_URL, { schema, readonly: true });
    const clean = await verifyStore(store);
    expect(clean.findings).toEqual([]);
    expect(clean.unchecked).toEqual([expect.stringMatching(/^2 entries whose content was erased/)]);
    state = clean.nextState!;
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await client?.end();
    if (schema) await dropSchema(schema);
  });

  it(`detects and locates every one of ${PG_ROUNDS} random tamperings, and nothing once each is undone`, async () => {
    log(`${PG_ROUNDS} PostgreSQL tamperings; replay with CUSTOS_TAMPER_SEED=${SEED}`);
    const random = seeded(SEED ^ 0x9e3779b9);
    const tally = new Tally();
    for (let round = 0; round < PG_ROUNDS; round++) {
      const tampering = randomTampering(inv, random, "postgres");
      for (const [text, params] of tampering.apply) await sql.run(text, params);
      const report = await verifyWith(store, state);
      for (const [text, params] of tampering.undo) await sql.run(text, params);
      tally.add(tampering, report.findings);
      if (round % 10 === 9) expect((await verifyWith(store, state)).findings).toEqual([]);
    }
    log(`\n${tally.table()}`);
    expect(tally.misses).toEqual([]);
    expect(tally.total()).toEqual({ tamperings: PG_ROUNDS, detected: PG_ROUNDS, located: PG_ROUNDS });
  }, 900_000);
});

/** `?` placeholders as PostgreSQL's $1, $2, ... */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

function mkdir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
