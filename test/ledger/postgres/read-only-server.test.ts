// The commands that only read work against a PostgreSQL server that accepts only reads (a hot
// standby; here simulated with default_transaction_read_only set in the URL, which a standby reports
// the same way), and a write there is refused with a message that says to use the primary. custos
// verify reads one snapshot, so a sequencer appending meanwhile is never reported as tampering.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { utf8 } from "../../../src/core/bytes.js";
import { decodeEntry, encodeNoticeEntry, filingOf } from "../../../src/core/entry/index.js";
import { sha256 } from "../../../src/core/platform.js";
import { EnvProvider } from "../../../src/crypto/keystore/index.js";
import { initDataDir, openLogWritable } from "../../../src/ledger/data-dir.js";
import { PostgresStore } from "../../../src/ledger/postgres/index.js";
import { BIN } from "../../helpers/deployment.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../../helpers/postgres.js";
import { tempDir } from "../../helpers/temp.js";

const MASTER_KEY = Buffer.alloc(32, 53).toString("base64");
const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: MASTER_KEY });
let root: { dir: string; cleanup: () => void };
let schema: string;
let data: string;

/** The same database, through sessions the server makes read-only, as on a hot standby. */
const readOnlyUrl = (): string =>
  `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}options=${encodeURIComponent("-c default_transaction_read_only=on")}&schema=${schema}`;

/** A log entry (a notice header committing to opaque content), numbered by its time, filed as the node files it. */
function entry(n: number) {
  const content = utf8(`content ${n}`);
  const bytes = encodeNoticeEntry({ kind: "query", time: n, patientTag: sha256(content) }, sha256(content));
  return { entry: bytes, content, lookupKeys: filingOf(decodeEntry(bytes), bytes)?.lookupKeys ?? [] };
}

function custos(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    input: "one\ntwo\n",
    env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: MASTER_KEY },
  });
}

beforeAll(async () => {
  await requirePostgres();
  root = tempDir("custos-pg-readonly-");
  schema = testSchema();
  data = join(root.dir, "data");
  const db = `${PG_URL}?schema=${schema}`;
  await initDataDir(data, { origin: "readonly.custos.example/log", masterKey, db });
  const ledger = await openLogWritable(data, masterKey, { db });
  for (let i = 0; i < 5; i++) await ledger.appendOne(entry(i));
  await ledger.checkpoint();
  await ledger.close();
}, 60_000);

afterAll(async () => {
  await dropSchema(schema);
  root?.cleanup();
});

describe("a read-only PostgreSQL server", () => {
  it("is known as such, and refuses sequencing with a message naming the primary", async () => {
    const store = await PostgresStore.open(readOnlyUrl(), { schema });
    try {
      expect(store.serverReadOnly).toBe(true);
      await expect(store.acquireSequencerLock()).rejects.toMatchObject({
        code: "CONFIG",
        message: expect.stringMatching(/accepts only reads .*point --db at the primary/),
      });
    } finally {
      await store.close();
    }
  });

  it("serves custos verify, log prove and log consistency, and refuses log append clearly", () => {
    const db = readOnlyUrl();
    const verify = custos("verify", "--data", data, "--db", db, "--no-save-state");
    expect(verify.stdout).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
    const prove = custos("log", "prove", "--data", data, "--db", db, "--index", "2", "--json");
    expect(prove.status).toBe(0);
    expect(JSON.parse(prove.stdout)).toMatchObject({ index: 2 });
    const consistency = custos("log", "consistency", "--data", data, "--db", db, "--from", "2", "--to", "5");
    expect(consistency.status).toBe(0);
    const append = custos("log", "append", "--data", data, "--db", db);
    expect(append.status).not.toBe(0);
    expect(append.stderr).toMatch(/^error: PostgreSQL at .* accepts only reads/m);
    expect(append.stderr).toContain("primary");
    expect(append.stderr).not.toContain(schema); // names host:port only, never the URL
  });
});

describe("reading one snapshot", () => {
  it("does not see a batch the sequencer commits in the middle of the read", async () => {
    const writer = await openLogWritable(data, masterKey, { db: `${PG_URL}?schema=${schema}` });
    const reader = await PostgresStore.open(readOnlyUrl(), { schema, readonly: true });
    try {
      const seen = await reader.readConsistent(async () => {
        const before = await reader.getSize();
        await writer.appendOne(entry(99));
        return { before, after: await reader.getSize(), entries: (await reader.getEntries(0, 1000)).length };
      });
      expect(seen.after).toBe(seen.before);
      expect(seen.entries).toBe(seen.before);
      expect(await reader.getSize()).toBe(seen.before + 1);
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});
