// Child process for the ingest benchmark: the floor for a durable append, the least any log must do
// with the same entries: one SHA-256 per 300-byte entry and the entries inserted into an SQLite file
// (WAL, synchronous=FULL) in transactions of 16,000 rows (what 16 groups of 1,000 in flight give the
// sequencer), multi-row inserts of 128 rows. Prints one JSON line: { count, perSecond }.

import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

const count = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), "custos-bench-floor-"));
try {
  const db = new Database(join(dir, "floor.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, hash BLOB NOT NULL)");
  const rows = 128;
  const insert = db.prepare(
    `INSERT INTO entries (idx, data, hash) VALUES ${Array.from({ length: rows }, () => "(?, ?, ?)").join(", ")}`,
  );
  const one = db.prepare("INSERT INTO entries (idx, data, hash) VALUES (?, ?, ?)");
  const payload = new Uint8Array(300);
  const started = performance.now();
  const batch = 16_000;
  for (let next = 0; next < count; next += batch) {
    const end = Math.min(count, next + batch);
    const values: unknown[] = [];
    for (let i = next; i < end; i++) {
      new DataView(payload.buffer).setUint32(0, i);
      const entry = payload.slice();
      values.push(i, entry, createHash("sha256").update(entry).digest());
    }
    db.transaction(() => {
      let at = 0;
      for (; at + rows * 3 <= values.length; at += rows * 3) insert.run(...values.slice(at, at + rows * 3));
      for (; at < values.length; at += 3) one.run(...values.slice(at, at + 3));
    })();
  }
  const seconds = (performance.now() - started) / 1000;
  db.close();
  process.stdout.write(`${JSON.stringify({ count, perSecond: count / seconds })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
