// `custos verify` checks the per-patient hash chains of access records (seq, prev): a record linking to
// a record the log does not hold, or two records with one number, are named even when the Merkle tree
// and every checkpoint are consistent (the forgery went through the normal append path).

import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toHex, utf8 } from "../../src/core/bytes.js";
import {
  type AccessRecordHeader,
  accessRecordFromEntry,
  decodeEntry,
  ENTRY_KINDS,
  encodeAccessRecordEntry,
  encodeDataEntry,
  encodeErasureEntry,
} from "../../src/core/entry/index.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { randomBytes, sha256 } from "../../src/core/platform.js";
import type { AuditRecord } from "../../src/core/record/index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import type { AppendItem } from "../../src/ledger/sequencer.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import type { Finding } from "../../src/ledger/verify/findings.js";
import { checkTrailRange, TrailChecker } from "../../src/ledger/verify/trail-chain.js";
import { type VerifyOptions, type VerifyReport, verifyStore } from "../../src/ledger/verify/verifier.js";
import { EpochKeyCache } from "../../src/records/epoch-keys.js";
import { BlindIndex, RecordSealer } from "../../src/records/index.js";
import { lastRecordOf } from "../../src/records/vault.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { registryReaders } from "../helpers/registry-readers.js";
import { createTestLog, dbPath, type TestLog } from "./fixtures.js";

const PATIENTS = ["MRN-1", "MRN-2", "MRN-3", "MRN-4"];
const blindIndex = new BlindIndex(new Uint8Array(32).fill(7));
const tagOf = (patient: string): Uint8Array => blindIndex.patientTag(patient);

let counter = 0;
function record(patientId: string): AuditRecord {
  counter++;
  return {
    time: new Date(Date.UTC(2026, 0, 1) + counter * 60_000).toISOString(),
    patientId,
    userId: `user-${counter % 7}`,
    action: "query",
    sourceEventId: `evt-${counter}`,
  };
}

function newSealer(ledger: Ledger, epochs?: EpochKeyCache): RecordSealer {
  const { directory } = registryReaders({
    deployment: "chain",
    patientTag: (id) => blindIndex.patientTag(id),
    patients: PATIENTS,
  });
  return new RecordSealer({
    blindIndex,
    directory,
    log: ledger,
    lastRecord: (tag) => lastRecordOf(ledger, tag),
    ...(epochs === undefined ? {} : { epochs }),
  });
}

/** Records over all patients, interleaved, appended in a few batches (each patient's trail 0, 1, 2...). */
async function writeRecords(ledger: Ledger, sealer: RecordSealer, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const records = PATIENTS.flatMap((p, i) =>
      Array.from({ length: 1 + ((round + i) % 3) }, () => record(p)),
    );
    await ledger.append(await sealer.seal(records, "ehr-main"));
  }
  await ledger.checkpoint();
}

interface TrailEntry {
  readonly index: number;
  readonly data: Uint8Array;
  readonly header: AccessRecordHeader;
}

/** The patient's access records in the log, by index. */
async function trailOf(store: LedgerStore, patient: string): Promise<TrailEntry[]> {
  const tag = toHex(tagOf(patient));
  const trail: TrailEntry[] = [];
  for await (const chunk of store.scanEntries(0, Number.MAX_SAFE_INTEGER, 1024)) {
    for (const { index, data } of chunk) {
      const entry = decodeEntry(data);
      if (entry.kind !== ENTRY_KINDS.accessRecord) continue;
      const { header } = accessRecordFromEntry(entry);
      if (toHex(header.patientTag) === tag) trail.push({ index, data, header });
    }
  }
  return trail;
}

/** An access record made by hand (as a forger with the log's write path would), with its content. */
function forgedRecord(template: AccessRecordHeader, seq: number, prev: Uint8Array | undefined): AppendItem {
  const content = randomBytes(64);
  const header: AccessRecordHeader = {
    epochId: template.epochId,
    patientTag: template.patientTag,
    hour: template.hour,
    source: template.source,
    seq,
    ...(prev === undefined ? {} : { prev }),
  };
  return {
    entry: encodeAccessRecordEntry(header, sha256(content)),
    content,
    lookupKeys: [template.patientTag],
  };
}

function only(report: VerifyReport, code: Finding["code"]): Finding {
  expect(report.findings.map((f) => f.code)).toEqual([code]);
  return report.findings[0]!;
}

function expectNoPatientData(finding: Finding): void {
  for (const patient of PATIENTS) {
    expect(finding.message).not.toContain(toHex(tagOf(patient)));
    expect(finding.message).not.toContain(patient);
  }
}

/** SQL on the store's own database, `?` for parameters (PostgreSQL's $n are numbered from them). */
type Exec = (text: string, ...params: unknown[]) => Promise<void>;

/**
 * Edits of the trail copies kept in lookup rows, which history queries read instead of the entries:
 * each must be named by verify, exactly as an edit of the entries would be. Entry a's copy gets
 * another record's entry, b's copy other content, c's copy loses its content; d's content is erased
 * under a signed erasure entry but its copy kept; e is erased properly (no finding).
 */
async function attackTrailCopies(
  ledger: Ledger,
  exec: Exec,
  verify: (options?: VerifyOptions) => Promise<VerifyReport>,
): Promise<void> {
  expect((await verify()).findings).toEqual([]);
  const trail = await trailOf(ledger.store, "MRN-1");
  const [a, b, c, d, e] = [trail[2]!, trail[4]!, trail[5]!, trail[6]!, trail[8]!];
  // A plain entry filed under the patient's tag names no content: its copy must hold none either.
  const [plain] = await ledger.append([
    { entry: encodeDataEntry(utf8("plain")), lookupKeys: [tagOf("MRN-1")] },
  ]);
  const hashOf = (r: TrailEntry) => accessRecordFromEntry(decodeEntry(r.data)).contentHash;
  await exec("UPDATE lookup SET entry = ? WHERE idx = ?", trail[3]!.data, a.index);
  await exec("UPDATE lookup SET content = ? WHERE idx = ?", randomBytes(64), b.index);
  await exec("UPDATE lookup SET content = NULL WHERE idx = ?", c.index);
  await exec("UPDATE lookup SET content = ? WHERE idx = ?", randomBytes(64), plain!.index);
  await ledger.append([
    {
      entry: encodeErasureEntry({
        time: Date.UTC(2026, 1, 1),
        reason: "erasure-request",
        subject: "patient-tag:test",
        contentHashes: [hashOf(d), hashOf(e)],
        authorizedBy: "test",
      }),
    },
  ]);
  await ledger.checkpoint();
  await exec("DELETE FROM contents WHERE hash = ?", hashOf(d));
  await ledger.store.deleteContent([hashOf(e)], [e.index]);
  for (const chunkSize of [5, 8192]) {
    const report = await verify({ chunkSize });
    const found = report.findings.map((f) => [f.code, f.firstIndex] as const);
    expect(found.sort((x, y) => x[1]! - y[1]!)).toEqual(
      [
        ["TRAIL_COPY_MODIFIED", a.index],
        ["TRAIL_COPY_MODIFIED", b.index],
        ["TRAIL_COPY_MODIFIED", c.index],
        ["ERASED_CONTENT_KEPT", d.index],
        ["TRAIL_COPY_MODIFIED", plain!.index],
      ].sort((x, y) => (x[1] as number) - (y[1] as number)),
    );
    for (const finding of report.findings) expectNoPatientData(finding);
  }
}

describe("verify checks each patient's hash chain (SQLite)", () => {
  let log: TestLog;
  let sealer: RecordSealer;

  beforeEach(async () => {
    log = await createTestLog();
    sealer = newSealer(log.ledger);
    await writeRecords(log.ledger, sealer, 12);
  });
  afterEach(async () => log.cleanup());

  async function verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    const store = SqliteStore.open(log.dir, { readonly: true });
    try {
      return await verifyStore(store, options);
    } finally {
      await store.close();
    }
  }

  async function append(item: AppendItem): Promise<number> {
    const [result] = await log.ledger.append([item]);
    await log.ledger.checkpoint();
    return result!.index;
  }

  it("passes a clean log, with the newest records cached or read back from the store", async () => {
    const trail = await trailOf(log.ledger.store, "MRN-2");
    expect(trail.map((r) => r.header.seq)).toEqual(trail.map((_, i) => i));
    expect(trail.slice(1).every((r, i) => toHex(r.header.prev!) === toHex(leafHash(trail[i]!.data)))).toBe(
      true,
    );
    for (const trailCacheSize of [undefined, 1, 2]) {
      const report = await verify({ trailCacheSize });
      expect(report.findings).toEqual([]);
      expect(report.ok).toBe(true);
    }
  });

  it("stays one chain per patient when the sealer's bounded cache forgets positions (read back from the log)", async () => {
    // One live epoch and one remembered position for four interleaved patients: almost every record
    // finds its patient forgotten and continues from the log (at scale: more patients than the cache).
    const forgetful = newSealer(log.ledger, new EpochKeyCache({ maxLive: 1, maxRetired: 1 }));
    for (let round = 0; round < 3; round++) {
      for (const patient of PATIENTS) {
        await log.ledger.append(await forgetful.seal([record(patient), record(patient)], "ehr-main"));
      }
    }
    await log.ledger.checkpoint();
    for (const patient of PATIENTS) {
      const trail = await trailOf(log.ledger.store, patient);
      expect(trail.map((r) => r.header.seq)).toEqual(trail.map((_, i) => i));
    }
    expect((await verify()).findings).toEqual([]);
  });

  it("refuses, before writing anything, a batch naming more patients than can hold a live epoch at once", async () => {
    const small = newSealer(log.ledger, new EpochKeyCache({ maxLive: 2 }));
    const size = await log.ledger.size();
    const batch = PATIENTS.slice(0, 3).map((patient) => record(patient));
    await expect(small.seal(batch, "ehr-main")).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
      message: expect.stringContaining("at most 2 can be sealed together"),
    });
    expect(await log.ledger.size()).toBe(size);
    // Two patients fit, and land.
    await log.ledger.append(await small.seal(batch.slice(0, 2), "ehr-main"));
    expect(await log.ledger.size()).toBeGreaterThan(size);
  });

  it("names a record whose link points at a record the log does not hold", async () => {
    const trail = await trailOf(log.ledger.store, "MRN-3");
    const last = trail[trail.length - 1]!;
    const forged = await append(forgedRecord(last.header, last.header.seq! + 1, randomBytes(32)));
    for (const trailCacheSize of [undefined, 1]) {
      const finding = only(await verify({ trailCacheSize }), "TRAIL_BROKEN");
      expect([finding.firstIndex, finding.lastIndex]).toEqual([forged, forged]);
      expect(finding.message).toContain(`entry ${forged} `);
      expectNoPatientData(finding);
    }
  });

  it("checks only a range of entries (what a mirror just copied), reading links before it from the store", async () => {
    const size = await log.ledger.size();
    expect(await checkTrailRange(log.ledger.store, 0, size)).toEqual([]);
    expect(await checkTrailRange(log.ledger.store, Math.floor(size / 2), size)).toEqual([]);
    const trail = await trailOf(log.ledger.store, "MRN-4");
    const last = trail[trail.length - 1]!;
    const forged = await append(forgedRecord(last.header, last.header.seq! + 1, randomBytes(32)));
    const honest = await append(forgedRecord(last.header, last.header.seq! + 1, leafHash(last.data)));
    const findings = await checkTrailRange(log.ledger.store, size, honest + 1);
    expect(findings.map((f) => [f.code, f.firstIndex]).sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
      ["TRAIL_BROKEN", forged],
      ["TRAIL_FORKED", honest],
    ]);
    expect(await checkTrailRange(log.ledger.store, 0, size)).toEqual([]);
  });

  it("names a record linking to the right place under the wrong number", async () => {
    const trail = await trailOf(log.ledger.store, "MRN-1");
    const last = trail[trail.length - 1]!;
    // Links to the newest record, but claims to be two further on.
    const forged = await append(forgedRecord(last.header, last.header.seq! + 2, leafHash(last.data)));
    const finding = only(await verify(), "TRAIL_BROKEN");
    expect(finding.firstIndex).toBe(forged);
  });

  it("names a second record with a number the patient's trail already has", async () => {
    const trail = await trailOf(log.ledger.store, "MRN-4");
    const target = trail[5]!;
    // A correctly linked fork: a second record 5 after record 4.
    const forged = await append(forgedRecord(target.header, 5, leafHash(trail[4]!.data)));
    for (const trailCacheSize of [undefined, 1]) {
      const finding = only(await verify({ trailCacheSize }), "TRAIL_FORKED");
      expect([finding.firstIndex, finding.lastIndex]).toEqual([forged, forged]);
      expect(finding.message).toContain(`entry ${target.index}`);
      expectNoPatientData(finding);
    }
  });

  it("names a second record 0 of a patient", async () => {
    const trail = await trailOf(log.ledger.store, "MRN-1");
    const forged = await append(forgedRecord(trail[0]!.header, 0, undefined));
    expect(only(await verify({ trailCacheSize: 1 }), "TRAIL_FORKED").firstIndex).toBe(forged);
    expect(only(await verify(), "TRAIL_FORKED").firstIndex).toBe(forged);
  });

  it("passes records that landed out of order (the later number first), both linked", async () => {
    const first = await sealer.seal([record("MRN-2")], "ehr-main");
    const second = await sealer.seal([record("MRN-2")], "ehr-main");
    const [later] = await log.ledger.append(second);
    const [earlier] = await log.ledger.append(first);
    await writeRecords(log.ledger, sealer, 2);
    const [a, b] = [first, second].map((items) => accessRecordFromEntry(decodeEntry(items[0]!.entry)).header);
    expect(b!.seq).toBe(a!.seq! + 1);
    expect(toHex(b!.prev!)).toBe(toHex(leafHash(first[0]!.entry)));
    expect(later!.index).toBeLessThan(earlier!.index);
    for (const trailCacheSize of [undefined, 1, 2]) {
      expect((await verify({ trailCacheSize })).findings).toEqual([]);
    }
  });

  it("finds the record linked to just above the one linking to it, without waiting", async () => {
    const first = await sealer.seal([record("MRN-3")], "ehr-main");
    const second = await sealer.seal([record("MRN-3")], "ehr-main");
    const [later] = await log.ledger.append(second);
    await log.ledger.append(first);
    await writeRecords(log.ledger, sealer, 1);
    for (const cacheSize of [undefined, 1]) {
      // No second look after a pause: the first look, above the record, must find it.
      const findings: Finding[] = [];
      const checker = new TrailChecker(log.ledger.store, {
        fullScan: true,
        cacheSize,
        settleWindow: 0,
        findings,
      });
      let last = 0;
      for await (const chunk of log.ledger.store.scanEntries(0, Number.MAX_SAFE_INTEGER, 16)) {
        for (const { index, data } of chunk) {
          last = index;
          const entry = decodeEntry(data);
          if (entry.kind === ENTRY_KINDS.accessRecord) {
            checker.observe(index, leafHash(data), accessRecordFromEntry(entry).header);
          }
        }
        await checker.flush();
      }
      const started = performance.now();
      await checker.finish(last);
      expect(performance.now() - started).toBeLessThan(500);
      expect(findings).toEqual([]);
      expect(later!.index).toBeLessThan(last);
    }
  });

  it("checks what an incremental run adds, reading the links before it from the store", async () => {
    const full = await verify();
    expect(full.ok).toBe(true);
    await writeRecords(log.ledger, sealer, 3);
    const clean = await verify({ state: full.nextState!, incremental: true });
    expect(clean.incremental).toBe(true);
    expect(clean.findings).toEqual([]);

    const trail = await trailOf(log.ledger.store, "MRN-3");
    const forged = await append(forgedRecord(trail[2]!.header, 2, leafHash(trail[1]!.data)));
    await writeRecords(log.ledger, sealer, 1);
    const report = await verify({ state: full.nextState!, incremental: true });
    expect(only(report, "TRAIL_FORKED").firstIndex).toBe(forged);
  });

  it("reports altered and deleted content exactly, reading it a chunk at a time", async () => {
    expect((await verify({ chunkSize: 3 })).findings).toEqual([]);
    const trail = await trailOf(log.ledger.store, "MRN-1");
    const [altered, deleted] = [trail[3]!, trail[7]!];
    const hashOf = (r: TrailEntry) => accessRecordFromEntry(decodeEntry(r.data)).contentHash;
    const db = new Database(dbPath(log.dir));
    try {
      db.prepare("UPDATE contents SET data = ? WHERE hash = ?").run(randomBytes(64), hashOf(altered));
      db.prepare("DELETE FROM contents WHERE hash = ?").run(hashOf(deleted));
    } finally {
      db.close();
    }
    for (const chunkSize of [3, 8192]) {
      const report = await verify({ chunkSize });
      expect(report.findings.map((f) => [f.code, f.firstIndex, f.lastIndex])).toEqual([
        ["CONTENT_MODIFIED", altered.index, altered.index],
        ["CONTENT_MISSING", deleted.index, deleted.index],
      ]);
    }
  });
  it("blames an edited entry, not its faithful copies", async () => {
    const trail = await trailOf(log.ledger.store, "MRN-2");
    const db = new Database(dbPath(log.dir));
    try {
      const forged = Buffer.from(trail[5]!.data);
      forged[forged.length - 40] = forged[forged.length - 40]! ^ 1;
      db.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(forged, trail[5]!.index);
    } finally {
      db.close();
    }
    const codes = (await verify()).findings.map((f) => f.code);
    expect(codes).toContain("ENTRY_MODIFIED");
    expect(codes).not.toContain("TRAIL_COPY_MODIFIED");
  });

  it("names, in an incremental run, a copy of older content that an erasure since then left behind", async () => {
    const full = await verify();
    expect(full.ok).toBe(true);
    const trail = await trailOf(log.ledger.store, "MRN-4");
    const [erasedRight, leftBehind] = [trail[1]!, trail[2]!];
    const hashOf = (r: TrailEntry) => accessRecordFromEntry(decodeEntry(r.data)).contentHash;
    await log.ledger.append([
      {
        entry: encodeErasureEntry({
          time: Date.UTC(2026, 1, 1),
          reason: "erasure-request",
          subject: `patient-tag:${toHex(tagOf("MRN-4"))}`,
          contentHashes: [hashOf(erasedRight), hashOf(leftBehind)],
          authorizedBy: "test",
        }),
      },
    ]);
    await log.ledger.checkpoint();
    await log.ledger.store.deleteContent([hashOf(erasedRight), hashOf(leftBehind)], [erasedRight.index]);
    const report = await verify({ state: full.nextState!, incremental: true });
    expect(report.incremental).toBe(true);
    expect(report.findings.map((f) => [f.code, f.firstIndex])).toEqual([
      ["ERASED_CONTENT_KEPT", leftBehind.index],
    ]);
  });

  it("names trail copies that differ from the log, and erased content still kept in one", async () => {
    const exec: Exec = async (text, ...params) => {
      const db = new Database(dbPath(log.dir));
      try {
        db.prepare(text).run(...params);
      } finally {
        db.close();
      }
    };
    await attackTrailCopies(log.ledger, exec, verify);
  });
});

describe("verify checks each patient's hash chain (PostgreSQL)", () => {
  let schema: string;
  const { signerKey } = generateSignerKey("chain.custos.example/log");

  beforeEach(async () => {
    await requirePostgres();
    schema = testSchema();
    const store = await PostgresStore.open(PG_URL, { schema, create: true });
    await store.initialize({
      origin: "chain.custos.example/log",
      verifierKey: verifierKeyFromSigner(signerKey),
      createdAt: 0,
      formatVersion: 1,
    });
    expect(await store.acquireSequencerLock()).toBe(true);
    const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 60_000 });
    await writeRecords(ledger, newSealer(ledger), 12);
    await ledger.close();
  });
  afterEach(async () => dropSchema(schema));

  async function verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    const store = await PostgresStore.open(PG_URL, { schema });
    try {
      return await verifyStore(store, options);
    } finally {
      await store.close();
    }
  }

  it("passes a clean log and names a broken link and a repeated number", async () => {
    expect((await verify()).findings).toEqual([]);
    expect((await verify({ trailCacheSize: 1, chunkSize: 7 })).findings).toEqual([]);

    const store = await PostgresStore.open(PG_URL, { schema });
    expect(await store.acquireSequencerLock()).toBe(true);
    const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 60_000 });
    const trail = await trailOf(store, "MRN-2");
    const last = trail[trail.length - 1]!;
    const [broken] = await ledger.append([forgedRecord(last.header, last.header.seq! + 1, randomBytes(32))]);
    const [fork] = await ledger.append([forgedRecord(trail[3]!.header, 3, leafHash(trail[2]!.data))]);
    await ledger.checkpoint();
    await ledger.close();

    for (const trailCacheSize of [undefined, 1]) {
      const report = await verify({ trailCacheSize });
      expect(report.findings.map((f) => [f.code, f.firstIndex])).toEqual([
        ["TRAIL_BROKEN", broken!.index],
        ["TRAIL_FORKED", fork!.index],
      ]);
    }
  });
  it("names trail copies that differ from the log, and erased content still kept in one", async () => {
    const store = await PostgresStore.open(PG_URL, { schema });
    expect(await store.acquireSequencerLock()).toBe(true);
    const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 60_000 });
    const exec: Exec = async (text, ...params) => {
      let n = 0;
      const numbered = text
        .replace(/\?/g, () => `$${++n}`)
        .replace(/\b(lookup|contents)\b/g, `"${schema}".$1`);
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(numbered, params);
      } finally {
        await client.end();
      }
    };
    try {
      await attackTrailCopies(ledger, exec, verify);
    } finally {
      await ledger.close();
    }
  });
});
