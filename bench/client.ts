// Issue 25, the read side: a real node (`custos serve`, its own process) holding 20 patients' trails
// of 1,000 records each. Two figures, each before and after in the same run:
// - the client's verification and decryption of a 1,000-record trail reply (what the SDK and the
//   portal do with it: checkpoint, proofs, hash chain, numbering, trail head, HPKE unwrap, AES-GCM,
//   filter and order), the code of the commit the work started from (bench/baseline.ts) against
//   today's, alternated, on the same reply;
// - 20 query clients (one per patient) each asking for its newest 100 records again and again, with
//   a new TLS connection per request (the SDK before) and with kept-alive connections (now).

import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { MtlsClient } from "../src/client/mtls-client.js";
import { TrailReader } from "../src/client/trail-reader.js";
import { MemoryTrustStore } from "../src/client/trust-store.js";
import type { WireItem, WireTrailMap } from "../src/client/verify-reply.js";
import { createTestDeployment } from "../test/helpers/deployment.js";
import { importBaseline } from "./baseline.js";
import { type ConnectionMode, MtlsLoad } from "./service-load.js";
import { percentile, round } from "./stats.js";
import type { BenchRow } from "./types.js";

const PATIENTS = 20;
const RECORDS = 1000;
const QUERY_LIMIT = 100;

type PageModule = typeof import("../src/client/trail-page.js");
type VerifyModule = typeof import("../src/client/verify-reply.js");
type OpenerModule = typeof import("../src/records/record-opener.js");
type TrustModule = typeof import("../src/client/trust-store.js");

interface Reply {
  checkpoint: string;
  consistency: null;
  items: WireItem[];
  next: number | null;
  trailMap?: WireTrailMap;
}

const patientId = (p: number) => `P${String(p + 1).padStart(2, "0")}`;

function loadNote(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ")} (1 / 5 / 15 min) on 2 cores`;
}

interface Impl {
  readonly label: string;
  readonly run: () => number;
}

async function implementation(
  label: string,
  modules: { page: PageModule; verify: VerifyModule; opener: OpenerModule; trust: TrustModule },
  replyText: string,
  log: { origin: string; verifierKey: string },
  key: Uint8Array,
): Promise<Impl> {
  // Parsed once, outside the timed part (the checks only read it).
  const reply = JSON.parse(replyText) as Reply;
  return {
    label,
    run: () => {
      const started = performance.now();
      const checkpoint = modules.verify.verifyCheckpoint(
        reply.checkpoint,
        log.verifierKey,
        log.origin,
        undefined,
        null,
      );
      const opener = new modules.opener.RecordOpener(key);
      const page = modules.page.openTrailPage(
        reply,
        checkpoint,
        { limit: RECORDS },
        { state: new modules.trust.MemoryTrustStore(), opener },
      );
      opener.dispose();
      const ms = performance.now() - started;
      if (page.records.length !== RECORDS) throw new Error(`${label}: ${page.records.length} records opened`);
      return ms;
    },
  };
}

async function benchVerify(replyText: string, log: { origin: string; verifierKey: string }, key: Uint8Array) {
  const now = await implementation(
    "now",
    {
      page: await import("../src/client/trail-page.js"),
      verify: await import("../src/client/verify-reply.js"),
      opener: await import("../src/records/record-opener.js"),
      trust: await import("../src/client/trust-store.js"),
    },
    replyText,
    log,
    key,
  );
  const before = await implementation(
    "before",
    {
      page: await importBaseline<PageModule>("src/client/trail-page.ts"),
      verify: await importBaseline<VerifyModule>("src/client/verify-reply.ts"),
      opener: await importBaseline<OpenerModule>("src/records/record-opener.ts"),
      trust: await importBaseline<TrustModule>("src/client/trust-store.ts"),
    },
    replyText,
    log,
    key,
  );
  const samples = new Map<string, { wall: number[]; cpuMs: number }>();
  for (const impl of [before, now]) {
    for (let i = 0; i < 10; i++) impl.run(); // warm-up: JIT
    samples.set(impl.label, { wall: [], cpuMs: 0 });
  }
  for (let round = 0; round < 8; round++) {
    for (const impl of round % 2 === 0 ? [before, now] : [now, before]) {
      const s = samples.get(impl.label)!;
      const cpu = process.cpuUsage();
      for (let i = 0; i < 25; i++) s.wall.push(impl.run());
      const used = process.cpuUsage(cpu);
      s.cpuMs += (used.user + used.system) / 1000;
    }
  }
  const rows: BenchRow[] = [];
  for (const label of ["before", "now"]) {
    const s = samples.get(label)!;
    const p99 = percentile(s.wall, 99);
    rows.push(
      {
        name: `client verify + decrypt of a 1,000-record trail reply (${label}): p50`,
        value: round(percentile(s.wall, 50), 2),
        unit: "ms",
      },
      {
        name: `client verify + decrypt of a 1,000-record trail reply (${label}): p99`,
        value: round(p99, 2),
        unit: "ms",
        goal: "< 20 (must), < 10 (goal)",
        met: p99 < 20,
        notes: `${s.wall.length} verifications alternated with the other code in blocks of 25, each with a fresh reader (one HPKE unwrap, 1,000 AES-GCM opens); CPU ${(s.cpuMs / s.wall.length).toFixed(2)} ms per verification; ${label === "before" ? `the code of commit ${(await import("./baseline.js")).BASELINE_COMMIT.slice(0, 12)}` : "this tree"}; ${loadNote()}`,
      } as BenchRow,
    );
  }
  return rows;
}

async function benchQueries(
  port: number,
  deployment: { identity(who: string): import("../src/identity/index.js").Identity },
  seconds: number,
) {
  const rows: BenchRow[] = [];
  const runs = new Map<ConnectionMode, { latencies: number[]; failures: number; errors: Set<string> }>();
  const body = JSON.stringify({ limit: QUERY_LIMIT });
  // Alternated, twice each, so a change in the machine's load falls on both.
  for (const mode of [
    "new connection per request",
    "keep-alive",
    "new connection per request",
    "keep-alive",
  ] as ConnectionMode[]) {
    const run = runs.get(mode) ?? { latencies: [], failures: 0, errors: new Set<string>() };
    runs.set(mode, run);
    const loads = Array.from(
      { length: PATIENTS },
      (_, p) => new MtlsLoad(port, deployment.identity(`patient/${patientId(p)}`), mode, 1),
    );
    const deadline = performance.now() + (seconds / 2) * 1000;
    await Promise.all(
      loads.map(async (load) => {
        while (performance.now() < deadline) {
          const started = performance.now();
          const reply = await load.send("POST", "/v1/trail", body);
          if (reply.status === 200) run.latencies.push(performance.now() - started);
          else {
            run.failures++;
            run.errors.add(reply.error ?? `HTTP ${reply.status}`);
          }
        }
      }),
    );
    for (const load of loads) load.close();
  }
  for (const [mode, run] of runs) {
    const label = mode === "keep-alive" ? "keep-alive (now)" : "new connection per request (before)";
    rows.push(
      {
        name: `${PATIENTS} concurrent query clients, POST /v1/trail of ${QUERY_LIMIT} records, ${label}: p50`,
        value: round(percentile(run.latencies, 50), 1),
        unit: "ms",
      },
      {
        name: `${PATIENTS} concurrent query clients, ${label}: p99`,
        value: round(percentile(run.latencies, 99), 1),
        unit: "ms",
        notes: `${run.latencies.length} queries answered 200 in ${seconds} s, ${run.failures} failed${run.failures > 0 ? ` (${[...run.errors].join(", ")})` : ""}; each client one patient reading its newest ${QUERY_LIMIT} of ${RECORDS} records, one query after another; the node appends each read's notice (durable) before answering; ${loadNote()}`,
      } as BenchRow,
    );
  }
  return rows;
}

export async function benchClient(scale: number): Promise<BenchRow[]> {
  const people: [import("../src/identity/index.js").Role, string][] = [
    ["node", "n1"],
    ["ehr-source", "emr"],
    ["custodian", "privacy"],
    ...Array.from({ length: PATIENTS }, (_, p): [import("../src/identity/index.js").Role, string] => [
      "patient",
      patientId(p),
    ]),
  ];
  const env = await createTestDeployment({ people });
  try {
    await env.start(["--rate", "1000000"]);
    const url = `https://127.0.0.1:${env.apiPort}`;
    const emr = new MtlsClient(url, env.identity("ehr-source/emr"));
    let size = 0;
    for (let p = 0; p < PATIENTS; p++) {
      const records = Array.from({ length: RECORDS }, (_, i) => ({
        time: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
        patientId: patientId(p),
        userId: `clinician-${i % 40}`,
        action: (["query", "change", "print"] as const)[i % 3],
        sourceEventId: `bench-${p}-${i}`,
      }));
      const reply = await emr.call<{ records: { index: number }[] }>("POST", "/v1/records", records);
      size = Math.max(size, ...reply.records.map((r) => r.index + 1));
    }
    emr.close();
    const patient = env.identity(`patient/${patientId(0)}`);
    const transport = new MtlsClient(url, patient);
    const log = patient.bundle.log!;
    await new TrailReader({
      transport,
      log,
      encryptionPrivateKey: patient.encryptionPrivateKey(),
      state: new MemoryTrustStore(),
    }).waitForCheckpoint(size, 60_000);
    const reply = await transport.call<Reply>("POST", "/v1/trail", { limit: RECORDS });
    transport.close();
    const replyText = JSON.stringify(reply);
    if (process.env.BENCH_CLIENT_REPLY) writeFileSync(process.env.BENCH_CLIENT_REPLY, replyText);
    const key = patient.encryptionPrivateKey();
    const rows = await benchVerify(replyText, log, key);
    key.fill(0);
    rows.push(...(await benchQueries(env.apiPort, env, Math.max(4, Math.round(20 * scale)))));
    return rows;
  } finally {
    await env.cleanup();
  }
}
