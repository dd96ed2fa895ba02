// Ingest benchmark (issue 25), each figure before and after in the same run: "before" is a built
// checkout of the commit the work started from (BENCH_BEFORE_COMMIT, default 8004eb9; made once as a
// git worktree under the temp dir, node_modules linked, `tsc` run), "after" is this tree.
//   1. NDJSON over mutual TLS, 1,000-record requests, 6 in flight: records/s durable and in the tree.
//   2. Single-record requests, open loop at 2,000/s: p99 latency from the scheduled send time.
//   3. Local `custos ingest` of 50,000 records over 20 patients (a real process) against the seeds'
//      approach on the same records: each field AES-256-GCM under one key, an SQLite `audit_log`
//      table, 1,000 rows a transaction, WAL, synchronous=FULL.
//   4. Raw durable append (bench/ledger-append.ts) against a floor (bench/append-floor.ts).
// The machine's load average is printed beside each figure: other work on it moves the figures.

import { execFileSync, spawnSync } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import type { AuditRecord } from "../src/core/record/index.js";
import { closedLoop, MtlsLoad, openLoop } from "./service-load.js";
import { percentile, round } from "./stats.js";
import type { BenchRow } from "./types.js";

type DeploymentModule = typeof import("./service-deployment.js");

interface Tree {
  readonly name: "before" | "after";
  readonly root: string;
}

const HERE = fileURLToPath(new URL("..", import.meta.url));
const BATCH = 1000;
const IN_FLIGHT = 6;
const SINGLE_RATE = 2000;
const LOCAL_RECORDS = 50_000;
const LOCAL_PATIENTS = 20;

function load(): string {
  return `load ${loadavg()
    .map((l) => l.toFixed(1))
    .join("/")}`;
}

function progress(message: string): void {
  process.stderr.write(`  ingest: ${message} (${load()})\n`);
}

/** The before tree: a built checkout of the starting commit (made once, reused). */
function beforeTree(): Tree | undefined {
  if (process.env.BENCH_BEFORE) return { name: "before", root: process.env.BENCH_BEFORE };
  const commit = process.env.BENCH_BEFORE_COMMIT ?? "8004eb9";
  const root = join(tmpdir(), `custos-bench-before-${commit}`);
  try {
    if (!existsSync(join(root, "dist", "index.js"))) {
      if (!existsSync(root)) execFileSync("git", ["-C", HERE, "worktree", "add", "--detach", root, commit]);
      if (!existsSync(join(root, "node_modules")))
        symlinkSync(join(HERE, "node_modules"), join(root, "node_modules"));
      execFileSync(
        process.execPath,
        [join(HERE, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
        {
          cwd: root,
          stdio: "inherit",
        },
      );
    }
    return { name: "before", root };
  } catch (error) {
    progress(`no before tree (${(error as Error).message.split("\n")[0]}): before columns left empty`);
    return undefined;
  }
}

async function deploymentModule(tree: Tree): Promise<DeploymentModule> {
  return (await import(
    pathToFileURL(join(tree.root, "bench/service-deployment.ts")).href
  )) as DeploymentModule;
}

function ndjson(records: readonly AuditRecord[]): string {
  let out = "";
  for (const record of records) out += `${JSON.stringify(record)}\n`;
  return out;
}

interface ServiceFigures {
  ingestPerSecond: number;
  ingestNotes: string;
  singleP99: number;
  singleNotes: string;
}

async function serviceFigures(tree: Tree, seconds: number): Promise<ServiceFigures> {
  const mod = await deploymentModule(tree);
  const patients = 2000;
  const deployment = await mod.createBenchDeployment();
  try {
    await deployment.enrollCrowd(patients);
    const node = await deployment.start(["--rate", "1000000"]);
    const ehr = deployment.identity("ehr-source");
    const run = `${tree.name}-${Date.now().toString(36)}`;
    let k = 0;
    const batch = (patientOf: (i: number) => string) => {
      const records: AuditRecord[] = [];
      for (let i = 0; i < BATCH; i++, k++) records.push(mod.accessRecord(k, patientOf(i), run));
      return ndjson(records);
    };
    const random = () => mod.crowdPatient(Math.floor(Math.random() * patients));
    // A new TLS connection per request, before and after: the keep-alive fix is another engineer's.
    const ingest = new MtlsLoad(node.port, ehr, "new connection per request");
    const post = (body: string) => ingest.send("POST", "/v1/records", body, "application/x-ndjson");
    for (let first = 0; first < patients; first += BATCH) {
      const reply = await post(batch((i) => mod.crowdPatient(first + i)));
      if (reply.status !== 200) throw new Error(`${tree.name} warm-up: ${reply.status} ${reply.body}`);
    }
    await closedLoop(IN_FLIGHT, 2, () => post(batch(random)));
    const before = `${load()}`;
    const measured = await closedLoop(IN_FLIGHT, seconds, () => post(batch(random)));
    const ingestPerSecond = (measured.ok * BATCH) / measured.seconds;
    const ingestNotes = `${tree.name}: ${(measured.ok * BATCH).toLocaleString("en-US")} records in ${measured.seconds.toFixed(1)} s, failures: ${measured.failures}; ${before} at the start, ${load()} at the end`;

    const single = new MtlsLoad(node.port, ehr, "keep-alive", 256);
    let s = 0;
    const sendOne = () =>
      single.send("POST", "/v1/records", JSON.stringify(mod.accessRecord(s++, random(), `${run}-single`)));
    await openLoop(SINGLE_RATE, 1, sendOne);
    const startLoad = load();
    const result = await openLoop(SINGLE_RATE, seconds, sendOne);
    single.close();
    ingest.close();
    const singleP99 = percentile(result.latencies, 99);
    const singleNotes = `${tree.name}: ${result.ok} of ${result.sent} answered 200 (achieved ${Math.round(result.achievedRate)}/s), p50 ${percentile(result.latencies, 50).toFixed(1)} ms, failures: ${result.failures}; ${startLoad} at the start, ${load()} at the end`;
    await node.stop();
    return { ingestPerSecond, ingestNotes, singleP99, singleNotes };
  } finally {
    await deployment.cleanup();
  }
}

/** Seconds for `custos ingest FILE` of the tree's CLI, a real process, on a fresh deployment. */
async function localIngestSeconds(tree: Tree, file: string): Promise<number> {
  const mod = await deploymentModule(tree);
  const deployment = await mod.createBenchDeployment();
  try {
    await deployment.enrollCrowd(LOCAL_PATIENTS);
    const started = performance.now();
    const child = spawnSync(
      process.execPath,
      [
        join(tree.root, "bin/custos.js"),
        "ingest",
        file,
        "--data",
        deployment.data,
        "--source",
        mod.EHR_SOURCE,
      ],
      { env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: deployment.masterKey }, encoding: "utf8" },
    );
    const seconds = (performance.now() - started) / 1000;
    if (child.status !== 0) throw new Error(`${tree.name} custos ingest: ${child.stderr}`);
    return seconds;
  } finally {
    await deployment.cleanup();
  }
}

/** The seeds' approach on the same file: each field AES-256-GCM under one key, 1,000 rows a transaction. */
function seedsSeconds(file: string): number {
  const dir = mkdtempSync(join(tmpdir(), "custos-bench-seeds-"));
  try {
    const started = performance.now();
    const key = randomBytes(32);
    const db = new Database(join(dir, "audit.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(
      "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, time BLOB, patient_id BLOB, user_id BLOB, action BLOB, source_event_id BLOB)",
    );
    const insert = db.prepare(
      "INSERT INTO audit_log (time, patient_id, user_id, action, source_event_id) VALUES (?, ?, ?, ?, ?)",
    );
    const seal = (value: string | undefined) => {
      if (value === undefined) return null;
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      return Buffer.concat([nonce, cipher.update(value, "utf8"), cipher.final(), cipher.getAuthTag()]);
    };
    const lines = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.length > 0);
    const write = db.transaction((rows: AuditRecord[]) => {
      for (const r of rows)
        insert.run(seal(r.time), seal(r.patientId), seal(r.userId), seal(r.action), seal(r.sourceEventId));
    });
    for (let i = 0; i < lines.length; i += 1000)
      write(lines.slice(i, i + 1000).map((l) => JSON.parse(l) as AuditRecord));
    db.close();
    return (performance.now() - started) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function appendPerSecond(tree: Tree, count: number): number {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", join(tree.root, "bench/ledger-append.ts"), String(count), "no-verify", "sqlite"],
    { cwd: tree.root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  return (JSON.parse(out.trim().split("\n").pop()!) as { appendPerSecond: number }).appendPerSecond;
}

function floorPerSecond(count: number): number {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./append-floor.ts", import.meta.url)), String(count)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  return (JSON.parse(out.trim().split("\n").pop()!) as { perSecond: number }).perSecond;
}

interface IngestRow extends BenchRow {
  readonly before?: number;
  readonly notes?: string;
}

export async function benchIngest(scale: number): Promise<BenchRow[]> {
  const seconds = Math.max(4, Math.round(15 * scale));
  const appendCount = Math.max(50_000, Math.round(500_000 * scale));
  const trees: Tree[] = [];
  const before = beforeTree();
  if (before) trees.push(before);
  trees.push({ name: "after", root: HERE });

  const service = new Map<string, ServiceFigures>();
  for (const tree of trees) {
    progress(`service figures, ${tree.name}`);
    service.set(tree.name, await serviceFigures(tree, seconds));
  }

  const work = mkdtempSync(join(tmpdir(), "custos-bench-ingest-"));
  const file = join(work, "records.ndjson");
  const mod = await import("./service-deployment.js");
  const records: AuditRecord[] = [];
  for (let k = 0; k < LOCAL_RECORDS; k++)
    records.push(mod.accessRecord(k, mod.crowdPatient(k % LOCAL_PATIENTS), "local"));
  writeFileSync(file, ndjson(records));
  const local = new Map<string, { custos: number; seeds: number; load: string }>();
  try {
    for (const tree of trees) {
      progress(`local custos ingest, ${tree.name}`);
      const seeds = seedsSeconds(file);
      const custos = await localIngestSeconds(tree, file);
      local.set(tree.name, { custos, seeds, load: load() });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const append = new Map<string, { rate: number; floor: number; load: string }>();
  for (const tree of trees) {
    progress(`durable append, ${tree.name}`);
    const floor = floorPerSecond(appendCount);
    append.set(tree.name, { rate: appendPerSecond(tree, appendCount), floor, load: load() });
  }

  const pick = <T>(map: Map<string, T>, name: string) => map.get(name);
  const a = pick(service, "after")!;
  const b = pick(service, "before");
  const la = pick(local, "after")!;
  const lb = pick(local, "before");
  const ratio = (l: { custos: number; seeds: number }) => round(l.custos / l.seeds, 2);
  const ap = pick(append, "after")!;
  const bp = pick(append, "before");
  const share = (p: { rate: number; floor: number }) => round(p.rate / p.floor, 2);
  const seedsRate = (l: { seeds: number }) => LOCAL_RECORDS / l.seeds;
  const rows: IngestRow[] = [
    {
      name: `NDJSON over mTLS, ${BATCH.toLocaleString("en-US")}-record requests, ${IN_FLIGHT} in flight`,
      value: Math.round(a.ingestPerSecond),
      unit: "records/s",
      goal: ">= 20,000 (must), 50,000 (goal)",
      met: a.ingestPerSecond >= 20_000,
      ...(b ? { before: Math.round(b.ingestPerSecond) } : {}),
      notes: `${b ? `${b.ingestNotes}. ` : ""}${a.ingestNotes}`,
    },
    {
      name: "NDJSON over mTLS as a share of the seeds' approach (same run)",
      value: round(a.ingestPerSecond / seedsRate(la), 2),
      unit: "x",
      goal: ">= 0.5 (must), 1.0 (goal)",
      met: a.ingestPerSecond / seedsRate(la) >= 0.5,
      ...(b && lb ? { before: round(b.ingestPerSecond / seedsRate(lb), 2) } : {}),
    },
    {
      name: `single-record requests at ${SINGLE_RATE.toLocaleString("en-US")}/s: p99`,
      value: round(a.singleP99, 1),
      unit: "ms",
      goal: "< 25 (must), 10 (goal)",
      met: a.singleP99 < 25,
      ...(b ? { before: round(b.singleP99, 1) } : {}),
      notes: `${b ? `${b.singleNotes}. ` : ""}${a.singleNotes}`,
    },
    {
      name: `local custos ingest of ${LOCAL_RECORDS.toLocaleString("en-US")} records / ${LOCAL_PATIENTS} patients vs the seeds' approach (time ratio)`,
      value: ratio(la),
      unit: "x",
      goal: "<= 2 (must), 1.5 (goal)",
      met: ratio(la) <= 2,
      ...(lb ? { before: ratio(lb) } : {}),
      notes: [...local]
        .map(
          ([name, l]) =>
            `${name}: custos ${l.custos.toFixed(2)} s (${Math.round(LOCAL_RECORDS / l.custos)}/s, process start included), seeds ${l.seeds.toFixed(2)} s (${Math.round(seedsRate(l))}/s); ${l.load}`,
        )
        .join(". "),
    },
    {
      name: `raw durable append vs a same-run floor (${(appendCount / 1000).toLocaleString("en-US")}k x 300 B)`,
      value: share(ap),
      unit: "x",
      goal: ">= 0.7 (must), 0.8 (goal)",
      met: share(ap) >= 0.7,
      ...(bp ? { before: share(bp) } : {}),
      notes: [...append]
        .map(
          ([name, p]) =>
            `${name}: ${Math.round(p.rate).toLocaleString("en-US")} entries/s, floor ${Math.round(p.floor).toLocaleString("en-US")}/s; ${p.load}`,
        )
        .join(". "),
    },
  ];
  printBeforeAfter(rows);
  return rows;
}

function printBeforeAfter(rows: readonly IngestRow[]): void {
  const lines = [
    "",
    "ingest: before / after (same run)",
    "| figure | before | after | unit | goal | met |",
    "|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.name} | ${row.before?.toLocaleString("en-US") ?? "-"} | ${row.value.toLocaleString("en-US")} | ${row.unit} | ${row.goal ?? ""} | ${row.met === undefined ? "" : row.met ? "yes" : "NO"} |`,
    );
  }
  process.stderr.write(`${lines.join("\n")}\n`);
}
