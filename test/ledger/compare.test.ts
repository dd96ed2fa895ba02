// compareWithReference on real SQLite files, in small batches so runs cross batch boundaries: a clean
// copy compares clean, damage is folded into exact ranges, local entries past the reference are
// counted as not yet copied, and a reference that does not rebuild its own checkpoint is refused.

import { cpSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CustosError } from "../../src/core/errors.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { type ComparisonReport, compareWithReference } from "../../src/ledger/verify/compare.js";
import { StoreReference } from "../../src/ledger/verify/reference-log.js";
import { createTestLog, dataEntry, dbPath, ORIGIN, type TestLog } from "./fixtures.js";

const SIZE = 300;
let log: TestLog;
let mirrorDir: string;

beforeEach(async () => {
  log = await createTestLog();
  await log.ledger.append(Array.from({ length: SIZE }, (_, i) => ({ entry: dataEntry(i) })));
  await log.ledger.checkpoint();
  await log.ledger.close();
  mirrorDir = join(log.dir, "mirror");
  cpSync(dbPath(log.dir), join(mirrorDir, "custos.db"), { recursive: true });
});

afterEach(async () => {
  await log.cleanup();
});

async function compare(
  localDir: string | null = log.dir,
  verifierKey = log.verifierKey,
): Promise<ComparisonReport> {
  const local = localDir === null ? undefined : SqliteStore.open(localDir, { readonly: true });
  const mirror = SqliteStore.open(mirrorDir, { readonly: true });
  try {
    const reference = await StoreReference.of("the mirror", mirror, 5);
    return await compareWithReference(local, reference, { origin: ORIGIN, verifierKey, chunkSize: 7 });
  } finally {
    await mirror.close();
    await local?.close();
  }
}

function attack(dir: string, sql: (db: Database.Database) => void): void {
  const db = new Database(dbPath(dir));
  try {
    sql(db);
  } finally {
    db.close();
  }
}

const ranges = (report: ComparisonReport) =>
  report.findings.map((f) => [f.code, f.firstIndex, f.lastIndex, f.entryKinds]);

describe("comparing a store with a mirror's copy", () => {
  it("finds an identical copy clean", async () => {
    const report = await compare();
    expect(report.ok).toBe(true);
    expect(report.entriesCompared).toBe(SIZE);
    expect(report.localEntries).toBe(SIZE);
    expect(report.notYetCopied).toBeUndefined();
  });

  it("folds edited and deleted entries into exact ranges across batch boundaries", async () => {
    attack(log.dir, (db) => {
      const edit = db.prepare("UPDATE entries SET data = ? WHERE idx = ?");
      for (const i of [6, 7, 8, 100]) edit.run(Buffer.from(dataEntry(i + 1000)), i);
      db.prepare("DELETE FROM entries WHERE idx BETWEEN 13 AND 15").run();
      db.prepare("DELETE FROM entries WHERE idx >= 290").run();
    });
    const report = await compare();
    expect(ranges(report)).toEqual([
      ["ENTRY_MODIFIED", 6, 8, ["data"]],
      ["ENTRIES_MISSING", 13, 15, ["data"]],
      ["ENTRY_MODIFIED", 100, 100, ["data"]],
      ["ENTRIES_MISSING", 290, SIZE - 1, ["data"]],
    ]);
    expect(report.findings[3]!.message).toMatch(
      /^10 acknowledged entries \(entries 290 to 299: data entries\)/,
    );
    expect(report.localEntries).toBe(SIZE - 3 - 10);
  });

  it("counts local entries past the reference's checkpoint as not yet copied, not as damage", async () => {
    const ledger = await log.reopen();
    await ledger.append(Array.from({ length: 4 }, (_, i) => ({ entry: dataEntry(SIZE + i) })));
    await ledger.checkpoint();
    await ledger.close();
    const report = await compare();
    expect(report.ok).toBe(true);
    expect(report.notYetCopied).toEqual({ firstIndex: SIZE, lastIndex: SIZE + 3, count: 4 });
  });

  it("reports a lost store with the whole range the mirror holds", async () => {
    const report = await compare(null);
    expect(ranges(report)).toEqual([["STORE_LOST", 0, SIZE - 1, undefined]]);
  });

  it("refuses a reference whose entries do not rebuild its signed checkpoint", async () => {
    attack(mirrorDir, (db) =>
      db.prepare("UPDATE entries SET data = ? WHERE idx = 42").run(Buffer.from(dataEntry(9))),
    );
    await expect(compare()).rejects.toThrow(
      /cannot serve as a reference: its entries do not rebuild the root/,
    );
  });

  it("refuses a reference of another log or signed by another key", async () => {
    const other = verifierKeyFromSigner(generateSignerKey(ORIGIN).signerKey);
    const error = (await compare(log.dir, other).catch((e: unknown) => e)) as CustosError;
    expect(error.code).toBe("CONFIG");
    expect(error.message).toMatch(/a copy of another log/);
  });
});
