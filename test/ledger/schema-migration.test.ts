// A log written by an older Custos is brought up to date in place: version 2 of the SQLite schema and
// migration 3 of PostgreSQL's add the trail copies, filled in for the rows already there, so history
// reads of an upgraded log come from the copies at once. A read-only opener refuses an old schema.

import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { concatBytes, fromUtf8, utf8 } from "../../src/core/bytes.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { migrate } from "../../src/ledger/postgres/migrations.js";
import { POSTGRES_SCHEMA_VERSION } from "../../src/ledger/postgres/schema.js";
import { SQLITE_SCHEMA_VERSION } from "../../src/ledger/sqlite/schema.js";
import { SQLITE_FILE_NAME, SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { AppendBatch, LedgerStore } from "../../src/ledger/storage.js";
import { runCli } from "../cli/run-cli.js";
import { dropSchema, PG_URL, requirePostgres, sql, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";

const META = {
  origin: "migration.example/log",
  verifierKey: "migration.example/log+01234567+AQ==",
  createdAt: 1,
  formatVersion: 1,
};
const tag = utf8("patient-tag");
const hashOf = (n: number) => new Uint8Array(32).fill(n);
const naming = (text: string, n: number) => concatBytes(utf8(text), hashOf(n));

/** Two entries naming content (one too large for a PostgreSQL index row) and one naming none. */
const BATCH: AppendBatch = {
  startIndex: 0,
  entries: [naming("a", 1), utf8("plain"), concatBytes(new Uint8Array(2500).fill(0x61), hashOf(2))],
  tiles: [],
  contents: [
    { hash: hashOf(1), data: utf8("one") },
    { hash: hashOf(2), data: new Uint8Array(600).fill(0x62) },
  ],
  idempotencyKeys: [],
  lookupKeys: [0, 1, 2].map((index) => ({ key: tag, index })),
};

async function expectUpToDate(store: LedgerStore, copied: number[]): Promise<void> {
  const rows = await store.entriesWithContentsByLookupKey({ key: tag, limit: 10 });
  expect(rows.map((r) => [r.index, r.data.length, r.content?.length])).toEqual([
    [0, 33, 3],
    [1, 5, undefined],
    [2, 2532, 600],
  ]);
  expect(fromUtf8(rows[0]!.content!)).toBe("one");
  expect((await store.lookupCopiesInRange(0, 3)).map((c) => c.index)).toEqual(copied);
}

describe("the SQLite log at schema version 1", () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(async () => {
    ({ dir, cleanup } = tempDir());
    const store = SqliteStore.open(dir, { create: true });
    await store.initialize(META);
    await store.appendBatch(BATCH);
    await store.close();
    // What version 1 wrote: lookup rows without copies.
    const db = new Database(join(dir, SQLITE_FILE_NAME));
    db.exec("ALTER TABLE lookup DROP COLUMN content; ALTER TABLE lookup DROP COLUMN entry;");
    db.exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    db.close();
  });
  afterEach(() => cleanup());

  it("is read as it is when opened read-only, and upgraded when opened to write", async () => {
    // A verify of a backup, or a mirror's source: the same answers, from the join the copies replace.
    const readonly = SqliteStore.open(dir, { readonly: true });
    try {
      await expectUpToDate(readonly, []);
    } finally {
      await readonly.close();
    }
    const store = SqliteStore.open(dir);
    try {
      await expectUpToDate(store, [0, 1, 2]);
    } finally {
      await store.close();
    }
    const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({
      value: String(SQLITE_SCHEMA_VERSION),
    });
    db.close();
  });

  it("is upgraded by custos db migrate --data", () => {
    const result = runCli(["db", "migrate", "--data", dir]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("up to date");
    const store = SqliteStore.open(dir, { readonly: true });
    return expectUpToDate(store, [0, 1, 2]).finally(() => store.close());
  });
});

describe("the PostgreSQL log at schema version 2", () => {
  let schema: string;
  beforeEach(async () => {
    await requirePostgres();
    schema = testSchema();
    const store = await PostgresStore.open(PG_URL, { schema, create: true });
    await store.initialize(META);
    await store.appendBatch(BATCH);
    await store.close();
    // What version 2 wrote: lookup rows without copies, keyed by (key, idx) alone.
    await sql(`ALTER TABLE "${schema}".lookup DROP CONSTRAINT lookup_pkey, DROP COLUMN entry, DROP COLUMN content,
      ADD PRIMARY KEY (key, idx)`);
    await sql(`UPDATE "${schema}".meta SET value = '2' WHERE key = 'schema_version'`);
  });
  afterEach(async () => dropSchema(schema));

  it("is refused until migrated, then reads from copies (but for the row too large for one)", async () => {
    await expect(PostgresStore.open(PG_URL, { schema })).rejects.toMatchObject({
      code: "CONFIG",
      message: expect.stringContaining("custos db migrate"),
    });
    expect(await migrate(PG_URL, schema)).toEqual({ fromVersion: 2, toVersion: POSTGRES_SCHEMA_VERSION });
    const store = await PostgresStore.open(PG_URL, { schema });
    try {
      await expectUpToDate(store, [0, 1]);
    } finally {
      await store.close();
    }
  });
});
