// `npm run bench`: runs every benchmark, prints one table with each figure beside its goal, and
// writes bench/results/<name>.json. A figure that misses its goal is shown as such, never hidden.
// BENCH_SCALE (default 1) scales the entry counts for a quick run, e.g. BENCH_SCALE=0.1.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { benchHpke } from "./hpke.js";
import { benchLedger } from "./ledger.js";
import { benchMemory } from "./memory.js";
import { benchOnboarding } from "./onboarding.js";
import { benchRecords } from "./records.js";
import { benchScale } from "./scale.js";
import { benchTrailMap } from "./trail-map.js";
import type { BenchRow } from "./types.js";

const scale = Number(process.env.BENCH_SCALE ?? "1");
const only = process.argv.slice(2);

interface Suite {
  readonly name: string;
  readonly run: () => Promise<BenchRow[]>;
}

const suites: Suite[] = [
  { name: "ledger", run: () => benchLedger(scale) },
  { name: "hpke", run: () => benchHpke() },
  { name: "records", run: () => benchRecords() },
  { name: "memory", run: () => benchMemory(scale) },
  { name: "onboarding", run: () => benchOnboarding(scale) },
  { name: "scale", run: () => benchScale(scale) },
  { name: "trail-map", run: () => benchTrailMap(scale) },
  { name: "client", run: async () => (await import("./client.js")).benchClient(scale) },
  { name: "ingest", run: async () => (await import("./ingest.js")).benchIngest(scale) },
  { name: "service", run: async () => (await import("./service.js")).benchService(scale) },
  { name: "portal", run: async () => (await import("./portal.js")).benchPortal(scale) },
  { name: "retention", run: async () => (await import("./retention.js")).benchRetention(scale) },
  { name: "failover", run: async () => (await import("./failover.js")).benchFailover(scale) },
];

const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(resultsDir, { recursive: true });
const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const all: { suite: string; row: BenchRow }[] = [];
for (const suite of suites) {
  if (only.length > 0 && !only.includes(suite.name)) continue;
  process.stderr.write(`running ${suite.name} benchmarks...\n`);
  const rows = await suite.run();
  if (rows.length === 0) continue;
  writeFileSync(
    `${resultsDir}${suite.name}.json`,
    `${JSON.stringify({ suite: suite.name, machine, scale, date: new Date().toISOString(), rows }, null, 2)}\n`,
  );
  for (const row of rows) all.push({ suite: suite.name, row });
}

const header = ["suite", "benchmark", "value", "unit", "goal", "met"];
const table = all.map(({ suite, row }) => [
  suite,
  row.name,
  row.value.toLocaleString("en-US"),
  row.unit,
  row.goal ?? "",
  row.met === undefined ? "" : row.met ? "yes" : "NO",
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(`\nmachine: ${machine}; scale ${scale}`);
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const row of table) console.log(line(row));
const missed = all.filter(({ row }) => row.met === false);
if (missed.length > 0)
  console.log(
    `\n${missed.length} figure(s) miss their goal: ${missed.map(({ row }) => row.name).join("; ")}`,
  );
