import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toHex } from "../../src/core/bytes.js";
import { accessRecordFromEntry, decodeEntry, ENTRY_KINDS } from "../../src/core/entry/index.js";
import { leafHash } from "../../src/core/merkle/index.js";
import type { AuditRecord } from "../../src/core/record/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { rewrapHistory } from "../../src/identity/recovery.js";
import type { Role } from "../../src/identity/roles.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { RecordOpener, type Vault } from "../../src/records/index.js";
import { tempDir } from "../helpers/temp.js";

const MASTER_ENV = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 3).toString("base64") };

function record(patientId: string, i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: new Date(Date.UTC(2026, 10, 23, 8, 0, i)).toISOString(),
    patientId,
    userId: `dr-${i % 5}`,
    action: (["query", "change", "print", "copy", "create", "delete"] as const)[i % 6]!,
    ...extra,
  };
}

const PASS = "vault test passphrase";
let root: { dir: string; cleanup: () => void };
let deployment: Deployment;
let vault: Vault;
let clock: number;
/** Unlocked identities by short name: p1, p2 (patients), a1, a2 (audit companies), custodian, admin. */
const parties: Record<string, Identity> = {};

async function enroll(name: string, role: Role, id: string): Promise<void> {
  const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 1000 });
  parties[name] = Identity.unlock(issued.bundle, PASS);
}

/** The reader's record opener (its X25519 private key). */
function opener(name: string): RecordOpener {
  return new RecordOpener(parties[name]!.encryptionPrivateKey());
}

async function reopen(): Promise<void> {
  deployment = await Deployment.open(root.dir, new EnvProvider("CUSTOS_MASTER_KEY", MASTER_ENV), {
    now: () => clock,
  });
  vault = deployment.vault;
}

beforeEach(async () => {
  root = tempDir("custos-vault-");
  clock = Date.UTC(2026, 10, 23, 8);
  await initDataDir(root.dir, {
    origin: "vault.custos.example/log",
    masterKey: new EnvProvider("CUSTOS_MASTER_KEY", MASTER_ENV),
  });
  deployment = await Deployment.initCa(root.dir, new EnvProvider("CUSTOS_MASTER_KEY", MASTER_ENV), "vault", {
    now: () => clock,
    epochMs: 3_600_000,
  });
  vault = deployment.vault;
  for (const [name, role, id] of [
    ["custodian", "custodian", "custodian"],
    ["admin", "admin", "admin"],
    ["p1", "patient", "P1"],
    ["p2", "patient", "P2"],
    ["a1", "auditor", "A1"],
    ["a2", "auditor", "A2"],
  ] as const)
    await enroll(name, role, id);
  await deployment.grant(parties.admin!, { auditor: "A1", patients: ["P1"], from: clock - 1000 });
});

afterEach(async () => {
  await deployment.close().catch(() => undefined);
  root.cleanup();
});

/** The data directory's files as they are on disk, concatenated (a missing file counts as empty). */
function storedBytes(...files: string[]): Buffer {
  return Buffer.concat(
    files.map((f) => {
      try {
        return readFileSync(join(root.dir, f));
      } catch {
        return Buffer.alloc(0);
      }
    }),
  );
}

async function verifyClean(): Promise<void> {
  await vault.ledger.checkpoint();
  const store = SqliteStore.open(root.dir, { readonly: true });
  try {
    const report = await verifyStore(store);
    expect(report.findings).toEqual([]);
  } finally {
    await store.close();
  }
}

describe("encrypted records", () => {
  it("lets the patient, a granted auditor and the custodian read a record, and nobody else", async () => {
    await vault.ingest([record("P1", 1), record("P1", 2), record("P2", 3)], "ehr-main");
    const p1 = await vault.readTrail("P1", opener("p1"));
    expect(p1.records.map((r) => r.record)).toEqual([record("P1", 2), record("P1", 1)]);
    const a1 = await vault.readTrail("P1", opener("a1"));
    expect(a1.records).toHaveLength(2);
    const custodian = await vault.readTrail("P2", opener("custodian"));
    expect(custodian.records.map((r) => r.record)).toEqual([record("P2", 3)]);
    // A2 is not granted P1; P2 is not P1.
    const a2 = await vault.readTrail("P1", opener("a2"));
    expect(a2.records).toEqual([]);
    expect(a2.notReadable).toHaveLength(2);
    expect((await vault.readTrail("P1", opener("p2"))).records).toEqual([]);
    await verifyClean();
  });

  it("keeps no patient ID, user ID, action or detail in the database file", async () => {
    await enroll("secret", "patient", "PATIENT-SECRET-42");
    await vault.ingest(
      [record("PATIENT-SECRET-42", 1, { userId: "user-secret-7", detail: "detail-secret-text" })],
      "ehr-main",
    );
    await deployment.close();
    const bytes = storedBytes("custos.db", "custos.db-wal", "keystore.json");
    for (const secret of ["PATIENT-SECRET-42", "user-secret-7", "detail-secret-text"]) {
      expect(bytes.includes(Buffer.from(secret)), secret).toBe(false);
    }
  });

  it("starts a new epoch when the period ends, when readers change, and on demand", async () => {
    await vault.ingest([record("P1", 1)], "ehr");
    await vault.ingest([record("P1", 2)], "ehr");
    expect((await vault.keyStatus("P1")).epochs).toBe(1);
    clock += 3_600_000;
    await vault.ingest([record("P1", 3)], "ehr");
    expect((await vault.keyStatus("P1")).epochs).toBe(2);
    await deployment.grant(parties.admin!, { auditor: "A2", patients: ["P1"], from: clock });
    await vault.ingest([record("P1", 4)], "ehr");
    const status = await vault.keyStatus("P1");
    expect(status.epochs).toBe(3);
    expect(status.readers.filter((r) => r.role === "auditor")).toHaveLength(2);
    vault.rotate("P1");
    await vault.ingest([record("P1", 5)], "ehr");
    expect((await vault.keyStatus("P1")).epochs).toBe(4);
    // A2 was granted at epoch 3: it reads records 4 and 5, not the history before its grant.
    const a2 = await vault.readTrail("P1", opener("a2"));
    expect(a2.records.map((r) => r.record.time)).toEqual([record("P1", 5).time, record("P1", 4).time]);
    expect(vault.sealer.epochs.stats()).toMatchObject({ epochsStarted: 4 });
  });

  it("lets the custodian re-wrap history for a newly granted auditor and recover a patient's lost key", async () => {
    await vault.ingest([record("P2", 1), record("P2", 2)], "ehr");
    clock += 3_600_000;
    await vault.ingest([record("P2", 3)], "ehr");
    const custodian = { custodian: parties.custodian!.uri, opener: opener("custodian") };
    await deployment.grant(parties.admin!, { auditor: "A2", patients: ["P2"], from: clock });
    expect(await rewrapHistory(deployment, { ...custodian, auditor: "A2" })).toMatchObject({
      patients: 1,
      envelopes: 2,
      changed: 1,
    });
    expect((await vault.readTrail("P2", opener("a2"))).records).toHaveLength(3);
    // Again: A2 already holds every epoch, nothing is appended.
    const size = await vault.ledger.size();
    expect(await rewrapHistory(deployment, { ...custodian, auditor: "A2" })).toMatchObject({ envelopes: 0 });
    expect(await vault.ledger.size()).toBe(size);

    // P2 loses their key: revoked, a new identity enrolled, the history re-wrapped to the new key.
    await deployment.revoke("patient", "P2");
    await enroll("p2", "patient", "P2");
    expect(await rewrapHistory(deployment, { ...custodian, patients: ["P2"] })).toMatchObject({
      envelopes: 2,
    });
    expect((await vault.readTrail("P2", opener("p2"))).records).toHaveLength(3);
    await verifyClean();
  });

  it("numbers each patient's records 0, 1, 2, ... across epochs, concurrent ingests and restarts", async () => {
    await vault.ingest([record("P1", 0), record("P2", 0), record("P1", 1)], "ehr");
    vault.rotate("P1");
    await Promise.all([
      vault.ingest([record("P1", 2)], "ehr"),
      vault.ingest([record("P1", 3), record("P1", 4)], "ehr"),
    ]);
    clock += 2 * 3_600_000; // the epoch period ends
    await vault.ingest([record("P1", 5)], "ehr");
    await deployment.close();
    await reopen();
    await vault.ingest([record("P1", 6), record("P2", 1)], "ehr");
    const seqs = async (patient: string) =>
      (await vault.patientItems(patient))
        .map((item) => decodeEntry(item.entry))
        .filter((entry) => entry.kind === ENTRY_KINDS.accessRecord)
        .map((entry) => accessRecordFromEntry(entry).header.seq)
        .sort((a, b) => a! - b!);
    expect(await seqs("P1")).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(await seqs("P2")).toEqual([0, 1]);
    // Each record links to the leaf hash of the one numbered before it, across epochs and the restart.
    for (const patient of ["P1", "P2"]) {
      const bySeq = new Map(
        (await vault.patientItems(patient))
          .filter((item) => decodeEntry(item.entry).kind === ENTRY_KINDS.accessRecord)
          .map((item) => [accessRecordFromEntry(decodeEntry(item.entry)).header, item.entry] as const)
          .map(([header, entry]) => [header.seq!, { prev: header.prev, leaf: leafHash(entry) }]),
      );
      expect(bySeq.get(0)!.prev).toBeUndefined();
      for (let seq = 1; seq < bySeq.size; seq++) {
        expect(toHex(bySeq.get(seq)!.prev!)).toBe(toHex(bySeq.get(seq - 1)!.leaf));
      }
    }
  });

  it("refuses a group sealed on top of one that failed to land, so the trail never links to a lost record", async () => {
    await vault.ingest([record("P1", 0)], "ehr"); // P1's epoch begun (its envelopes are in the log)
    // The next write fails, but only once a second group of P1's records (numbered on top of the
    // first, linking to it) is waiting behind it.
    const ledger = vault.ledger;
    const store = ledger.store;
    const realAppend = ledger.append.bind(ledger);
    const realWrite = store.appendBatch.bind(store);
    let appends = 0;
    ledger.append = (items, options) => {
      appends++;
      return realAppend(items, options);
    };
    let failNext = true;
    let writing: () => void = () => undefined;
    const writeStarted = new Promise<void>((resolve) => {
      writing = resolve;
    });
    store.appendBatch = async (batch) => {
      if (!failNext) return realWrite(batch);
      failNext = false;
      writing();
      while (appends < 2) await new Promise((resolve) => setImmediate(resolve));
      throw new Error("disk full");
    };
    const first = vault.ingest([record("P1", 1), record("P1", 2)], "ehr");
    first.catch(() => undefined);
    await writeStarted; // the second group is sealed while the first is being written
    const second = vault.ingest([record("P1", 3)], "ehr");
    await expect(first).rejects.toThrow("disk full");
    await expect(second).rejects.toMatchObject({ code: "STORE_BUSY" });
    // Appends pause after a failed write (no retry at once: a full disk would spin), then resume.
    await expect(vault.ingest([record("P1", 4)], "ehr")).rejects.toMatchObject({ code: "STORE_BUSY" });
    while (ledger.writeState?.state !== "writing") await new Promise((resolve) => setTimeout(resolve, 20));
    // P1's numbering is read again from the log: the next records continue the chain at 1.
    await vault.ingest([record("P1", 4)], "ehr");
    await vault.ingest([record("P1", 5), record("P2", 0)], "ehr");
    const headers = (await vault.patientItems("P1"))
      .map((item) => ({ entry: decodeEntry(item.entry), data: item.entry }))
      .filter(({ entry }) => entry.kind === ENTRY_KINDS.accessRecord)
      .map(({ entry, data }) => ({ ...accessRecordFromEntry(entry).header, leaf: leafHash(data) }));
    expect(headers.map((h) => h.seq)).toEqual([0, 1, 2]);
    expect(toHex(headers[1]!.prev!)).toBe(toHex(headers[0]!.leaf));
    expect(toHex(headers[2]!.prev!)).toBe(toHex(headers[1]!.leaf));
    await verifyClean();
  });

  it("uses up no record number for replays, in the same batch, later, or concurrently", async () => {
    const a = record("P1", 1, { sourceEventId: "a" });
    const b = record("P1", 2, { sourceEventId: "b" });
    const c = record("P1", 3, { sourceEventId: "c" });
    const first = await vault.ingest([a, a, b], "ehr");
    expect(first.map((r) => r.duplicate)).toEqual([false, true, false]);
    expect(first[1]!.index).toBe(first[0]!.index);
    expect(first[1]!.leafHash).toEqual(first[0]!.leafHash);
    const [x, y] = await Promise.all([vault.ingest([b, c], "ehr"), vault.ingest([c, a], "ehr")]);
    expect([...x, ...y].filter((r) => !r.duplicate)).toHaveLength(1);
    const seqs = (await vault.patientItems("P1"))
      .map((item) => decodeEntry(item.entry))
      .filter((entry) => entry.kind === ENTRY_KINDS.accessRecord)
      .map((entry) => accessRecordFromEntry(entry).header.seq)
      .sort();
    expect(seqs).toEqual([0, 1, 2]);
  });

  it("returns the original index for a replayed source event ID", async () => {
    const [first] = await vault.ingest([record("P1", 1, { sourceEventId: "evt-1" })], "ehr");
    const [again] = await vault.ingest([record("P1", 1, { sourceEventId: "evt-1" })], "ehr");
    expect(again!.index).toBe(first!.index);
    expect(again!.duplicate).toBe(true);
    expect((await vault.readTrail("P1", opener("p1"))).records).toHaveLength(1);
  });

  it("refuses a record for a patient without an enrolled key, storing nothing", async () => {
    const before = await vault.ledger.size();
    await expect(vault.ingest([record("P1", 1), record("NOBODY", 2)], "ehr")).rejects.toMatchObject({
      code: "KEY_MISSING",
    });
    expect(await vault.ledger.size()).toBe(before);
  });

  it("reports a record whose ciphertext was altered or moved under another header as tampered", async () => {
    await vault.ingest([record("P1", 1), record("P1", 2)], "ehr");
    const items = await vault.patientItems("P1");
    const recordItems = items.filter((i) => decodeEntry(i.entry).kind === ENTRY_KINDS.accessRecord);
    const db = new Database(join(root.dir, "custos.db"));
    const content = recordItems[0]!.content!;
    const altered = Buffer.from(content);
    altered[20] = altered[20]! ^ 1;
    db.prepare("UPDATE contents SET data = ? WHERE data = ?").run(altered, Buffer.from(content));
    db.close();
    await expect(vault.readTrail("P1", opener("p1"))).rejects.toThrow(
      /entry \d+: the stored record was altered/,
    );

    // A ciphertext re-sealed... moved under another header: open with the wrong header fails.
    const [, second] = recordItems;
    const moved = { ...second!, entry: recordItems[0]!.entry };
    const fresh = opener("p1");
    for (const item of items)
      if (decodeEntry(item.entry).kind === ENTRY_KINDS.keyEnvelope) fresh.addEnvelope(item);
    expect(() => fresh.openRecord(moved)).toThrow(/altered|tampered/);
  });

  it("erases a patient's content under a signed erasure entry; verify stays clean and no copy remains", async () => {
    await vault.ingest([record("P1", 1), record("P1", 2), record("P2", 3)], "ehr");
    const items = await vault.patientItems("P1");
    const secrets = items.map((i) => i.content!).filter(Boolean);
    expect(secrets.length).toBeGreaterThan(0);
    const result = await vault.erase("P1", "erasure-request", "privacy-officer");
    expect(result.erased).toBe(secrets.length);
    await verifyClean();
    expect((await vault.keyStatus("P1")).erasedItems).toBe(secrets.length);
    await deployment.close();
    const file = storedBytes("custos.db", "custos.db-wal");
    for (const secret of secrets) expect(file.includes(Buffer.from(secret))).toBe(false);
    // P2 is untouched.
    await reopen();
    expect((await vault.readTrail("P2", opener("p2"))).records).toHaveLength(1);
  });

  it("says so when a reader in another process keeps erased bytes in the WAL; erasing again finishes", async () => {
    await vault.ingest([record("P1", 1), record("P1", 2)], "ehr");
    const secrets = (await vault.patientItems("P1")).map((i) => i.content!).filter(Boolean);
    // Another process's read transaction, on the snapshot before the erasure (a verify, a backup).
    const reader = new Database(join(root.dir, "custos.db"), { readonly: true });
    reader.exec("BEGIN");
    expect(reader.prepare("SELECT count(*) AS n FROM contents").get()).toMatchObject({
      n: expect.any(Number),
    });
    await expect(vault.erase("P1", "erasure-request", "privacy-officer")).rejects.toMatchObject({
      code: "STORE_BUSY",
      message: expect.stringMatching(
        /write-ahead log still holds the erased bytes: run the same erase again/,
      ),
    });
    const wal = readFileSync(join(root.dir, "custos.db-wal"));
    expect(secrets.some((secret) => wal.includes(Buffer.from(secret)))).toBe(true);
    reader.exec("COMMIT");
    reader.close();
    expect(await vault.erase("P1", "erasure-request", "privacy-officer")).toEqual({ erased: 0, entries: 0 });
    await verifyClean();
    await deployment.close();
    const file = storedBytes("custos.db", "custos.db-wal");
    for (const secret of secrets) expect(file.includes(Buffer.from(secret))).toBe(false);
    await reopen();
  }, 20_000);

  it("names erased content left in a trail copy, and erasing again clears it", async () => {
    await vault.ingest([record("P1", 1), record("P1", 2)], "ehr");
    const items = await vault.patientItems("P1");
    const kept = items.find((i) => i.content !== undefined)!;
    await vault.erase("P1", "erasure-request", "privacy-officer");
    // The copy outlives its content (a crash mid-erasure on another store, or a restore of an old file).
    const db = new Database(join(root.dir, "custos.db"));
    db.prepare("UPDATE lookup SET content = ? WHERE idx = ?").run(kept.content!, kept.index);
    db.close();
    await vault.ledger.checkpoint();
    const store = SqliteStore.open(root.dir, { readonly: true });
    const report = await verifyStore(store);
    await store.close();
    expect(report.findings.map((f) => [f.code, f.firstIndex])).toEqual([["ERASED_CONTENT_KEPT", kept.index]]);
    expect(await vault.erase("P1", "erasure-request", "privacy-officer")).toEqual({ erased: 0, entries: 0 });
    await verifyClean();
  });

  it("reports content deleted without an erasure entry as tampering", async () => {
    await vault.ingest([record("P1", 1)], "ehr");
    await vault.ledger.checkpoint();
    await deployment.close();
    const db = new Database(join(root.dir, "custos.db"));
    db.prepare("DELETE FROM contents WHERE hash = (SELECT hash FROM contents LIMIT 1)").run();
    db.close();
    const store = SqliteStore.open(root.dir, { readonly: true });
    const report = await verifyStore(store);
    await store.close();
    expect(report.findings.map((f) => f.code)).toContain("CONTENT_MISSING");
    await reopen();
  });
});
