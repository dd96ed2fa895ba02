// Child process for the ledger benchmark: appends N entries of 300 bytes to a fresh SQLite log as
// fast as group commit allows, then measures proofs and verify at that size. Prints one JSON line.
// Run in its own process so peak RSS is this workload's alone.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { encodeDataEntry } from "../src/core/entry/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../src/core/note/index.js";
import { Ledger } from "../src/ledger/ledger.js";
import { PostgresStore } from "../src/ledger/postgres/index.js";
import { SqliteStore } from "../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../src/ledger/storage.js";
import { verifyStore } from "../src/ledger/verify/verifier.js";
import { percentile } from "./stats.js";

const count = Number(process.argv[2] ?? 1_000_000);
const measureVerify = process.argv[3] !== "no-verify";
const backend = process.argv[4] === "postgres" ? "postgres" : "sqlite";
const pgUrl = process.env.CUSTOS_PG_URL ?? "postgres://root@127.0.0.1:5432/test";
const pgSchema = `custos_bench_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "custos-bench-"));

async function pgQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

async function openStore(create: boolean): Promise<LedgerStore> {
  if (backend === "postgres") return PostgresStore.open(pgUrl, { schema: pgSchema, create });
  return SqliteStore.open(dir, create ? { create: true } : { readonly: true });
}

async function bytesOnDisk(): Promise<number> {
  if (backend === "postgres") {
    const result = await pgQuery(
      "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
      [pgSchema],
    );
    return Number(result.rows[0]?.bytes ?? 0);
  }
  return ["custos.db", "custos.db-wal"].reduce((sum, f) => {
    try {
      return sum + statSync(join(dir, f)).size;
    } catch {
      return sum;
    }
  }, 0);
}
const ENTRY_PAYLOAD = 300 - 7; // 2-byte header + 5-byte field header + payload = 300 bytes

try {
  const { signerKey } = generateSignerKey("bench.custos.example/log");
  const store = await openStore(true);
  await store.initialize({
    origin: "bench.custos.example/log",
    verifierKey: verifierKeyFromSigner(signerKey),
    createdAt: Date.now(),
    formatVersion: 1,
  });
  const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 1000, maxBatchEntries: 20_000 });

  const payload = new Uint8Array(ENTRY_PAYLOAD);
  let peakRss = process.memoryUsage().rss;
  const started = performance.now();
  // Clients submit in groups of 1,000 with up to 16 groups in flight, like a busy ingest service.
  const groupSize = 1000;
  const inFlight = new Set<Promise<unknown>>();
  for (let next = 0; next < count; next += groupSize) {
    const items = [];
    for (let i = next; i < Math.min(count, next + groupSize); i++) {
      new DataView(payload.buffer).setUint32(0, i);
      items.push({ entry: encodeDataEntry(payload.slice()) });
    }
    const p: Promise<unknown> = ledger.append(items).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 16) await Promise.race(inFlight);
    if ((next / groupSize) % 100 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  await Promise.all(inFlight);
  await ledger.checkpoint();
  const appendSeconds = (performance.now() - started) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);

  // Proof generation from storage at this size (cold tile cache for the first samples).
  const size = await ledger.size();
  const inclusion: number[] = [];
  const consistency: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const index = Math.floor(Math.random() * size);
    let t = performance.now();
    await ledger.inclusionProof(index, size);
    inclusion.push(performance.now() - t);
    const older = 1 + Math.floor(Math.random() * (size - 1));
    t = performance.now();
    await ledger.consistencyProof(older, size);
    consistency.push(performance.now() - t);
  }
  await ledger.close();

  const bytesOnDiskTotal = await bytesOnDisk();

  let verifySeconds = Number.NaN;
  if (measureVerify) {
    const readStore = await openStore(false);
    const t = performance.now();
    const report = await verifyStore(readStore, { chunkSize: 16384 });
    verifySeconds = (performance.now() - t) / 1000;
    await readStore.close();
    if (!report.ok)
      throw new Error(
        `verify found problems on a clean store: ${JSON.stringify(report.findings.slice(0, 3))}`,
      );
  }

  process.stdout.write(
    `${JSON.stringify({
      count,
      appendPerSecond: count / appendSeconds,
      inclusionP99Ms: percentile(inclusion, 99),
      inclusionP50Ms: percentile(inclusion, 50),
      consistencyP99Ms: percentile(consistency, 99),
      bytesPerEntry: bytesOnDiskTotal / count,
      peakRssMb: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1024 / 1024,
      verifyPerSecond: count / verifySeconds,
    })}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  if (backend === "postgres")
    await pgQuery(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`).catch(() => undefined);
}
