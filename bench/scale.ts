// Scale benchmark (issue 7): encrypted access records over Zipf-skewed patients on SQLite and
// PostgreSQL side by side. The full size (10M records, 1M patients) takes a long time on this
// machine; run it with CUSTOS_SCALE_FULL=1. By default it runs at 1/100 of that (times BENCH_SCALE).

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { nodeFlags } from "./node-flags.js";
import { round } from "./stats.js";
import type { BenchRow } from "./types.js";

interface ScaleRun {
  backend: string;
  records: number;
  patients: number;
  recordsPerSecond: number;
  bytesPerRecord: number;
  peakRssMb: number;
  setupRssMb: number;
  /** Heap in use after a full collection, every 500,000 records. */
  liveHeapMb: number[];
  inclusionP99Ms: number;
  consistencyP99Ms: number;
  historyP99Ms: number;
  historyP50Ms: number;
  verifySeconds: number;
  /** PostgreSQL: VACUUM (ANALYZE) after the load, as autovacuum would (off on this machine's server). */
  maintenanceSeconds: number;
}

async function run(backend: string, records: number, patients: number): Promise<ScaleRun> {
  const script = fileURLToPath(new URL("./scale-run.ts", import.meta.url));
  const child = promisify(execFile)(
    process.execPath,
    // As the node runs (bin/custos.js's V8 flags): the history query's time depends on the young
    // generation's size.
    [...nodeFlags(), "--expose-gc", "--import", "tsx", script, backend, String(records), String(patients)],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  return JSON.parse(stdout.trim().split("\n").pop()!) as ScaleRun;
}

export async function benchScale(scale: number): Promise<BenchRow[]> {
  const full = process.env.CUSTOS_SCALE_FULL === "1";
  const records = Math.round((full ? 10_000_000 : 100_000) * scale);
  const patients = Math.round((full ? 1_000_000 : 10_000) * scale);
  const label = `${(records / 1e6).toLocaleString("en-US")}M records, ${(patients / 1e3).toLocaleString("en-US")}k patients`;
  // CUSTOS_SCALE_PARALLEL=1 runs both backends at once (one core each on this 2-core machine): half
  // the wall time of the full run, each figure a little lower than run alone.
  const runs =
    process.env.CUSTOS_SCALE_PARALLEL === "1"
      ? await Promise.all([run("sqlite", records, patients), run("postgres", records, patients)])
      : [await run("sqlite", records, patients), await run("postgres", records, patients)];
  const [sqlite] = runs;
  const rows: BenchRow[] = [];
  for (const r of runs) {
    const name = (what: string) => `${r.backend}: ${what} (${label})`;
    rows.push({
      name: name("encrypted ingest"),
      value: Math.round(r.recordsPerSecond),
      unit: "records/s",
      ...(r.backend === "postgres"
        ? {
            goal: `within 2x of SQLite (>= ${Math.round(sqlite!.recordsPerSecond / 2).toLocaleString("en-US")})`,
            met: r.recordsPerSecond >= sqlite!.recordsPerSecond / 2,
          }
        : {}),
    });
    rows.push({ name: name("bytes on disk per record"), value: round(r.bytesPerRecord, 1), unit: "bytes" });
    rows.push({ name: name("peak RSS"), value: round(r.peakRssMb, 1), unit: "MB" });
    // What ingest, queries and verify added on top of the set-up (the benchmark's own directory of
    // every patient's key, which is the registry, not the log).
    rows.push({ name: name("RSS above set-up"), value: round(r.peakRssMb - r.setupRssMb, 1), unit: "MB" });
    if (r.liveHeapMb.length >= 2) {
      // Flat if nothing grows with the log: the heap after GC at the first and the last step.
      const first = r.liveHeapMb[0]!;
      const last = r.liveHeapMb[r.liveHeapMb.length - 1]!;
      rows.push({
        name: name(`live heap growth after GC, 0.5M records (${Math.round(first)} MB) to the end`),
        value: round(last - first, 1),
        unit: "MB",
      });
    }
    rows.push({
      name: name("inclusion proof p99"),
      value: round(r.inclusionP99Ms, 3),
      unit: "ms",
      goal: "< 25",
      met: r.inclusionP99Ms < 25,
    });
    rows.push({
      name: name("consistency proof p99"),
      value: round(r.consistencyP99Ms, 3),
      unit: "ms",
      goal: "< 25",
      met: r.consistencyP99Ms < 25,
    });
    rows.push({
      name: name("1,000-entry patient history with proofs p50"),
      value: round(r.historyP50Ms, 1),
      unit: "ms",
    });
    rows.push({
      name: name("1,000-entry patient history with proofs p99"),
      value: round(r.historyP99Ms, 1),
      unit: "ms",
      goal: "< 25",
      met: r.historyP99Ms < 25,
    });
    rows.push({ name: name("full verify"), value: round(r.verifySeconds, 2), unit: "s" });
    if (r.maintenanceSeconds > 0) {
      rows.push({
        name: name("VACUUM (ANALYZE) after the load, before the queries"),
        value: round(r.maintenanceSeconds, 1),
        unit: "s",
      });
    }
  }
  return rows;
}
