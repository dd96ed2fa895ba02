// Child process for the scale benchmark (issue 7): appends encrypted access records over Zipf-skewed
// patients to one backend, then measures proofs, patient history queries and a full verify. Prints
// one JSON line. Run alone so its peak RSS is its own.
//
// CUSTOS_SCALE_KEEP=1 keeps the log afterwards (its directory or schema is printed on stderr);
// CUSTOS_SCALE_REUSE=<directory or schema> measures an existing log of this benchmark instead of
// writing one (queries, proofs and verify only), e.g. to re-measure after a change to the read path;
// CUSTOS_SCALE_SKIP_VERIFY=1 leaves out the full verify.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { decodeEntry, ENTRY_KINDS, keyEnvelopeFromEntry } from "../src/core/entry/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../src/core/note/index.js";
import type { AuditRecord } from "../src/core/record/index.js";
import { patientSubject } from "../src/identity/registry.js";
import { Ledger } from "../src/ledger/ledger.js";
import { PostgresStore } from "../src/ledger/postgres/index.js";
import { SqliteStore } from "../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../src/ledger/storage.js";
import { verifyStore } from "../src/ledger/verify/verifier.js";
import { BlindIndex, RecordSealer } from "../src/records/index.js";
import { recipientFingerprint } from "../src/records/recipients.js";
import { lastRecordOf } from "../src/records/vault.js";
import { trailPage } from "../src/service/trail-query.js";
import { registryReaders } from "../test/helpers/registry-readers.js";
import { percentile } from "./stats.js";

const backend = process.argv[2] === "postgres" ? "postgres" : "sqlite";
const recordCount = Number(process.argv[3] ?? 100_000);
const patientCount = Number(process.argv[4] ?? 10_000);
const pgUrl = process.env.CUSTOS_PG_URL ?? "postgres://root@127.0.0.1:5432/test";
const reuse = process.env.CUSTOS_SCALE_REUSE;
const schema = reuse !== undefined && backend === "postgres" ? reuse : `custos_scale_${process.pid}`;
const dir =
  reuse !== undefined && backend === "sqlite" ? reuse : mkdtempSync(join(tmpdir(), "custos-scale-"));
const keep = process.env.CUSTOS_SCALE_KEEP === "1" || reuse !== undefined;

async function pgQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** Zipf(s = 1.1) over patients: a few patients have most accesses, as in a hospital. */
function zipfSampler(n: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1) ** 1.1;
    cdf[k] = sum;
  }
  return () => {
    const u = Math.random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

interface Written {
  readonly ledger: Ledger;
  readonly seconds: number;
  readonly peakRss: number;
  readonly setupRss: number;
  readonly liveHeap: number[];
  readonly maintenanceSeconds: number;
  /** The patient's own recipient fingerprint (the history is read as the patient reads it). */
  readonly readerOf: (patient: number) => Promise<Uint8Array | undefined>;
}

const blindIndex = new BlindIndex(new Uint8Array(32).fill(3));
const patientId = (p: number): string => `MRN-${String(p).padStart(8, "0")}`;

async function write(): Promise<Written> {
  const store: LedgerStore =
    backend === "postgres"
      ? await PostgresStore.open(pgUrl, { schema, create: true })
      : SqliteStore.open(dir, { create: true });
  const { signerKey } = generateSignerKey("scale.custos.example/log");
  await store.initialize({
    origin: "scale.custos.example/log",
    verifierKey: verifierKeyFromSigner(signerKey),
    createdAt: 0,
    formatVersion: 1,
  });
  if (store instanceof PostgresStore) await store.acquireSequencerLock();
  const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 1000 });

  const ids = Array.from({ length: patientCount }, (_, p) => patientId(p));
  // The readers as a node folds them from its log: CA-signed enrollments and an admin's grant.
  const { directory, registry } = registryReaders({
    deployment: "scale",
    patientTag: (id) => blindIndex.patientTag(id),
    patients: ids,
    auditors: ["A1"],
    keepPrivateKeys: false,
  });
  // As the node's vault does: a patient whose trail position the cache forgot continues from the log
  // (with 1M patients the cache, bounded, forgets most of them between their records).
  const sealer = new RecordSealer({
    blindIndex,
    directory,
    log: ledger,
    lastRecord: (tag) => lastRecordOf(ledger, tag),
  });
  const pick = zipfSampler(patientCount);
  const actions = ["query", "query", "query", "change", "print", "copy", "create", "delete"] as const;

  const setupRss = process.memoryUsage().rss;
  const liveHeap: number[] = [];
  let peakRss = setupRss;
  const started = performance.now();
  const batch = 1000;
  for (let i = 0; i < recordCount; i += batch) {
    const records: AuditRecord[] = [];
    for (let k = i; k < Math.min(recordCount, i + batch); k++) {
      records.push({
        time: new Date(Date.UTC(2026, 0, 1) + k * 600).toISOString(),
        patientId: ids[pick()]!,
        userId: `user-${k % 5000}`,
        action: actions[k % actions.length]!,
        sourceEventId: `evt-${k}`,
      });
    }
    await ledger.append(await sealer.seal(records, "ehr-main"));
    if ((i / batch) % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if ((i / batch) % 500 === 499) {
      const rate = Math.round((i + batch) / ((performance.now() - started) / 1000));
      const rss = Math.round(process.memoryUsage().rss / 1048576);
      // What is really kept: the heap after a full collection (run with --expose-gc), at each step.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      const memory = process.memoryUsage();
      const live = memory.heapUsed / 1048576;
      liveHeap.push(live);
      // Where RSS goes besides live objects: the heap V8 keeps committed, and memory outside it
      // (Buffers, the SQLite and pg native allocations).
      const mb = (bytes: number) => Math.round(bytes / 1048576);
      process.stderr.write(
        `${backend}: ${i + batch} records, ${rate} records/s, RSS ${rss} MB, live heap ${Math.round(live)} MB, heap committed ${mb(memory.heapTotal)} MB, external ${mb(memory.external)} MB (buffers ${mb(memory.arrayBuffers)} MB)\n`,
      );
    }
  }
  await ledger.checkpoint();
  const seconds = (performance.now() - started) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  // What autovacuum does on a production server (this machine's runs with autovacuum off): set the
  // visibility map and hint bits and gather planner statistics, so reads use index-only scans and
  // do not dirty every page they touch the first time. Timed and reported, not hidden.
  let maintenanceSeconds = 0;
  if (store.afterBulkLoad !== undefined) {
    const t = performance.now();
    await store.afterBulkLoad();
    maintenanceSeconds = (performance.now() - t) / 1000;
  }
  return {
    ledger,
    seconds,
    peakRss,
    setupRss,
    liveHeap,
    maintenanceSeconds,
    readerOf: async (p) =>
      recipientFingerprint(
        registry.active("patient", patientSubject(blindIndex.patientTag(ids[p]!)), 0)!.encryptionKey,
      ),
  };
}

/** An existing log of this benchmark, read-only; readers found from the patients' key envelopes. */
async function reopen(): Promise<Written> {
  const store: LedgerStore =
    backend === "postgres"
      ? await PostgresStore.open(pgUrl, { schema })
      : SqliteStore.open(dir, { readonly: true });
  const ledger = await Ledger.open(store, {});
  const rss = process.memoryUsage().rss;
  return {
    ledger,
    seconds: Number.NaN,
    peakRss: rss,
    setupRss: rss,
    liveHeap: [],
    maintenanceSeconds: 0,
    readerOf: async (p) => {
      for (const { data } of await store.entriesByLookupKey({
        key: blindIndex.patientTag(patientId(p)),
        descending: true,
        limit: 5000,
      })) {
        const entry = decodeEntry(data);
        if (entry.kind !== ENTRY_KINDS.keyEnvelope) continue;
        const { header } = keyEnvelopeFromEntry(entry);
        if (header.role === "patient") return header.recipient;
      }
      return undefined;
    },
  };
}

try {
  const {
    ledger,
    seconds,
    peakRss: writePeak,
    setupRss,
    liveHeap,
    maintenanceSeconds,
    readerOf,
  } = reuse === undefined ? await write() : await reopen();
  let peakRss = writePeak;
  const size = await ledger.size();

  const inclusion: number[] = [];
  const consistency: number[] = [];
  for (let i = 0; i < 1000; i++) {
    let t = performance.now();
    await ledger.inclusionProof(Math.floor(Math.random() * size), size);
    inclusion.push(performance.now() - t);
    t = performance.now();
    await ledger.consistencyProof(1 + Math.floor(Math.random() * (size - 1)), size);
    consistency.push(performance.now() - t);
  }

  // A patient's history: the newest 1,000 access records under the patient's tag with their contents,
  // the patient's key envelopes for their epochs, and the proofs (one inclusion proof for the newest
  // record, the rest linked by the trail's hash chain), by the query API's own code (trailPage),
  // serialized as the reply carries it. Busiest patients first.
  // One untimed query first (code paths compiled, statements prepared), then three rounds over the 50
  // busiest patients: 150 samples.
  const history: number[] = [];
  const readers = new Map<number, Uint8Array | undefined>();
  const historyOf = async (p: number): Promise<number> => {
    if (!readers.has(p)) readers.set(p, await readerOf(p));
    const t = performance.now();
    const reader = readers.get(p);
    const page = await trailPage(ledger, size, {
      patientTag: blindIndex.patientTag(patientId(p)),
      limit: 1000,
      reader,
    });
    JSON.stringify(page);
    if (page.items.length === 0) throw new Error("a patient's history came back empty");
    return performance.now() - t;
  };
  await historyOf(Math.min(50, patientCount) - 1);
  for (let round = 0; round < 3; round++) {
    for (let p = 0; p < Math.min(50, patientCount); p++) history.push(await historyOf(p));
  }
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  await ledger.close();

  let bytes = 0;
  if (backend === "postgres") {
    const result = await pgQuery(
      "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
      [schema],
    );
    bytes = Number(result.rows[0]?.bytes ?? 0);
  } else {
    for (const f of ["custos.db", "custos.db-wal"]) {
      try {
        bytes += statSync(join(dir, f)).size;
      } catch {
        // no WAL left
      }
    }
  }

  // CUSTOS_SCALE_SKIP_VERIFY=1 leaves the full verify out (e.g. when re-measuring queries only).
  let verifySeconds = Number.NaN;
  if (process.env.CUSTOS_SCALE_SKIP_VERIFY !== "1") {
    const readStore: LedgerStore =
      backend === "postgres"
        ? await PostgresStore.open(pgUrl, { schema })
        : SqliteStore.open(dir, { readonly: true });
    const t = performance.now();
    const report = await verifyStore(readStore, { chunkSize: 16384 });
    verifySeconds = (performance.now() - t) / 1000;
    await readStore.close();
    if (!report.ok)
      throw new Error(
        `verify found problems on a clean store: ${JSON.stringify(report.findings.slice(0, 2))}`,
      );
  }

  process.stdout.write(
    `${JSON.stringify({
      backend,
      records: recordCount,
      patients: patientCount,
      entries: size,
      recordsPerSecond: recordCount / seconds,
      bytesPerRecord: bytes / recordCount,
      maintenanceSeconds,
      peakRssMb: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1048576,
      setupRssMb: setupRss / 1048576,
      liveHeapMb: liveHeap,
      inclusionP99Ms: percentile(inclusion, 99),
      consistencyP99Ms: percentile(consistency, 99),
      historyP99Ms: percentile(history, 99),
      historyP50Ms: percentile(history, 50),
      verifySeconds,
    })}\n`,
  );
} finally {
  // CUSTOS_SCALE_KEEP=1 keeps the log for profiling (its directory or schema is printed on stderr).
  if (backend === "sqlite" && keep) process.stderr.write(`kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
  if (backend === "postgres" && keep) process.stderr.write(`kept ${schema}\n`);
  else if (backend === "postgres")
    await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
}
