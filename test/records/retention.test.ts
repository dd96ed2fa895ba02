import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decodeEntry, decodeErasureEntry, ENTRY_KINDS, encodeHoldEntry } from "../../src/core/entry/index.js";
import { leafHash, verifyInclusion } from "../../src/core/merkle/index.js";
import type { AuditRecord } from "../../src/core/record/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { HOLDS_LOOKUP_KEY } from "../../src/records/holds.js";
import { RecordOpener, type Vault } from "../../src/records/index.js";
import { RetentionJob } from "../../src/records/retention.js";
import { parseRetentionPolicy, type RetentionPolicy } from "../../src/records/retention-policy.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";

const MASTER_ENV = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 9).toString("base64") };
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 10, 8);
const policy: RetentionPolicy = parseRetentionPolicy({ retainDays: 30, batchEntries: 1000 });

function record(patientId: string, time: number, i: number): AuditRecord {
  return { time: new Date(time + i * 1000).toISOString(), patientId, userId: `dr-${i}`, action: "query" };
}

const PASS = "retention test passphrase";

/** Enrolls a custodian and patients P1 and P2; returns the patients' record openers. */
async function enrollParties(deployment: Deployment): Promise<Record<"p1" | "p2", RecordOpener>> {
  const openers: Record<string, RecordOpener> = {};
  for (const [name, role, id] of [
    ["custodian", "custodian", "custodian"],
    ["p1", "patient", "P1"],
    ["p2", "patient", "P2"],
  ] as const) {
    const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 1000 });
    openers[name] = new RecordOpener(Identity.unlock(issued.bundle, PASS).encryptionPrivateKey());
  }
  return openers as Record<"p1" | "p2", RecordOpener>;
}

interface Setup {
  readonly dir: string;
  readonly db?: string;
  cleanup(): Promise<void>;
}

async function sqliteSetup(): Promise<Setup> {
  const root = tempDir("custos-retention-");
  return { dir: root.dir, cleanup: async () => root.cleanup() };
}

async function postgresSetup(): Promise<Setup> {
  const root = tempDir("custos-retention-pg-");
  const schema = testSchema();
  return {
    dir: root.dir,
    db: `${PG_URL}?schema=${schema}`,
    cleanup: async () => {
      await dropSchema(schema);
      root.cleanup();
    },
  };
}

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`retention expiry (${backend})`, () => {
    let setup: Setup;
    let deployment: Deployment;
    let vault: Vault;
    let clock: number;
    let parties: Record<"p1" | "p2", RecordOpener>;

    beforeAll(async () => {
      if (backend === "postgres") await requirePostgres();
    });

    beforeEach(async () => {
      setup = backend === "sqlite" ? await sqliteSetup() : await postgresSetup();
      clock = T0;
      const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", MASTER_ENV);
      await initDataDir(setup.dir, {
        origin: "retention.custos.example/log",
        masterKey,
        ...(setup.db ? { db: setup.db } : {}),
      });
      deployment = await Deployment.initCa(setup.dir, masterKey, "retention", {
        now: () => clock,
        epochMs: DAY,
        ...(setup.db ? { db: setup.db } : {}),
      });
      vault = deployment.vault;
      parties = await enrollParties(deployment);
    });

    afterEach(async () => {
      await deployment.close().catch(() => undefined);
      await setup.cleanup();
    });

    const job = (overrides: Partial<RetentionPolicy> = {}) =>
      new RetentionJob({
        ledger: vault.ledger,
        policy: { ...policy, ...overrides },
        rotate: (tag) => vault.sealer.epochs.rotate(tag),
        now: () => clock,
      });

    async function verifyClean(): Promise<void> {
      await vault.ledger.checkpoint();
      const report = await verifyStore(vault.ledger.store);
      expect(report.findings).toEqual([]);
    }

    it("crypto-shreds epochs past retention under signed erasure entries; proofs and verify stay good", async () => {
      await vault.ingest([record("P1", T0, 1), record("P1", T0, 2), record("P2", T0, 3)], "ehr");
      clock = T0 + 20 * DAY;
      await vault.ingest([record("P2", clock, 4)], "ehr");
      const oldP1 = (await vault.patientItems("P1")).filter((i) => i.content !== undefined);
      const p2Before = await vault.patientItems("P2");
      const checkpoint = await vault.ledger.checkpoint();

      // Day 25: nothing is past 30 days yet.
      clock = T0 + 25 * DAY;
      expect((await job().tick()).expiredEpochs).toBe(0);

      // Day 31: P1's epoch and P2's first epoch expire; P2's day-20 record stays.
      clock = T0 + 31 * DAY;
      const result = await job().tick();
      expect(result.expiredEpochs).toBe(2);
      const p1After = await vault.patientItems("P1");
      expect(p1After.every((i) => i.content === undefined)).toBe(true);
      const p2Opened = await vault.readTrail("P2", parties.p2);
      expect(p2Opened.records.map((r) => r.record.userId)).toEqual(["dr-4"]);
      expect(p2Before.filter((i) => i.content !== undefined).length).toBeGreaterThan(
        (await vault.patientItems("P2")).filter((i) => i.content !== undefined).length,
      );

      // Every erasure is a signed retention-expired entry naming the patient's tag.
      const size = await vault.ledger.size();
      const erasures = (await vault.ledger.store.getEntries(0, size))
        .filter((e) => decodeEntry(e.data).kind === ENTRY_KINDS.erasure)
        .map((e) => decodeErasureEntry(e.data));
      expect(erasures.map((e) => e.reason)).toEqual(["retention-expired", "retention-expired"]);
      expect(erasures.flatMap((e) => e.contentHashes)).toHaveLength(
        oldP1.length + p2Before.filter((i) => i.content !== undefined).length - 3,
      );

      // Proofs of the expired entries still verify against the checkpoint signed before expiry.
      const root = await vault.ledger.rootAt(checkpoint.size);
      for (const item of oldP1) {
        const proof = await vault.ledger.inclusionProof(item.index, checkpoint.size);
        expect(verifyInclusion(leafHash(item.entry), item.index, checkpoint.size, proof, root)).toBe(true);
      }
      await verifyClean();
      // Running again finds nothing more to do.
      expect((await job().tick()).erasedItems).toBe(0);

      if (backend === "sqlite") {
        await deployment.close();
        const files = Buffer.concat(
          ["custos.db", "custos.db-wal"].map((f) => {
            try {
              return readFileSync(join(setup.dir, f));
            } catch {
              return Buffer.alloc(0);
            }
          }),
        );
        for (const item of oldP1) expect(files.includes(Buffer.from(item.content!))).toBe(false);
      }
    });

    it("waits for an epoch's newest record before expiring any of it", async () => {
      clock = T0;
      await vault.ingest([record("P1", T0, 1)], "ehr");
      // The same epoch (the node's clock has not moved), but an event time ten days later.
      await vault.ingest([record("P1", T0 + 10 * DAY, 2)], "ehr");
      clock = T0 + 31 * DAY;
      const first = job();
      expect((await first.tick()).expiredEpochs).toBe(0);
      expect(first.state.deferred.map((d) => d.why)).toEqual(["newer-record"]);
      expect((await vault.readTrail("P1", parties.p1)).records).toHaveLength(2);
      clock = T0 + 41 * DAY;
      expect((await first.tick()).expiredEpochs).toBe(1);
      expect(first.state.deferred).toEqual([]);
      expect((await vault.readTrail("P1", parties.p1)).records).toHaveLength(0);
      await verifyClean();
    });

    it("bounds its work per tick and resumes where it stopped", async () => {
      for (let i = 0; i < 6; i++) {
        clock = T0 + i * 2 * DAY;
        await vault.ingest([record("P1", clock, i), record("P2", clock, i)], "ehr");
      }
      clock = T0 + 60 * DAY;
      const small = job({ batchEntries: 10 });
      const ticks = await small.runToEnd();
      expect(ticks.length).toBeGreaterThan(2);
      for (const tick of ticks) expect(tick.examined).toBeLessThanOrEqual(10);
      expect(ticks.reduce((n, t) => n + t.expiredEpochs, 0)).toBe(12);
      expect((await vault.patientItems("P1")).every((i) => i.content === undefined)).toBe(true);
      await verifyClean();
    });

    it("stops at a legal hold: on a patient, on the whole deployment; erase is refused; lifting lets it run", async () => {
      await vault.ingest([record("P1", T0, 1), record("P2", T0, 2)], "ehr");
      const hold = (action: "place" | "lift", patient?: string) =>
        vault.ledger.append([
          {
            entry: encodeHoldEntry({
              time: clock,
              action,
              ...(patient ? { patientTag: vault.patientTag(patient) } : {}),
              reference: "Case 2026-117",
              admin: "custos://stmary/admin/alice",
            }),
            lookupKeys: [HOLDS_LOOKUP_KEY],
          },
        ]);
      await hold("place", "P1");
      await expect(vault.erase("P1", "erasure-request", "privacy-officer")).rejects.toMatchObject({
        code: "LEGAL_HOLD",
        message: expect.stringMatching(/legal hold on this patient stands \("Case 2026-117"\)/),
      });
      clock = T0 + 31 * DAY;
      const held = job();
      expect((await held.tick()).expiredEpochs).toBe(1); // P2 only
      expect(held.state.deferred.map((d) => d.why)).toEqual(["legal-hold"]);
      expect((await vault.readTrail("P1", parties.p1)).records).toHaveLength(1);

      await hold("place");
      expect((await held.tick()).heldByDeployment).toBe(true);
      await hold("lift", "P1");
      expect((await held.tick()).heldByDeployment).toBe(true);
      await hold("lift");
      expect((await held.tick()).expiredEpochs).toBe(1);
      expect((await vault.readTrail("P1", parties.p1)).records).toHaveLength(0);
      await verifyClean();
    });

    it("verify names content an erasure entry covers that the store still holds", async () => {
      await vault.ingest([record("P1", T0, 1)], "ehr");
      const kept = (await vault.patientItems("P1")).find(
        (i) => decodeEntry(i.entry).kind === ENTRY_KINDS.accessRecord,
      )!;
      clock = T0 + 31 * DAY;
      await job().tick();
      // A copy that never applied the erasure (a mirror, a restored backup) still has the content.
      await vault.ledger.store.appendBatch({
        startIndex: await vault.ledger.store.getSize(),
        entries: [],
        tiles: [],
        contents: [{ hash: decodeEntry(kept.entry).fields.at(-1)!.value, data: kept.content! }],
        idempotencyKeys: [],
        lookupKeys: [],
      });
      await vault.ledger.checkpoint();
      const report = await verifyStore(vault.ledger.store);
      // The trail copy (cleared by the erasure) no longer matches the content held, and the content
      // itself is named.
      const kept_ = report.findings.filter((f) => f.code === "ERASED_CONTENT_KEPT");
      expect(kept_).toHaveLength(1);
      expect(kept_[0]!.message).toMatch(/is still stored: the erasure was not applied/);
    });
  });
}

describe("erased bytes outside the rows (SQLite)", () => {
  let root: { dir: string; cleanup: () => void };
  afterAll(() => root?.cleanup());

  it("verify names a free page that still holds bytes, and an erasure whose WAL truncation is pending", async () => {
    root = tempDir("custos-residue-");
    const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", MASTER_ENV);
    await initDataDir(root.dir, { origin: "residue.custos.example/log", masterKey });
    let clock = T0;
    const deployment = await Deployment.initCa(root.dir, masterKey, "residue", { now: () => clock });
    const vault = deployment.vault;
    await enrollParties(deployment);
    const many = Array.from({ length: 300 }, (_, i) => ({
      ...record("P1", T0, i),
      detail: "x".repeat(2000),
    }));
    await vault.ingest(many, "ehr");
    clock = T0 + 3000 * DAY;
    await new RetentionJob({
      ledger: vault.ledger,
      policy,
      rotate: () => undefined,
      now: () => clock,
    }).tick();
    await vault.ledger.checkpoint();
    await deployment.close();
    const clean = SqliteStore.open(root.dir, { readonly: true });
    expect((await verifyStore(clean)).findings).toEqual([]);
    const freePage = clean.database.pragma("freelist_count", { simple: true }) as number;
    await clean.close();
    expect(freePage).toBeGreaterThan(0);

    // Bytes written into a free page (a backend that freed pages without zeroing them).
    const path = join(root.dir, "custos.db");
    const header = readFileSync(path).subarray(0, 100);
    const pageSize = header.readUInt16BE(16);
    const trunk = header.readUInt32BE(32);
    const trunkPage = readFileSync(path).subarray((trunk - 1) * pageSize, trunk * pageSize);
    const leaf = trunkPage.readUInt32BE(8);
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.from("left-over ciphertext"), 0, 20, (leaf - 1) * pageSize + 100);
    closeSync(fd);
    const dirty = SqliteStore.open(root.dir);
    dirty.database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('erasure_pending', '1')").run();
    const report = await verifyStore(dirty);
    expect(report.findings.map((f) => f.code)).toEqual(["ERASED_CONTENT_KEPT", "ERASED_CONTENT_KEPT"]);
    expect(report.findings.map((f) => f.message).join("\n")).toMatch(
      /truncation has not completed[\s\S]*free page/,
    );
    // Finishing the erasure clears the pending mark.
    await dirty.finishErasure();
    expect((await verifyStore(dirty)).findings.map((f) => f.message)).toEqual([
      expect.stringMatching(/1 free page\(s\) of the database file still hold old bytes/),
    ]);
    await dirty.close();
  }, 60_000);

  it("finishes an erasure a reader held back at the next tick, with the node open", async () => {
    const held = tempDir("custos-held-reader-");
    const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", MASTER_ENV);
    await initDataDir(held.dir, { origin: "held.custos.example/log", masterKey });
    let clock = T0;
    const deployment = await Deployment.initCa(held.dir, masterKey, "held", {
      now: () => clock,
      epochMs: DAY,
    });
    try {
      const vault = deployment.vault;
      await enrollParties(deployment);
      await vault.ingest([record("P1", T0, 1), record("P1", T0, 2)], "ehr");
      const secrets = (await vault.patientItems("P1")).flatMap((i) =>
        i.content ? [Buffer.from(i.content)] : [],
      );
      expect(secrets.length).toBeGreaterThan(0);
      const job = new RetentionJob({
        ledger: vault.ledger,
        policy,
        rotate: () => undefined,
        now: () => clock,
      });
      const wal = () => readFileSync(join(held.dir, "custos.db-wal"));
      // Another process's read transaction on the snapshot before the expiry (a verify, a backup).
      const reader = new Database(join(held.dir, "custos.db"), { readonly: true });
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) AS n FROM contents").get();
      clock = T0 + 31 * DAY;
      await expect(job.tick()).rejects.toMatchObject({ code: "STORE_BUSY" });
      expect(secrets.some((secret) => wal().includes(secret))).toBe(true);
      reader.exec("COMMIT");
      reader.close();
      // The next tick meets the same epochs again (the failed tick saved no state) and empties the WAL.
      expect((await job.tick()).erasedItems).toBe(0);
      const files = Buffer.concat([readFileSync(join(held.dir, "custos.db")), wal()]);
      for (const secret of secrets) expect(files.includes(secret)).toBe(false);
      expect((await verifyStore(vault.ledger.store)).findings).toEqual([]);
    } finally {
      await deployment.close();
      held.cleanup();
    }
  }, 60_000);
});
