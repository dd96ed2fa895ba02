// Attacks on the real SQLite file, each of which `verify` must detect and locate exactly.

import { readFileSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes.js";
import { encodeDataEntry } from "../../src/core/entry/index.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { Finding } from "../../src/ledger/verify/findings.js";
import { type VerifyReport, verifyStore } from "../../src/ledger/verify/verifier.js";
import { createTestLog, dataEntry, dbPath, type TestLog } from "./fixtures.js";

const SIZE = 1000;
let log: TestLog;

beforeEach(async () => {
  log = await createTestLog();
  // Three checkpoints along the way, like a running node.
  for (const end of [300, 700, SIZE]) {
    const start = await log.ledger.size();
    await log.ledger.append(Array.from({ length: end - start }, (_, i) => ({ entry: dataEntry(start + i) })));
    await log.ledger.checkpoint();
  }
  await log.ledger.close();
});

afterEach(async () => {
  await log.cleanup();
});

async function verify(options: Parameters<typeof verifyStore>[1] = {}): Promise<VerifyReport> {
  const store = SqliteStore.open(log.dir, { readonly: true });
  try {
    return await verifyStore(store, options);
  } finally {
    await store.close();
  }
}

function attack(sql: (db: Database.Database) => void): void {
  const db = new Database(dbPath(log.dir));
  try {
    sql(db);
  } finally {
    db.close();
  }
}

function codes(report: VerifyReport): string[] {
  return report.findings.map((f) => f.code);
}

function find(report: VerifyReport, code: Finding["code"]): Finding {
  const finding = report.findings.find((f) => f.code === code);
  expect(finding, `expected a ${code} finding, got ${JSON.stringify(report.findings)}`).toBeDefined();
  return finding!;
}

describe("verify on an untouched store", () => {
  it("reports no findings and the latest checkpoint", async () => {
    const report = await verify();
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.entriesChecked).toBe(SIZE);
    expect(report.latestCheckpoint?.size).toBe(SIZE);
    expect(report.checkpointsChecked).toBe(3);
  });
});

describe("verify detects direct edits of the SQLite file", () => {
  it("names an entry whose bytes were changed with SQL", async () => {
    attack((db) =>
      db.prepare("UPDATE entries SET data = ? WHERE idx = 123").run(encodeDataEntry(utf8("forged"))),
    );
    const report = await verify();
    expect(report.ok).toBe(false);
    const finding = find(report, "ENTRY_MODIFIED");
    expect([finding.firstIndex, finding.lastIndex]).toEqual([123, 123]);
    expect(finding.message).toContain("entry 123");
    // The tree itself was not touched: only the entry and, as a consequence, the signed root.
    expect([...new Set(codes(report))].sort()).toEqual(["CHECKPOINT_MISMATCH", "ENTRY_MODIFIED"]);
  });

  it("names an entry whose bytes were flipped in the raw database file", async () => {
    // Entry 555's text is unique in the file; flip one byte of it on disk.
    const marker = Buffer.from("entry number 555 ");
    const file = readFileSync(dbPath(log.dir));
    const at = file.indexOf(marker);
    expect(at).toBeGreaterThan(0);
    file[at + marker.length - 2] = file[at + marker.length - 2]! ^ 0x01;
    writeFileSync(dbPath(log.dir), file);
    const finding = find(await verify(), "ENTRY_MODIFIED");
    expect([finding.firstIndex, finding.lastIndex]).toEqual([555, 555]);
  });

  it("names a deleted row", async () => {
    attack((db) => db.prepare("DELETE FROM entries WHERE idx = 400").run());
    const finding = find(await verify(), "ENTRIES_MISSING");
    expect([finding.firstIndex, finding.lastIndex]).toEqual([400, 400]);
  });

  it("names a range of deleted rows", async () => {
    attack((db) => db.prepare("DELETE FROM entries WHERE idx BETWEEN 10 AND 19").run());
    const finding = find(await verify(), "ENTRIES_MISSING");
    expect([finding.firstIndex, finding.lastIndex]).toEqual([10, 19]);
  });

  it("names a row inserted past the end of the log", async () => {
    attack((db) => db.prepare("INSERT INTO entries (idx, data) VALUES (?, ?)").run(SIZE, dataEntry(9999)));
    const finding = find(await verify(), "EXTRA_ENTRIES");
    expect(finding.firstIndex).toBe(SIZE);
  });

  it("names a row inserted in the middle with the later rows renumbered", async () => {
    attack((db) => {
      db.prepare("UPDATE entries SET idx = -idx - 1 WHERE idx >= 250").run();
      db.prepare("UPDATE entries SET idx = -idx WHERE idx < 0").run();
      db.prepare("INSERT INTO entries (idx, data) VALUES (250, ?)").run(encodeDataEntry(utf8("inserted")));
    });
    const report = await verify();
    const finding = find(report, "ENTRIES_INSERTED");
    expect(finding.firstIndex).toBe(250);
    expect(finding.message).toContain("inserted at position 250");
  });

  it("names two swapped rows", async () => {
    attack((db) => {
      const a = db.prepare("SELECT data FROM entries WHERE idx = 600").get() as { data: Buffer };
      const b = db.prepare("SELECT data FROM entries WHERE idx = 601").get() as { data: Buffer };
      db.prepare("UPDATE entries SET data = ? WHERE idx = 600").run(b.data);
      db.prepare("UPDATE entries SET data = ? WHERE idx = 601").run(a.data);
    });
    const report = await verify();
    const reordered = report.findings.filter((f) => f.code === "ENTRIES_REORDERED");
    expect(reordered.map((f) => f.firstIndex)).toEqual([600, 601]);
    expect(codes(report)).not.toContain("ENTRY_MODIFIED");
  });

  it("reports truncation below a signed size", async () => {
    attack((db) => {
      db.prepare("DELETE FROM entries WHERE idx >= 650").run();
      db.prepare("UPDATE meta SET value = '650' WHERE key = 'size'").run();
    });
    const finding = find(await verify(), "LOG_TRUNCATED");
    expect([finding.firstIndex, finding.lastIndex]).toEqual([650, SIZE - 1]);
    expect(finding.checkpointSize).toBe(SIZE);
  });

  it("reports a checkpoint whose text was replaced", async () => {
    attack((db) => {
      const row = db.prepare("SELECT id, note FROM checkpoints ORDER BY id DESC LIMIT 1").get() as {
        id: number;
        note: string;
      };
      db.prepare("UPDATE checkpoints SET note = ? WHERE id = ?").run(
        row.note.replace(`\n${SIZE}\n`, "\n999\n"),
        row.id,
      );
    });
    const finding = find(await verify(), "CHECKPOINT_BAD_SIGNATURE");
    expect(finding.checkpointPosition).toBe(2);
  });

  it("reports an older checkpoint replayed as the newest (rollback)", async () => {
    attack((db) => {
      const old = db.prepare("SELECT size, note FROM checkpoints WHERE size = 300").get() as {
        size: number;
        note: string;
      };
      db.prepare("INSERT INTO checkpoints (size, note, stored_at) VALUES (?, ?, ?)").run(
        old.size,
        old.note,
        Date.now(),
      );
    });
    const finding = find(await verify(), "CHECKPOINT_ROLLED_BACK");
    expect(finding.checkpointSize).toBe(300);
  });

  it("reports checkpoints deleted since the last verification (rollback against the verifier's state)", async () => {
    const clean = await verify();
    expect(clean.nextState?.size).toBe(SIZE);
    attack((db) => db.prepare("DELETE FROM checkpoints WHERE size > 300").run());
    const report = await verify({ state: clean.nextState! });
    const finding = find(report, "CHECKPOINT_ROLLED_BACK");
    expect(finding.checkpointSize).toBe(SIZE);
  });

  it("reports an edited tree node", async () => {
    attack((db) => {
      const row = db.prepare("SELECT hashes FROM tiles WHERE level = 1 AND idx = 2").get() as {
        hashes: Buffer;
      };
      row.hashes[0] = row.hashes[0]! ^ 0xff;
      db.prepare("UPDATE tiles SET hashes = ? WHERE level = 1 AND idx = 2").run(row.hashes);
    });
    const report = await verify();
    const finding = find(report, "TREE_MODIFIED");
    expect(finding.firstIndex).toBe(512);
    expect(codes(report)).not.toContain("ENTRY_MODIFIED");
  });

  it("names an edited leaf tile as that tile, not as its intact entries", async () => {
    attack((db) => {
      const row = db.prepare("SELECT hashes FROM tiles WHERE level = 0 AND idx = 7").get() as {
        hashes: Buffer;
      };
      row.hashes[40] = row.hashes[40]! ^ 0x01;
      db.prepare("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = 7").run(row.hashes);
    });
    const report = await verify();
    expect(codes(report)).toEqual(["TILE_MODIFIED"]);
    expect(report.findings[0]!.tile).toEqual({ level: 0, index: 7 });
    expect(report.findings[0]!.message).toContain("tile 0/7");
  });

  it("names an entry stored as SQL text where bytes belong, and goes on checking the rest", async () => {
    attack((db) => {
      db.prepare("UPDATE entries SET data = CAST(data AS TEXT) WHERE idx = 321").run();
      db.prepare("DELETE FROM entries WHERE idx = 600").run();
    });
    const report = await verify();
    const mistyped = find(report, "VALUE_MISTYPED");
    expect([mistyped.firstIndex, mistyped.lastIndex]).toEqual([321, 321]);
    expect(mistyped.message).toContain("entry 321");
    expect(mistyped.message).toContain("SQL text");
    expect(find(report, "ENTRIES_MISSING").firstIndex).toBe(600);
  });

  it("catches an entry edited together with its leaf hash through the signed root", async () => {
    attack((db) => {
      const forged = encodeDataEntry(utf8("forged and rehashed"));
      db.prepare("UPDATE entries SET data = ? WHERE idx = 5").run(forged);
      // The attacker also rewrites the leaf hash in the level-0 tile.
      const row = db.prepare("SELECT hashes FROM tiles WHERE level = 0 AND idx = 0").get() as {
        hashes: Buffer;
      };
      row.hashes.set(leafHash(forged), 5 * 32);
      db.prepare("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = 0").run(row.hashes);
    });
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(codes(report)).toContain("TREE_MODIFIED");
    expect(codes(report)).toContain("CHECKPOINT_MISMATCH");
  });
});

describe("incremental verify", () => {
  it("checks only entries appended since the last clean run, and still catches tampering with them", async () => {
    const first = await verify();
    expect(first.ok).toBe(true);
    const ledger = await log.reopen();
    await ledger.append(Array.from({ length: 200 }, (_, i) => ({ entry: dataEntry(SIZE + i) })));
    await ledger.checkpoint();
    await ledger.close();

    const incremental = await verify({ state: first.nextState!, incremental: true });
    expect(incremental.findings).toEqual([]);
    expect(incremental.entriesChecked).toBe(200);
    expect(incremental.from).toBe(SIZE);

    attack((db) =>
      db.prepare("UPDATE entries SET data = ? WHERE idx = 1100").run(encodeDataEntry(utf8("x"))),
    );
    const tampered = await verify({ state: first.nextState!, incremental: true });
    const finding = find(tampered, "ENTRY_MODIFIED");
    expect(finding.firstIndex).toBe(1100);
  });

  it("reports history rewritten before the verified size", async () => {
    const first = await verify();
    // The upper tree over entries 0..255 is rewritten (as a forger re-hashing old entries must).
    attack((db) => {
      const row = db.prepare("SELECT hashes FROM tiles WHERE level = 2 AND idx = 0").get() as {
        hashes: Buffer;
      };
      row.hashes[3] = row.hashes[3]! ^ 1;
      db.prepare("UPDATE tiles SET hashes = ? WHERE level = 2 AND idx = 0").run(row.hashes);
    });
    const report = await verify({ state: first.nextState!, incremental: true });
    find(report, "HISTORY_REWRITTEN");
  });
});
