// The service benchmark's deployment: a data directory with a CA, the node, an EHR source, the
// custodian and one patient enrolled as `custos enroll` does, plus a crowd of patients published in
// bulk (CA-signed registry entries, without certificates: they never connect, they only need an
// encryption key for their records). The node runs as a real `custos serve` child process, so the
// load generator in the bench process and the server each have a core of their own.

import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeIdentityEntry } from "../src/core/entry/index.js";
import type { AuditRecord } from "../src/core/record/index.js";
import { ACTIONS } from "../src/core/record/vocabulary.js";
import { EnvProvider } from "../src/crypto/keystore/index.js";
import { Identity, type IdentityBundle, writeBundle } from "../src/identity/bundle.js";
import { DeploymentCa } from "../src/identity/ca.js";
import { Deployment } from "../src/identity/deployment.js";
import { REGISTRY_LOOKUP_KEY } from "../src/identity/registry.js";
import type { Role } from "../src/identity/roles.js";
import { initDataDir } from "../src/ledger/data-dir.js";
import { nodeFlags as deployedNodeFlags } from "./node-flags.js";

const BIN = fileURLToPath(new URL("../bin/custos.js", import.meta.url));
export const PASSPHRASE = "service benchmark passphrase";
const ORIGIN = "bench.custos.example/log";
const YEAR_MS = 365 * 86_400_000;

export const EHR_SOURCE = "ehr-main";
/** The patient whose 1,000-record history is queried; not one of the crowd. */
export const HOT_PATIENT = "P-HOT";

export function crowdPatient(n: number): string {
  return `MRN-${String(n).padStart(8, "0")}`;
}

/** A realistic access record: a clinician's action on a patient's chart, with the EHR's event ID. */
export function accessRecord(k: number, patientId: string, run: string): AuditRecord {
  return {
    time: new Date(Date.UTC(2026, 0, 1) + k * 600).toISOString(),
    patientId,
    userId: `user-${(k * 7919) % 5000}`,
    action: ACTIONS[k % ACTIONS.length]!,
    sourceEventId: `${run}-${k}`,
  };
}

export interface BenchDeployment {
  readonly data: string;
  readonly masterKey: string;
  identity(who: "ehr-source" | "patient"): Identity;
  /** The identity's bundle as a file (for the browser portal), passphrase PASSPHRASE. */
  bundleFile(who: "ehr-source" | "patient"): string;
  /** Bulk-publishes `count` crowd patients (crowdPatient(0..count-1)). */
  enrollCrowd(count: number): Promise<void>;
  /** Seals and appends records locally (no HTTP), as fast as group commit allows. */
  ingestLocally(records: Iterable<AuditRecord>, batch: number, inFlight: number): Promise<number>;
  /**
   * Starts `custos serve` with extra CLI arguments and Node flags (e.g. --cpu-prof), after the flags
   * the node is deployed with (bin/custos.js's first line).
   */
  start(args?: readonly string[], nodeFlags?: readonly string[]): Promise<RunningNode>;
  cleanup(): Promise<void>;
}

export interface RunningNode {
  readonly port: number;
  /** The portal's port when started with --portal. */
  readonly portalPort: number | undefined;
  readonly pid: number;
  /** From spawning the process to the API listening. */
  readonly startSeconds: number;
  /** Whether the node still runs, and its last output: for error messages. */
  state(): string;
  /** CPU seconds (user + system) the node process has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export async function createBenchDeployment(): Promise<BenchDeployment> {
  const root = mkdtempSync(join(tmpdir(), "custos-bench-service-"));
  const data = join(root, "data");
  const masterKey = Buffer.alloc(32, 7).toString("base64");
  const provider = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: masterKey });
  await initDataDir(data, { origin: ORIGIN, masterKey: provider });
  const deployment = await Deployment.initCa(data, provider, "bench");
  const bundles = new Map<string, IdentityBundle>();
  const people: [Role, string][] = [
    ["node", "n1"],
    ["ehr-source", EHR_SOURCE],
    ["custodian", "privacy"],
    ["patient", HOT_PATIENT],
  ];
  for (const [role, id] of people) {
    const issued = await deployment.enroll({ role, id, passphrase: PASSPHRASE, kdfIterations: 2000 });
    bundles.set(role, issued.bundle);
  }
  const nodeBundle = join(root, "n1.custos-id");
  writeBundle(nodeBundle, bundles.get("node")!);
  await deployment.close();

  let node: ChildProcess | undefined;
  const self: BenchDeployment = {
    data,
    masterKey,
    identity: (who) => Identity.unlock(bundles.get(who)!, PASSPHRASE),
    bundleFile(who) {
      const file = join(root, `${who}.custos-id`);
      if (!existsSync(file)) writeBundle(file, bundles.get(who)!);
      return file;
    },

    async enrollCrowd(count) {
      const opened = await Deployment.open(data, provider);
      try {
        const ca = DeploymentCa.open(data, opened.vault.keystore);
        const now = Date.now();
        for (let start = 0; start < count; start += 5000) {
          const items = [];
          for (let n = start; n < Math.min(count, start + 5000); n++) {
            items.push({
              entry: encodeIdentityEntry(
                {
                  time: now,
                  action: "enroll",
                  role: "patient",
                  subject: opened.subjectOf("patient", crowdPatient(n)),
                  serials: [],
                  signingKey: rawPublicKey("ed25519"),
                  encryptionKey: rawPublicKey("x25519"),
                  notAfter: now + YEAR_MS,
                },
                (m) => ca.sign(m),
              ),
              lookupKeys: [REGISTRY_LOOKUP_KEY],
            });
          }
          await opened.vault.ledger.append(items);
        }
      } finally {
        await opened.close();
      }
    },

    async ingestLocally(records, batch, inFlight) {
      const opened = await Deployment.open(data, provider);
      let count = 0;
      try {
        const pending = new Set<Promise<unknown>>();
        let group: AuditRecord[] = [];
        const flush = async () => {
          const p = opened.vault.ingest(group, EHR_SOURCE);
          count += group.length;
          group = [];
          pending.add(p);
          void p.finally(() => pending.delete(p));
          if (pending.size >= inFlight) await Promise.race(pending);
        };
        for (const record of records) {
          group.push(record);
          if (group.length === batch) await flush();
        }
        if (group.length > 0) await flush();
        await Promise.all(pending);
        await opened.vault.ledger.checkpoint();
      } finally {
        await opened.close();
      }
      return count;
    },

    async start(args = [], nodeFlags = []) {
      const spawned = performance.now();
      const child = spawn(
        process.execPath,
        [
          ...deployedNodeFlags(),
          ...nodeFlags,
          BIN,
          "serve",
          "--data",
          data,
          "--identity",
          nodeBundle,
          "--listen",
          "127.0.0.1:0",
          ...args,
        ],
        {
          env: { PATH: process.env.PATH, CUSTOS_MASTER_KEY: masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASSPHRASE },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      node = child;
      // The node's output, its last 16 KiB kept, to explain a node that stops answering.
      let out = "";
      const keep = (chunk: Buffer) => {
        out = (out + chunk.toString("utf8")).slice(-16_384);
      };
      child.stdout!.on("data", keep);
      child.stderr!.on("data", keep);
      let portalPort: number | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the node did not start: ${out}`)), 120_000);
        const onData = () => {
          const match = /API \(mutual TLS\): https:\/\/[^\s]+:(\d+)/.exec(out);
          const portal = /portal \(login\):\s+https:\/\/[^\s]+:(\d+)/.exec(out);
          if (portal) portalPort = Number(portal[1]);
          if (match && (portal || !args.includes("--portal"))) {
            clearTimeout(timer);
            child.stdout!.off("data", onData);
            resolve(Number(match[1]));
          }
        };
        child.stdout!.on("data", onData);
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`the node exited ${code}: ${out}`));
        });
      });
      const pid = child.pid!;
      return {
        port,
        portalPort,
        pid,
        startSeconds: (performance.now() - spawned) / 1000,
        cpuSeconds: () => processCpuSeconds(pid),
        state: () =>
          child.exitCode !== null || child.signalCode !== null
            ? `the node exited (${child.exitCode ?? child.signalCode}); its last output: ${out}`
            : `the node is running; its last output: ${out || "(none)"}`,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((resolve) => child.once("exit", resolve));
          child.kill("SIGTERM");
          await exited;
        },
      };
    },

    async cleanup() {
      if (node && node.exitCode === null && node.signalCode === null) {
        const child = node;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  return self;
}

function rawPublicKey(type: "ed25519" | "x25519"): Uint8Array {
  const { publicKey } = type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("x25519");
  const spki = publicKey.export({ type: "spki", format: "der" });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/** CPU used over a stretch of time, each as a share of one core (1 = a whole core). */
export interface CpuShares {
  readonly node: number;
  readonly generator: number;
  /** Everything else on the machine (other engineers' tests share it): figures read with this. */
  readonly others: number;
}

/** Starts measuring; the returned function gives the shares since the start. */
export function cpuMeter(node?: RunningNode): () => CpuShares {
  const wall = performance.now();
  const nodeStart = node?.cpuSeconds() ?? 0;
  const generatorStart = process.cpuUsage();
  const machineStart = machineBusySeconds();
  return () => {
    const seconds = (performance.now() - wall) / 1000;
    const usage = process.cpuUsage(generatorStart);
    const nodeShare = ((node?.cpuSeconds() ?? 0) - nodeStart) / seconds;
    const generator = (usage.user + usage.system) / 1e6 / seconds;
    const machine = (machineBusySeconds() - machineStart) / seconds;
    return { node: nodeShare, generator, others: Math.max(0, machine - nodeShare - generator) };
  };
}

export function describeCpu(shares: CpuShares): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  return `CPU as a share of one core: node ${pct(shares.node)}, load generator ${pct(shares.generator)}, other processes ${pct(shares.others)}`;
}

/** Busy time of all cores together from /proc/stat (Linux), in seconds; NaN elsewhere. */
function machineBusySeconds(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a process from /proc (Linux), in seconds; NaN elsewhere. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the command name start at field 3 (state): utime is field 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
