// Fault injection under steady ingest: a hospital's node (`custos serve`, SQLite), two audit companies'
// witnesses and a mirror, each a real process, and an EHR client submitting batches over mutual TLS.
// Each round kill -9s one of them at a seeded random point: ingest goes on without a witness and the
// witness catches up; a mirror killed mid-copy is never corrupted and catches up; a node restarted on
// its data directory holds every acknowledged record, verifies clean, gives replays their original
// index (no duplicates) and is cosigned again by the same witnesses (no false fork alert).
// Replay a failure with the printed seed: CUSTOS_FAULT_SEED=<seed>; more rounds: CUSTOS_FAULT_ROUNDS=<n>.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { toBase64 } from "../../src/core/bytes.js";
import { openCheckpoint } from "../../src/core/checkpoint/index.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { TreeReader } from "../../src/ledger/tree/index.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { fetchWitnessCheckpoint } from "../../src/witness/witness-client.js";
import {
  createTestDeployment,
  freePort,
  initWitness,
  processEnv,
  type TestDeployment,
  type TestWitness,
  witnessFlags,
  witnessServeArgs,
} from "../helpers/deployment.js";
import {
  type CustosProcess,
  eventually,
  GiveUp,
  type ProcessGroup,
  processGroup,
} from "../helpers/processes.js";

const ROUNDS = Number(process.env.CUSTOS_FAULT_ROUNDS ?? 3);
const SEED = Number(process.env.CUSTOS_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PATIENTS = ["P1", "P2"] as const;

/** mulberry32: a small seeded generator, so a failing run replays with the same choices. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
// The faults draw from one generator in a fixed order; the load's batch sizes from another.
const random = seeded(SEED);
const loadRandom = seeded(SEED ^ 0x5eed);
const between = (low: number, high: number) => Math.floor(low + random() * (high - low));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Kind = "witness" | "mirror" | "node";

/** Each run of three rounds kills each kind once, in a seeded order. */
function plan(rounds: number): Kind[] {
  const kinds: Kind[] = [];
  while (kinds.length < rounds) {
    const block: Kind[] = ["witness", "mirror", "node"];
    for (let i = block.length - 1; i > 0; i--) {
      const j = between(0, i + 1);
      [block[i], block[j]] = [block[j]!, block[i]!];
    }
    kinds.push(...block);
  }
  return kinds.slice(0, rounds);
}

let env: TestDeployment;
let group: ProcessGroup;
let origin: string;
let logKey: string;
let apiPort: number;
let node: CustosProcess | undefined;
let mirror: CustosProcess | undefined;
let mirrorDir: string;
const witnesses: (TestWitness & { process?: CustosProcess })[] = [];

const childEnv = () => processEnv(env);
const url = () => `https://127.0.0.1:${apiPort}`;
const log = (line: string) => process.stdout.write(`[fault-kill seed=${SEED}] ${line}\n`);

async function startNode(): Promise<void> {
  node = group.start(
    "custos serve",
    [
      "serve",
      "--data",
      env.data,
      "--identity",
      join(env.root, "n1.custos-id"),
      "--listen",
      `127.0.0.1:${apiPort}`,
      ...witnessFlags(witnesses),
    ],
    childEnv(),
  );
  await node.waitFor("API (mutual TLS)", 60_000);
}

async function startWitness(w: (typeof witnesses)[number]): Promise<void> {
  w.process = group.start(`witness ${w.id}`, witnessServeArgs(env, w), childEnv());
  await w.process.waitFor("serving on", 60_000);
}

function startMirror(): void {
  mirror = group.start(
    "custos mirror",
    [
      "mirror",
      "--every",
      "1",
      "--data",
      mirrorDir,
      "--from",
      url(),
      "--as",
      join(env.root, "acme-mirror.custos-id"),
      ...witnesses.flatMap((w) => ["--witness-key", w.key]),
      "--quorum",
      "1",
    ],
    childEnv(),
  );
}

/** The node's served (witnessed) checkpoint: its size and the witnesses that cosigned it. */
async function nodeCheckpoint(): Promise<{ size: number; cosigners: readonly string[]; root: string }> {
  const note = await new MtlsClient(url(), env.identity("auditor/acme")).call<string>(
    "GET",
    "/v1/checkpoint",
  );
  const opened = openCheckpoint(note, logKey, { cosignerKeys: witnesses.map((w) => w.key) });
  return {
    size: Number(opened.checkpoint.size),
    cosigners: opened.cosigners,
    root: toBase64(opened.checkpoint.rootHash),
  };
}

async function witnessSize(w: (typeof witnesses)[number]): Promise<number> {
  const note = await fetchWitnessCheckpoint(
    { url: `https://127.0.0.1:${w.port}`, verifierKey: w.key },
    origin,
    {
      ca: env.bundles.get("node/n1")!.caCertificate,
    },
  );
  if (note === undefined) return 0;
  return Number(openCheckpoint(note, logKey, { cosignerKeys: [w.key] }).checkpoint.size);
}

async function withStore<T>(dir: string, run: (store: SqliteStore) => Promise<T>): Promise<T> {
  const store = SqliteStore.open(dir, { readonly: true });
  try {
    // One snapshot, though the node or the mirror may be appending.
    return await store.readConsistent(() => run(store));
  } finally {
    await store.close();
  }
}

/** The mirror's latest stored checkpoint size (0 before its first complete pass). */
const mirrorCheckpointSize = () =>
  withStore(mirrorDir, async (store) => (await store.getLatestCheckpoint())?.size ?? 0);

// ---- the EHR source's load --------------------------------------------------------------------------

interface Ack {
  readonly index: number;
  readonly leafHash: string;
}
interface Batch {
  readonly records: {
    time: string;
    patientId: string;
    userId: string;
    action: string;
    sourceEventId: string;
  }[];
  attempts: number;
  acked?: Ack[];
}

/** An EHR client submitting batches back to back; an unacknowledged batch is retried as it was. */
class IngestLoad {
  readonly acks = new Map<string, Ack>();
  readonly byIndex = new Map<number, string>();
  readonly batches: Batch[] = [];
  readonly violations: string[] = [];
  /** Submissions that failed, with when they were sent and when they failed. */
  readonly failures: { sentAt: number; failedAt: number; message: string }[] = [];
  retriedDuplicates = 0;
  retriedBatches = 0;
  #next = 0;
  #running = true;
  #abandoned = false;
  #loops: Promise<void>[] = [];
  readonly #client: CustosClient;

  constructor(client: CustosClient, loops: number) {
    this.#client = client;
    for (let i = 0; i < loops; i++) this.#loops.push(this.#loop());
  }

  get acknowledged(): number {
    return this.acks.size;
  }

  lastAcknowledgedBatch(): Batch | undefined {
    return this.batches.filter((b) => b.acked).at(-1);
  }

  /** Stops submitting new batches and waits until every batch is acknowledged (or, abandoning, not). */
  async stop(abandon = false): Promise<void> {
    this.#running = false;
    this.#abandoned ||= abandon;
    await Promise.all(this.#loops);
  }

  #batch(): Batch {
    const count = 5 + Math.floor(loadRandom() * 25);
    const records = Array.from({ length: count }, () => {
      const n = this.#next++;
      return {
        time: new Date(Date.now() - 60_000 + n).toISOString(),
        patientId: PATIENTS[n % PATIENTS.length]!,
        userId: `dr-${n % 11}`,
        action: "query",
        sourceEventId: `fault-${n}`,
      };
    });
    const batch: Batch = { records, attempts: 0 };
    this.batches.push(batch);
    return batch;
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const batch = this.#batch();
      while (!this.#abandoned) {
        const sentAt = Date.now();
        batch.attempts++;
        try {
          const results = await this.#client.submit(batch.records);
          this.#record(batch, results);
          break;
        } catch (error) {
          this.failures.push({ sentAt, failedAt: Date.now(), message: (error as Error).message });
          await pause(100);
        }
      }
    }
  }

  #record(batch: Batch, results: { index: number; leafHash: string; duplicate: boolean }[]): void {
    if (results.length !== batch.records.length) {
      this.violations.push(`a batch of ${batch.records.length} got ${results.length} acknowledgements`);
      return;
    }
    if (batch.attempts > 1) this.retriedBatches++;
    batch.acked = results.map((r) => ({ index: r.index, leafHash: r.leafHash }));
    results.forEach((result, i) => {
      const id = batch.records[i]!.sourceEventId;
      if (result.duplicate) {
        // Only a retry of a batch whose first attempt went unanswered may meet itself in the log.
        if (batch.attempts === 1)
          this.violations.push(`${id} acknowledged as a duplicate on first submission`);
        else this.retriedDuplicates++;
      }
      const holder = this.byIndex.get(result.index);
      if (holder !== undefined && holder !== id)
        this.violations.push(`index ${result.index} acknowledged for both ${holder} and ${id}`);
      this.byIndex.set(result.index, id);
      this.acks.set(id, { index: result.index, leafHash: result.leafHash });
    });
  }
}

let load: IngestLoad;
/** When the node was down (killed until ready again): the only time a submission may fail. */
const nodeDown: { from: number; to: number }[] = [];

/** Waits until `count` more records are acknowledged than now. */
async function moreAcknowledged(what: string, count: number, timeoutMs = 30_000): Promise<void> {
  const target = load.acknowledged + count;
  await eventually(
    what,
    () => {
      if (load.acknowledged < target) throw new Error(`${load.acknowledged} of ${target} acknowledged`);
    },
    timeoutMs,
  );
}

/** Every acknowledged record is in the node's store under the leaf hash its acknowledgement named. */
async function checkAcknowledgedOnDisk(dir: string): Promise<number> {
  return withStore(dir, async (store) => {
    const size = await store.getSize();
    const hashes: string[] = [];
    for await (const chunk of store.scanEntries(0, size, 4096))
      for (const entry of chunk) hashes[entry.index] = toBase64(leafHash(entry.data));
    const missing: string[] = [];
    for (const [id, ack] of load.acks) {
      if (hashes[ack.index] !== ack.leafHash) missing.push(`${id} at ${ack.index}`);
    }
    expect(missing, `acknowledged records missing from the store of ${size} entries`).toEqual([]);
    return size;
  });
}

async function verifyCli(dir: string): Promise<void> {
  const run = await group.run(["verify", "--data", dir], childEnv());
  expect(run.stdout + run.stderr).toMatch(/^OK/m);
  expect(run.status, run.stdout + run.stderr).toBe(0);
}

// ---- the rounds -------------------------------------------------------------------------------------

async function killWitness(round: number): Promise<void> {
  const w = witnesses[between(0, witnesses.length)]!;
  const other = witnesses.find((x) => x !== w)!;
  await pause(between(200, 1500));
  await w.process!.kill("SIGKILL");
  const before = (await nodeCheckpoint()).size;
  log(`round ${round}: killed witness ${w.id} at node checkpoint ${before}`);
  // Ingest goes on and is acknowledged without it, and the node keeps publishing checkpoints that the
  // remaining witness cosigns.
  await moreAcknowledged(`ingest acknowledged with ${w.id} down`, 100);
  await eventually("a newer checkpoint cosigned by the other witness", async () => {
    const cp = await nodeCheckpoint();
    if (cp.size <= before || !cp.cosigners.includes(`${other.id}.witness.example`))
      throw new Error(`checkpoint ${cp.size} cosigned by ${cp.cosigners.join(", ")}`);
  });
  await pause(between(0, 1000));
  await startWitness(w);
  const target = (await nodeCheckpoint()).size;
  // It catches up: the node's next submissions bring it to the node's size, cosigned by both again.
  await eventually(`${w.id} catching up to ${target}`, async () => {
    const held = await witnessSize(w);
    if (held < target) throw new Error(`${w.id} holds ${held}`);
  });
  await eventually("a checkpoint cosigned by both witnesses again", async () => {
    const cp = await nodeCheckpoint();
    if (cp.size < target || cp.cosigners.length < 2)
      throw new Error(`checkpoint ${cp.size} cosigned by ${cp.cosigners.join(", ")}`);
  });
  log(`round ${round}: witness ${w.id} caught up past ${target}`);
}

async function killMirror(round: number): Promise<void> {
  // First at a random moment (idle or copying), then mid-copy: restarted behind a backlog and killed
  // as soon as its first batch of the catch-up is stored.
  await pause(between(200, 1500));
  await mirror!.kill("SIGKILL");
  const first = await withStore(mirrorDir, async (s) => ({
    size: await s.getSize(),
    report: await verifyStore(s),
  }));
  expect(first.report.findings, "the mirror's store after kill -9").toEqual([]);
  await moreAcknowledged("a backlog for the mirror", between(300, 600));
  const backlog = (await nodeCheckpoint()).size;
  const startedAt = first.size;
  startMirror();
  const threshold = startedAt + 1 + Math.floor(random() * Math.max(1, (backlog - startedAt) / 2));
  const killedAt = await eventually(
    "the mirror copying",
    async () => {
      if (mirror!.exited) throw new GiveUp(`the mirror exited: ${mirror!.output()}`);
      const size = await withStore(mirrorDir, (s) => s.getSize());
      if (size < threshold) throw new Error(`mirror at ${size}, waiting for ${threshold}`);
      await mirror!.kill("SIGKILL");
      return size;
    },
    60_000,
    10,
  );
  const second = await withStore(mirrorDir, async (s) => ({
    size: await s.getSize(),
    checkpoint: (await s.getLatestCheckpoint())?.size ?? 0,
    report: await verifyStore(s),
  }));
  expect(second.report.findings, "the mirror's store after kill -9 mid-copy").toEqual([]);
  log(
    `round ${round}: killed the mirror at ${first.size}, then at ${killedAt} while copying ${startedAt}..${backlog}` +
      `${second.size < backlog ? " (mid-copy)" : " (its pass had completed)"}`,
  );
  startMirror();
  const target = (await nodeCheckpoint()).size;
  await eventually(
    `the mirror catching up to ${target}`,
    async () => {
      if (mirror!.exited) throw new GiveUp(`the mirror exited: ${mirror!.output()}`);
      const held = await mirrorCheckpointSize();
      if (held < target) throw new Error(`mirror checkpoint at ${held}`);
    },
    60_000,
    250,
  );
  const report = await withStore(mirrorDir, (s) => verifyStore(s));
  expect(report.findings, "the mirror's store after catching up").toEqual([]);
  log(`round ${round}: the mirror caught up past ${target}, verified`);
}

async function killNode(round: number): Promise<void> {
  await pause(between(200, 1500));
  const lastBefore = load.lastAcknowledgedBatch();
  const down = { from: Date.now(), to: Number.POSITIVE_INFINITY };
  nodeDown.push(down);
  await node!.kill("SIGKILL");
  const acknowledgedAtKill = [...load.acks];
  const inFlight = load.batches.filter((b) => !b.acked).length;
  // Every record acknowledged before the kill is on the node's disk, under the leaf hash acknowledged.
  const size = await checkAcknowledgedOnDisk(env.data);
  log(
    `round ${round}: killed the node at ${size} entries, ${acknowledgedAtKill.length} acknowledged, ${inFlight} batches in flight`,
  );
  await pause(between(0, 1000));
  await startNode();
  down.to = Date.now();
  // The in-flight batches, retried by the client, are acknowledged; the verifier is clean while it runs.
  await Promise.all([moreAcknowledged("ingest after the restart", 50, 60_000), verifyCli(env.data)]);
  // A replay of the last batch acknowledged before the kill gets the original indexes back.
  if (lastBefore?.acked) {
    const replay = await new CustosClient({ url: url(), identity: env.identity("ehr-source/emr") }).submit(
      lastBefore.records,
    );
    expect(replay).toEqual(lastBefore.acked.map((ack) => ({ ...ack, duplicate: true })));
  }
  // A receipt for a record acknowledged before the kill verifies against the restarted node's tree
  // (once a checkpoint the node serves covers it).
  const [id, ack] = acknowledgedAtKill[between(0, acknowledgedAtKill.length)]!;
  const auditor = new CustosClient({ url: url(), identity: env.identity("auditor/acme") });
  const receipt = await eventually(`a receipt for ${id}`, () => auditor.receipt(ack.index));
  expect(receipt.leafHash, id).toBe(ack.leafHash);
  // The witnesses accept its next checkpoint: both cosign a size past the one before the kill.
  await eventually("both witnesses cosigning the restarted node's checkpoint", async () => {
    const cp = await nodeCheckpoint();
    if (cp.size <= size || cp.cosigners.length < 2)
      throw new Error(`checkpoint ${cp.size} cosigned by ${cp.cosigners.join(", ")}`);
  });
  // The mirror following the node copies what came after the restart. `custos mirror` without --serve
  // exits when the node cannot be reached (a supervisor restarts it): allowed for that reason only,
  // never because the restarted node showed something that does not verify.
  const after = (await nodeCheckpoint()).size;
  await eventually(
    `the mirror following the restarted node to ${after}`,
    async () => {
      // A mirror outlives the node's restarts: it waits for the node and carries on.
      if (mirror!.exited) throw new GiveUp(`the mirror exited while the node was down: ${mirror!.output()}`);
      const held = await mirrorCheckpointSize();
      if (held < after) throw new Error(`mirror checkpoint at ${held}`);
    },
    60_000,
    250,
  );
  log(`round ${round}: the node restarted; ${load.retriedBatches} batches retried so far`);
}

beforeAll(async () => {
  log(`${ROUNDS} rounds; replay with CUSTOS_FAULT_SEED=${SEED} CUSTOS_FAULT_ROUNDS=${ROUNDS}`);
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["auditor", "acme"],
      ["witness", "w-acme"],
      ["witness", "w-north"],
      ["node", "acme-mirror"],
    ],
    masterKeyFill: 61,
  });
  group = processGroup();
  const bundle = env.bundles.get("node/n1")!.log!;
  origin = bundle.origin;
  logKey = bundle.verifierKey;
  mirrorDir = join(env.root, "acme-mirror");
  apiPort = await freePort();
  for (const id of ["w-acme", "w-north"])
    witnesses.push(await initWitness(env, id, { origin, verifierKey: logKey }));
  await Promise.all(witnesses.map(startWitness));
  await startNode();
  startMirror();
}, 120_000);

afterAll(async () => {
  await load?.stop(true);
  await group?.killAll();
  await env?.cleanup();
});

describe("kill -9 under ingest load", () => {
  it(
    `loses no acknowledged record, duplicates none, and every process catches up (${ROUNDS} rounds)`,
    async () => {
      onTestFailed(() => {
        for (const p of [node, mirror, ...witnesses.map((w) => w.process)]) {
          if (p) log(`${p.name}${p.exited ? " (exited)" : ""} printed:\n${p.output().slice(-3000)}`);
        }
      });
      const started = Date.now();
      const rounds = plan(ROUNDS);
      log(`plan: ${rounds.join(", ")}`);
      // writeRounds 1: the SDK would otherwise send an unanswered batch again by itself (after its
      // Retry-After pause, to the restarted node), and a duplicate would then meet a batch this load
      // counts as sent once. The load retries on its own, so every attempt is counted here.
      load = new IngestLoad(
        new CustosClient({ url: url(), identity: env.identity("ehr-source/emr"), writeRounds: 1 }),
        2,
      );
      await moreAcknowledged("the first batches", 100, 60_000);
      // Steady state before the first fault: both witnesses cosign, the mirror has copied a checkpoint.
      await eventually("a checkpoint cosigned by both witnesses", async () => {
        const cp = await nodeCheckpoint();
        if (cp.cosigners.length < 2) throw new Error(`cosigned by ${cp.cosigners.join(", ")}`);
      });
      await eventually(
        "the mirror's first copy",
        async () => {
          if (mirror!.exited) throw new GiveUp(`the mirror exited: ${mirror!.output()}`);
          if ((await mirrorCheckpointSize().catch(() => 0)) === 0) throw new Error("nothing copied yet");
        },
        60_000,
        250,
      );
      for (const [i, kind] of rounds.entries()) {
        if (kind === "witness") await killWitness(i + 1);
        else if (kind === "mirror") await killMirror(i + 1);
        else await killNode(i + 1);
      }
      const stopped = load.stop();
      await eventually(
        "the client's last batches acknowledged",
        () => {
          if (load.batches.some((b) => !b.acked)) throw new Error("not yet");
        },
        60_000,
      );
      await stopped;
      const final = load.acknowledged;

      // Submissions failed only while the node was down: witnesses and mirrors never block ingest.
      const outside = load.failures.filter(
        (f) => !nodeDown.some((d) => f.failedAt >= d.from && f.sentAt <= d.to + 1000),
      );
      expect(outside, "submissions that failed while the node was up").toEqual([]);
      expect(load.violations).toEqual([]);
      expect(load.batches.every((b) => b.acked)).toBe(true);

      // Everything settles: both witnesses and the mirror reach the node's final checkpoint.
      const last = await eventually("a final checkpoint covering every acknowledgement", async () => {
        const cp = await nodeCheckpoint();
        const highest = Math.max(...load.byIndex.keys());
        if (cp.size <= highest || cp.cosigners.length < 2) throw new Error(`checkpoint ${cp.size}`);
        return cp;
      });
      for (const w of witnesses) {
        await eventually(`${w.id} at ${last.size}`, async () => {
          if ((await witnessSize(w)) < last.size) throw new Error("behind");
        });
      }
      await eventually(
        `the mirror at ${last.size}`,
        async () => {
          if (mirror!.exited) throw new GiveUp(`the mirror exited: ${mirror!.output()}`);
          if ((await mirrorCheckpointSize()) < last.size) throw new Error("behind");
        },
        60_000,
        250,
      );

      // Each patient's trail holds each acknowledged record exactly once, at its acknowledged index.
      const seen = new Map<string, number>();
      for (const patient of PATIENTS) {
        const reader = new CustosClient({
          url: url(),
          identity: env.identity(`patient/${patient}`),
          witnesses: { keys: witnesses.map((w) => w.key), quorum: 2 },
        });
        let before: number | undefined;
        for (;;) {
          const page = await reader.trail({ limit: 1000, ...(before === undefined ? {} : { before }) });
          for (const r of page.records) {
            const id = r.record.sourceEventId!;
            expect(seen.has(id), `${id} appears twice in the trails`).toBe(false);
            seen.set(id, r.index);
          }
          if (page.next === null) break;
          before = page.next;
        }
      }
      expect(seen.size).toBe(final);
      for (const [id, ack] of load.acks) expect(seen.get(id), id).toBe(ack.index);

      // The audit company sees no fork alert, and no witness holds evidence against the log.
      const alerts = await new MtlsClient(url(), env.identity("auditor/acme")).call<{ alerts: unknown[] }>(
        "GET",
        "/v1/alerts?all=true",
      );
      expect(alerts.alerts).toEqual([]);
      for (const w of witnesses) {
        const show = await group.run(["witness", "show", "--data", w.dir, "--json"], childEnv());
        expect(JSON.parse(show.stdout)).toMatchObject({ evidence: 0 });
      }

      // Stopped, the node's and the mirror's stores verify clean, with every acknowledged record, and
      // the mirror's copy has the node's root at the final size.
      await mirror!.kill("SIGTERM");
      await node!.kill("SIGTERM");
      await checkAcknowledgedOnDisk(env.data);
      await Promise.all([verifyCli(env.data), verifyCli(mirrorDir)]);
      const roots = await Promise.all(
        [env.data, mirrorDir].map((dir) =>
          withStore(dir, async (s) => toBase64(await new TreeReader(s).rootAt(last.size))),
        ),
      );
      expect(roots[0]).toBe(last.root);
      expect(roots[1]).toBe(last.root);
      log(
        `${final} records acknowledged in ${load.batches.length} batches, ${load.retriedBatches} retried ` +
          `(${load.retriedDuplicates} records found already in the log), ${load.failures.length} failed submissions, ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    },
    60_000 + ROUNDS * 45_000,
  );
});
