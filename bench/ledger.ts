// Ledger benchmarks (issue 2 goals): durable append throughput, proof generation at 1M and 10M
// entries, verify scan rate, bytes on disk per entry and peak RSS while appending 10M entries.

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { round } from "./stats.js";
import type { BenchRow } from "./types.js";

interface AppendRun {
  count: number;
  appendPerSecond: number;
  inclusionP99Ms: number;
  inclusionP50Ms: number;
  consistencyP99Ms: number;
  bytesPerEntry: number;
  peakRssMb: number;
  verifyPerSecond: number;
}

function run(count: number, verify: boolean, backend: "sqlite" | "postgres" = "sqlite"): AppendRun {
  const script = fileURLToPath(new URL("./ledger-append.ts", import.meta.url));
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", script, String(count), verify ? "verify" : "no-verify", backend],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(out.trim().split("\n").pop()!) as AppendRun;
}

export async function benchLedger(scale: number): Promise<BenchRow[]> {
  const small = Math.round(1_000_000 * scale);
  const large = Math.round(10_000_000 * scale);
  const rows: BenchRow[] = [];
  const a = run(small, true);
  const millions = (n: number) => `${round(n / 1e6, 2)}M`;
  rows.push({
    name: `durable append, ${millions(small)} x 300 B entries`,
    value: Math.round(a.appendPerSecond),
    unit: "entries/s",
    goal: ">= 200,000",
    met: a.appendPerSecond >= 200_000,
  });
  rows.push({
    name: `inclusion proof p99 at ${millions(small)}`,
    value: round(a.inclusionP99Ms, 3),
    unit: "ms",
    goal: "< 1",
    met: a.inclusionP99Ms < 1,
  });
  rows.push({
    name: `consistency proof p99 at ${millions(small)}`,
    value: round(a.consistencyP99Ms, 3),
    unit: "ms",
    goal: "< 1",
    met: a.consistencyP99Ms < 1,
  });
  rows.push({
    name: `verify scan at ${millions(small)}`,
    value: Math.round(a.verifyPerSecond),
    unit: "entries/s",
    goal: ">= 1,000,000",
    met: a.verifyPerSecond >= 1_000_000,
  });
  const b = run(large, false);
  rows.push({
    name: `durable append, ${millions(large)} entries`,
    value: Math.round(b.appendPerSecond),
    unit: "entries/s",
    goal: ">= 200,000",
    met: b.appendPerSecond >= 200_000,
  });
  rows.push({
    name: `inclusion proof p99 at ${millions(large)}`,
    value: round(b.inclusionP99Ms, 3),
    unit: "ms",
    goal: "< 1",
    met: b.inclusionP99Ms < 1,
  });
  rows.push({
    name: `consistency proof p99 at ${millions(large)}`,
    value: round(b.consistencyP99Ms, 3),
    unit: "ms",
    goal: "< 1",
    met: b.consistencyP99Ms < 1,
  });
  rows.push({
    name: `bytes on disk per entry at ${millions(large)}`,
    value: round(b.bytesPerEntry, 1),
    unit: "bytes",
  });
  rows.push({
    name: `peak RSS appending ${millions(large)} entries`,
    value: round(b.peakRssMb, 1),
    unit: "MB",
    goal: "< 256",
    met: b.peakRssMb < 256,
  });
  const pgCount = Math.round(1_000_000 * scale);
  const p = run(pgCount, true, "postgres");
  rows.push({
    name: `PostgreSQL durable append, ${millions(pgCount)} entries`,
    value: Math.round(p.appendPerSecond),
    unit: "entries/s",
    goal: `within 2x of SQLite (>= ${Math.round(a.appendPerSecond / 2).toLocaleString("en-US")})`,
    met: p.appendPerSecond >= a.appendPerSecond / 2,
  });
  rows.push({
    name: `PostgreSQL inclusion proof p99 at ${millions(pgCount)}`,
    value: round(p.inclusionP99Ms, 3),
    unit: "ms",
    goal: "< 25",
    met: p.inclusionP99Ms < 25,
  });
  rows.push({
    name: `PostgreSQL verify scan at ${millions(pgCount)}`,
    value: Math.round(p.verifyPerSecond),
    unit: "entries/s",
  });
  rows.push({
    name: `PostgreSQL bytes per entry at ${millions(pgCount)}`,
    value: round(p.bytesPerEntry, 1),
    unit: "bytes",
  });
  rows.push({
    name: `PostgreSQL peak RSS (client) at ${millions(pgCount)}`,
    value: round(p.peakRssMb, 1),
    unit: "MB",
  });
  return rows;
}
