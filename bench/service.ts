// Service benchmark: the node as clients see it, over mutual TLS, with `custos serve` in a child
// process (one core) and the load generated here (the other core).
//   1. NDJSON ingest, 1,000 records a request, several requests in flight: records/s durable and in
//      the tree (only 200 replies count; the log's size is checked against the count).
//   2. Single-record requests on a fixed schedule (open loop) at 2,000/s: latency from the scheduled
//      send time, so queueing anywhere shows.
//   3. A patient's 1,000-record history from a large log (built locally through the Vault before the
//      node starts): end-to-end latency, the node's own time from its /metrics histogram, and the
//      client's verification (checkpoint, inclusion proofs and the trail's hash chain, record numbering) and decryption.
// BENCH_SCALE shortens the runs and shrinks the log; at 1 the log holds about a million entries.

import type { TrustedCheckpoint, WireItem } from "../src/client/verify-reply.js";
import { verifyCheckpoint, verifyItems, verifyRun } from "../src/client/verify-reply.js";
import type { AuditRecord } from "../src/core/record/index.js";
import type { Identity } from "../src/identity/bundle.js";
import { RecordOpener } from "../src/records/record-opener.js";
import {
  accessRecord,
  type BenchDeployment,
  type CpuShares,
  cpuMeter,
  createBenchDeployment,
  crowdPatient,
  describeCpu,
  HOT_PATIENT,
  type RunningNode,
} from "./service-deployment.js";
import {
  type ConnectionMode,
  closedLoop,
  type Failures,
  MtlsLoad,
  type OpenLoopResult,
  openLoop,
} from "./service-load.js";
import { percentile, round } from "./stats.js";
import type { BenchRow } from "./types.js";

/** A row with what a reader needs to interpret it (connection mode, errors, where the time went). */
interface ServiceRow extends BenchRow {
  readonly notes?: string;
}

const INGEST_BATCH = 1000;
const INGEST_CONCURRENCY = 6;
const SINGLE_RATE = 2000;
const SINGLE_CAPACITY_IN_FLIGHT = 32;
const HISTORY = 1000;

export async function benchService(scale: number): Promise<BenchRow[]> {
  const patients = Math.max(1000, Math.round(10_000 * scale));
  const logEntries = Math.max(20_000, Math.round(1_000_000 * scale));
  const ingestSeconds = Math.max(3, Math.round(20 * scale));
  const singleSeconds = Math.max(3, Math.round(15 * scale));
  const queries = Math.max(30, Math.round(200 * scale));
  const run = `bench-${Date.now().toString(36)}`;

  const deployment = await createBenchDeployment();
  let node: RunningNode | undefined;
  try {
    await deployment.enrollCrowd(patients);
    const build = await buildLog(deployment, logEntries, patients, run);
    progress(
      `built a log of ${build.records.toLocaleString("en-US")} records locally in ${build.seconds.toFixed(1)} s`,
    );
    const ehr = deployment.identity("ehr-source");
    // Per-identity rate limits would refuse a single EHR source at 2,000 requests/s (default 200/s).
    node = await deployment.start(["--rate", "1000000"]);
    const size = metricValue(await metricsTextOnce(node, ehr), "custos_log_size");
    progress(`the node listens after ${node.startSeconds.toFixed(1)} s`);

    const rows: ServiceRow[] = [
      {
        name: `local build through Vault.ingest (${(build.records / 1e6).toLocaleString("en-US")}M records, ${patients.toLocaleString("en-US")} patients)`,
        value: Math.round(build.records / build.seconds),
        unit: "records/s",
        notes: `setup for the history query, no HTTP: batches of 10,000, 4 in flight, in the bench process (shown as the load generator); ${describeCpu(build.cpu)}`,
      },
      {
        name: `node start-up until it listens (${(size / 1e6).toFixed(2)}M entries, ${(patients + 4).toLocaleString("en-US")} identities)`,
        value: round(node.startSeconds, 1),
        unit: "s",
        notes:
          "spawn of `custos serve --rate 1000000` to its API address printed: the identity registry is folded from the log (each entry's signature checked). The node runs no full verify at start; without a verify-state.json its periodic verify does nothing, so none runs during these measurements",
      },
    ];
    rows.push(...(await benchIngest(node, ehr, patients, ingestSeconds, run)));
    rows.push(...(await benchSingle(node, ehr, patients, singleSeconds, run)));
    rows.push(...(await benchHistory(node, deployment.identity("patient"), queries)));
    return rows;
  } finally {
    await node?.stop();
    await deployment.cleanup();
  }
}

function progress(message: string): void {
  process.stderr.write(`  service: ${message}\n`);
}

/** The large log: crowd patients at random, the hot patient's 1,000 records spread evenly through it. */
async function buildLog(deployment: BenchDeployment, entries: number, patients: number, run: string) {
  const every = Math.floor(entries / HISTORY);
  function* records(): Generator<AuditRecord> {
    for (let k = 0; k < entries; k++) {
      const hot = k % every === every - 1 && k / every < HISTORY;
      yield accessRecord(k, hot ? HOT_PATIENT : crowdPatient(randomInt(patients)), `${run}-local`);
    }
  }
  const started = performance.now();
  const meter = cpuMeter();
  const count = await deployment.ingestLocally(records(), 10_000, 4);
  return { records: count, seconds: (performance.now() - started) / 1000, cpu: meter() };
}

function randomInt(n: number): number {
  return Math.floor(Math.random() * n);
}

async function metricsText(load: MtlsLoad): Promise<string> {
  let reply = await load.send("GET", "/metrics");
  if (reply.status === 0) reply = await load.send("GET", "/metrics"); // a kept-alive socket dropped
  if (reply.status !== 200) throw new Error(`GET /metrics: ${reply.status}`);
  return reply.body.toString("utf8");
}

function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name.replace(/[{}"/=]/g, "\\$&")} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

async function metricsTextOnce(node: RunningNode, identity: Identity): Promise<string> {
  const load = new MtlsLoad(node.port, identity, "new connection per request");
  try {
    return await metricsText(load);
  } finally {
    load.close();
  }
}

function ndjson(records: readonly AuditRecord[]): string {
  let out = "";
  for (const record of records) out += `${JSON.stringify(record)}\n`;
  return out;
}

interface IngestRun {
  readonly mode: ConnectionMode;
  readonly records: number;
  readonly seconds: number;
  readonly failures: Failures;
  readonly grew: number;
  readonly cpu: CpuShares;
}

async function ingestRun(
  node: RunningNode,
  ehr: Identity,
  mode: ConnectionMode,
  patients: number,
  seconds: number,
  run: string,
): Promise<IngestRun> {
  const load = new MtlsLoad(node.port, ehr, mode, INGEST_CONCURRENCY);
  let k = 0;
  const batch = (patientOf: (k: number) => string) => {
    const records: AuditRecord[] = [];
    for (let i = 0; i < INGEST_BATCH; i++, k++)
      records.push(accessRecord(k, patientOf(k), `${run}-ingest-${mode}`));
    return ndjson(records);
  };
  const post = (body: string) => load.send("POST", "/v1/records", body, "application/x-ndjson");
  const randomBatch = () => post(batch(() => crowdPatient(randomInt(patients))));
  try {
    // Warm-up: every patient once (the node starts its key epoch and reads its numbering back from
    // the log), then 2 s of load.
    for (let first = 0; first < patients; first += INGEST_BATCH) {
      const body = batch((i) => crowdPatient((first + (i % INGEST_BATCH)) % patients));
      let reply = await post(body);
      if (reply.status === 0) reply = await post(body); // a kept-alive socket dropped: same records again
      if (reply.status !== 200)
        throw new Error(`warm-up ingest: ${reply.status} ${reply.error ?? reply.body}`);
    }
    await closedLoop(INGEST_CONCURRENCY, 2, randomBatch);

    const sizeBefore = metricValue(await metricsText(load), "custos_log_size");
    const meter = cpuMeter(node);
    const result = await closedLoop(INGEST_CONCURRENCY, seconds, randomBatch);
    const cpu = meter();
    const grew = metricValue(await metricsText(load), "custos_log_size") - sizeBefore;
    const records = result.ok * INGEST_BATCH;
    if (grew < records)
      throw new Error(`the log grew by ${grew} entries, fewer than the ${records} records acknowledged`);
    return {
      mode,
      records,
      seconds: result.seconds,
      failures: result.failures,
      grew,
      cpu,
    };
  } finally {
    load.close();
  }
}

function socketErrors(failures: Failures): boolean {
  return [...failures.byKind.keys()].some((kind) => !kind.startsWith("HTTP"));
}

function describeIngest(r: IngestRun): string {
  return `${r.mode}: ${r.records.toLocaleString("en-US")} records in ${r.seconds.toFixed(1)} s (${Math.round(r.records / r.seconds).toLocaleString("en-US")}/s), 200 replies only, log grew by ${r.grew.toLocaleString("en-US")}; failures: ${r.failures}; ${describeCpu(r.cpu)}`;
}

async function benchIngest(
  node: RunningNode,
  ehr: Identity,
  patients: number,
  seconds: number,
  run: string,
): Promise<ServiceRow[]> {
  let measured = await ingestRun(node, ehr, "keep-alive", patients, seconds, run);
  let notes = describeIngest(measured);
  if (socketErrors(measured.failures)) {
    measured = await ingestRun(node, ehr, "new connection per request", patients, seconds, run);
    notes = `keep-alive failed requests, so the figure is from new connections. ${describeIngest(measured)}. Before: ${notes}`;
  }
  const rate = measured.records / measured.seconds;
  return [
    {
      name: `NDJSON ingest over mTLS (1,000 records/request, ${INGEST_CONCURRENCY} in flight, ${patients.toLocaleString("en-US")} patients)`,
      value: Math.round(rate),
      unit: "records/s",
      goal: ">= 50,000",
      met: rate >= 50_000,
      notes,
    },
    {
      name: "NDJSON ingest: node CPU per 1,000 records",
      value: round(((measured.cpu.node * measured.seconds) / measured.records) * 1e6, 1),
      unit: "ms",
      notes: "50,000 records/s on one core leaves 20 ms per 1,000",
    },
  ];
}

function singleSender(load: MtlsLoad, patients: number, tag: string) {
  let k = 0;
  return () =>
    load.send(
      "POST",
      "/v1/records",
      JSON.stringify(accessRecord(k++, crowdPatient(randomInt(patients)), tag)),
    );
}

async function singleRun(
  node: RunningNode,
  ehr: Identity,
  mode: ConnectionMode,
  patients: number,
  seconds: number,
  run: string,
): Promise<{ result: OpenLoopResult; cpu: CpuShares }> {
  const load = new MtlsLoad(node.port, ehr, mode, 256);
  const send = singleSender(load, patients, `${run}-single-${mode}`);
  try {
    await openLoop(SINGLE_RATE, 1, send); // warm-up: connections open, code paths compiled
    const meter = cpuMeter(node);
    const result = await openLoop(SINGLE_RATE, seconds, send);
    return { result, cpu: meter() };
  } finally {
    load.close();
  }
}

/** What the node can answer at all: single-record requests with a fixed number always in flight. */
async function singleCapacity(
  node: RunningNode,
  ehr: Identity,
  mode: ConnectionMode,
  patients: number,
  seconds: number,
  run: string,
) {
  const load = new MtlsLoad(node.port, ehr, mode, SINGLE_CAPACITY_IN_FLIGHT);
  try {
    const send = singleSender(load, patients, `${run}-capacity`);
    const meter = cpuMeter(node);
    const result = await closedLoop(SINGLE_CAPACITY_IN_FLIGHT, seconds, send);
    return { ...result, cpu: meter() };
  } finally {
    load.close();
  }
}

async function benchSingle(
  node: RunningNode,
  ehr: Identity,
  patients: number,
  seconds: number,
  run: string,
): Promise<ServiceRow[]> {
  let mode: ConnectionMode = "keep-alive";
  let measured = await singleRun(node, ehr, mode, patients, seconds, run);
  let fallback = "";
  if (socketErrors(measured.result.failures)) {
    fallback = `keep-alive failed requests (${measured.result.failures}); measured again with a new connection per request. `;
    mode = "new connection per request";
    measured = await singleRun(node, ehr, mode, patients, seconds, run);
  }
  const { result, cpu } = measured;
  const capacity = await singleCapacity(node, ehr, mode, patients, Math.min(5, seconds), run);
  const p50 = percentile(result.latencies, 50);
  const p99 = percentile(result.latencies, 99);
  const rate = SINGLE_RATE.toLocaleString("en-US");
  const notes = `${fallback}${mode}; ${result.ok.toLocaleString("en-US")} of ${result.sent.toLocaleString("en-US")} requests answered 200 over ${seconds} s; failures: ${result.failures}; latency from the scheduled send time (from the actual send: p50 ${percentile(result.sendLatencies, 50).toFixed(2)} ms, p99 ${percentile(result.sendLatencies, 99).toFixed(2)} ms; sender late by p99 ${result.lateP99.toFixed(2)} ms); most in flight ${result.maxInFlight}; ${describeCpu(cpu)}`;
  return [
    {
      name: `single-record POST /v1/records, open loop at ${rate}/s: achieved`,
      value: Math.round(result.achievedRate),
      unit: "requests/s",
      goal: `>= ${(SINGLE_RATE * 0.99).toLocaleString("en-US")}, no errors`,
      met: result.achievedRate >= SINGLE_RATE * 0.99 && result.failures.total === 0,
      notes,
    },
    {
      name: `single-record POST /v1/records at ${rate}/s: p50 latency`,
      value: round(p50, 2),
      unit: "ms",
    },
    {
      name: `single-record POST /v1/records at ${rate}/s: p99 latency`,
      value: round(p99, 2),
      unit: "ms",
      goal: "< 10",
      met: p99 < 10,
    },
    {
      name: `single-record POST /v1/records, ${SINGLE_CAPACITY_IN_FLIGHT} always in flight: throughput`,
      value: Math.round(capacity.ok / capacity.seconds),
      unit: "requests/s",
      notes: `the node's ceiling for one-record requests (${mode}); failures: ${capacity.failures}; ${describeCpu(capacity.cpu)}`,
    },
  ];
}

/** The node's request-time histogram for one route, from its /metrics text. */
function routeHistogram(text: string, route: string) {
  const buckets: { le: number; count: number }[] = [];
  const pattern = new RegExp(
    `^custos_http_request_duration_seconds_bucket\\{route="${route.replace(/\//g, "\\/")}",le="([^"]+)"\\} (\\S+)$`,
    "gm",
  );
  for (const match of text.matchAll(pattern)) {
    buckets.push({
      le: match[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(match[1]),
      count: Number(match[2]),
    });
  }
  const labels = `{route="${route}"}`;
  return {
    buckets,
    sum: metricValue(text, `custos_http_request_duration_seconds_sum${labels}`) || 0,
    count: metricValue(text, `custos_http_request_duration_seconds_count${labels}`) || 0,
  };
}

interface TrailReply {
  checkpoint: string;
  consistency: { from: number; to: number; proof: string[] } | null;
  items: WireItem[];
  next: number | null;
}

async function benchHistory(node: RunningNode, patient: Identity, queries: number): Promise<ServiceRow[]> {
  // One query at a time on a kept-alive connection; should the node drop it (HPE_PAUSED), the query
  // is sent again on a new connection and the retry is reported.
  const load = new MtlsLoad(node.port, patient, "keep-alive", 1);
  const fresh = new MtlsLoad(node.port, patient, "new connection per request");
  let retries = 0;
  const log = patient.bundle.log!;
  const endToEnd: number[] = [];
  const parse: number[] = [];
  const client: number[] = [];
  let bytes = 0;
  let logSize = 0;
  let trusted: TrustedCheckpoint | undefined;
  const query = async () => {
    const body = JSON.stringify({ limit: HISTORY, ...(trusted ? { trustedSize: trusted.size } : {}) });
    let started = performance.now();
    let reply = await load.send("POST", "/v1/trail", body);
    if (reply.status === 0) {
      retries++;
      started = performance.now();
      reply = await fresh.send("POST", "/v1/trail", body);
    }
    const received = performance.now();
    if (reply.status !== 200) {
      throw new Error(
        `POST /v1/trail: ${reply.status} ${reply.error ?? reply.body} after ${(received - started).toFixed(0)} ms; ${node.state()}`,
      );
    }
    const page = JSON.parse(reply.body.toString("utf8")) as TrailReply;
    const parsed = performance.now();
    // What the SDK does with a reply (src/client/custos-client.ts), with a reader that starts cold.
    const checkpoint = verifyCheckpoint(
      page.checkpoint,
      log.verifierKey,
      log.origin,
      trusted,
      page.consistency,
    );
    const items = verifyItems(page.items, checkpoint);
    verifyRun(items);
    const opened = new RecordOpener(patient.encryptionPrivateKey()).openAll(items);
    const done = performance.now();
    if (opened.records.length !== HISTORY || opened.notReadable.length > 0) {
      throw new Error(
        `the trail opened ${opened.records.length} records (${opened.notReadable.length} unreadable)`,
      );
    }
    trusted = {
      size: checkpoint.size,
      rootHash: Buffer.from(checkpoint.rootHash).toString("base64"),
      note: checkpoint.note,
    };
    logSize = checkpoint.size;
    bytes = reply.body.length;
    return { endToEnd: received - started, parse: parsed - received, client: done - parsed };
  };
  try {
    for (let i = 0; i < 5; i++) await query(); // warm-up: JIT, page cache
    const before = routeHistogram(await metricsText(load), "/v1/trail");
    const meter = cpuMeter(node);
    for (let i = 0; i < queries; i++) {
      const t = await query();
      endToEnd.push(t.endToEnd);
      parse.push(t.parse);
      client.push(t.client);
    }
    const cpu = meter();
    const after = routeHistogram(await metricsText(load), "/v1/trail");
    const count = after.count - before.count;
    const serverMean = ((after.sum - before.sum) / count) * 1000;
    // The node's histogram has buckets, not samples: its p99 is known up to the bucket it falls in.
    const p99Bucket = after.buckets.find(
      (b, i) => b.count - (before.buckets[i]?.count ?? 0) >= Math.ceil(0.99 * count),
    )?.le;
    const p99BoundMs = (p99Bucket ?? Number.POSITIVE_INFINITY) * 1000;
    const e2e99 = percentile(endToEnd, 99);
    const client99 = percentile(client, 99);
    const label = `1,000-record history, log of ${(logSize / 1e6).toFixed(2)}M entries`;
    return [
      {
        name: `POST /v1/trail (${label}): end-to-end p50`,
        value: round(percentile(endToEnd, 50), 2),
        unit: "ms",
      },
      {
        name: `POST /v1/trail (${label}): end-to-end p99`,
        value: round(e2e99, 2),
        unit: "ms",
        notes: `${queries} queries one after another, keep-alive (${retries} resent on a new connection after a dropped socket), each with the client's trusted size (consistency proof); reply ${Math.round(bytes / 1024)} KiB; end-to-end is request sent to last byte received, the reply's JSON.parse excluded (p50 ${percentile(parse, 50).toFixed(2)} ms); the node also appends the read's notice to the patient's trail (durable) before it answers; ${describeCpu(cpu)}`,
      },
      {
        name: "POST /v1/trail: node time, mean (its /metrics request-duration histogram)",
        value: round(serverMean, 2),
        unit: "ms",
        notes:
          "the node sets no timing header; its Prometheus histogram gives the sum and buckets (5, 10, 25, 50 ms, ...) over exactly these queries",
      },
      {
        name: "POST /v1/trail: node time p99, upper bound (histogram bucket)",
        value: p99BoundMs,
        unit: "ms",
        goal: "< 25",
        met: p99BoundMs <= 25,
      },
      {
        name: "client verify + decrypt of the reply (checkpoint, proofs and hash chain, numbering, HPKE + AES-GCM): p50",
        value: round(percentile(client, 50), 2),
        unit: "ms",
      },
      {
        name: "client verify + decrypt of the reply: p99",
        value: round(client99, 2),
        unit: "ms",
        goal: "< 25",
        met: client99 < 25,
      },
    ];
  } finally {
    load.close();
    fresh.close();
  }
}
