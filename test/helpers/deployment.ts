// A real deployment for end-to-end tests: a data directory with a CA and enrolled identities, and a
// real `custos serve` process on loopback ports (mutual-TLS API and portal).

import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity, type IdentityBundle, writeBundle } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import type { Role } from "../../src/identity/roles.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { tempDir } from "./temp.js";

export const BIN = fileURLToPath(new URL("../../bin/custos.js", import.meta.url));
export const PASS = "end to end passphrase";

const execFileAsync = promisify(execFile);

export interface TestDeployment {
  readonly root: string;
  readonly data: string;
  readonly masterKey: string;
  readonly bundles: Map<string, IdentityBundle>;
  apiPort: number;
  portalPort: number;
  /** What the last started `custos serve` printed so far (stdout and stderr). */
  output: string;
  /** Unlocks an enrolled identity ("role/id"). */
  identity(who: string): Identity;
  /** Directory with cert.pem, key.pem (encrypted with PASS) and ca.pem for curl. */
  pemDir(id: string): string;
  /** Starts `custos serve` (extra arguments appended, e.g. --witness); resolves once it listens. */
  start(extra?: readonly string[], dataDir?: string): Promise<void>;
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

// Ports for servers that restart on the same address are taken below Linux's ephemeral range
// (32768-60999): a port from that range can be taken, while its server is down, as the source port
// of some outgoing connection, and the restart would then find its address in use.
const LOW_PORTS = { from: 20_000, to: 32_000 };

export async function freePort(): Promise<number> {
  for (;;) {
    const port = LOW_PORTS.from + Math.floor(Math.random() * (LOW_PORTS.to - LOW_PORTS.from));
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export async function createTestDeployment(options: {
  people: [Role, string][];
  grants?: { auditor: string; patients: string[] }[];
  masterKeyFill?: number;
}): Promise<TestDeployment> {
  const temp = tempDir("custos-e2e-");
  const data = join(temp.dir, "data");
  const masterKey = Buffer.alloc(32, options.masterKeyFill ?? 5).toString("base64");
  const provider = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: masterKey });
  await initDataDir(data, { origin: "e2e.custos.example/log", masterKey: provider });
  const deployment = await Deployment.initCa(data, provider, "stmary");
  const bundles = new Map<string, IdentityBundle>();
  // PEM files are written by `custos identity pem` (a process each) on first use only: a deployment
  // of eight identities spent many seconds of its setup on them, and past two minutes on a loaded
  // machine (retention-e2e's beforeAll timed out so), though most tests never use one.
  const pemDir = (id: string) => {
    const dir = join(temp.dir, "pem", id);
    if (!existsSync(dir))
      spawnSync(process.execPath, [
        BIN,
        "identity",
        "pem",
        "--bundle",
        join(temp.dir, `${id}.custos-id`),
        "--out",
        dir,
      ]);
    return dir;
  };
  for (const [role, id] of options.people) {
    const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 2000 });
    bundles.set(`${role}/${id}`, issued.bundle);
    const file = join(temp.dir, `${id}.custos-id`);
    writeBundle(file, issued.bundle);
  }
  const admin = [...bundles.values()].find((b) => b.role === "admin");
  for (const grant of options.grants ?? []) {
    if (!admin) throw new Error("grants need an enrolled admin");
    await deployment.grant(Identity.unlock(admin, PASS), grant);
  }
  await deployment.close();

  // Every node process started, so none outlives the test (a test may run several at once).
  const servers: ChildProcess[] = [];
  const node = options.people.find(([role]) => role === "node");
  const self: TestDeployment = {
    root: temp.dir,
    data,
    masterKey,
    bundles,
    apiPort: 0,
    portalPort: 0,
    output: "",
    identity: (who) => Identity.unlock(bundles.get(who)!, PASS),
    pemDir,
    async start(extra = [], dataDir = data) {
      if (!node) throw new Error("no node identity enrolled");
      self.apiPort = await freePort();
      self.portalPort = await freePort();
      const child = spawn(
        process.execPath,
        [
          BIN,
          "serve",
          "--data",
          dataDir,
          "--identity",
          join(temp.dir, `${node[1]}.custos-id`),
          "--listen",
          `127.0.0.1:${self.apiPort}`,
          "--portal",
          `127.0.0.1:${self.portalPort}`,
          ...extra,
        ],
        {
          env: processEnv({ masterKey }),
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      servers.push(child);
      self.output = "";
      await new Promise<void>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
        child.stdout!.on("data", (chunk) => {
          out += chunk;
          self.output += chunk;
          if (out.includes("portal (login)")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr!.on("data", (chunk) => {
          out += chunk;
          self.output += chunk;
        });
        child.on("exit", (code) => reject(new Error(`server exited ${code}: ${out}`)));
      });
    },
    async stop() {
      for (const child of servers.splice(0)) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }
    },
    async cleanup() {
      await self.stop();
      temp.cleanup();
    },
  };
  return self;
}

/** The environment every `custos` process of a test deployment runs with. */
export function processEnv(env: Pick<TestDeployment, "masterKey">): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, CUSTOS_MASTER_KEY: env.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS };
}

/** An enrolled witness's own data directory, its port (free, not yet listening) and its verifier key. */
export interface TestWitness {
  readonly id: string;
  readonly dir: string;
  readonly port: number;
  readonly key: string;
}

/**
 * `custos witness init` and `witness add-log` for the enrolled witness `id` (data in `root/id`), so it
 * cosigns `log`; the commands run as child processes without blocking the test's event loop.
 */
export async function initWitness(
  env: Pick<TestDeployment, "root" | "masterKey">,
  id: string,
  log: { readonly origin: string; readonly verifierKey: string },
): Promise<TestWitness> {
  const dir = join(env.root, id);
  const run = async (args: string[]) => {
    try {
      return (await execFileAsync(process.execPath, [BIN, ...args], { env: processEnv(env) })).stdout;
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      throw new Error(`custos ${args.slice(0, 2).join(" ")} failed: ${stderr ?? error}`);
    }
  };
  const init = await run(["witness", "init", "--data", dir, "--name", `${id}.witness.example`]);
  const key = init.trim().split("\n").pop()!;
  await run(["witness", "add-log", "--data", dir, "--origin", log.origin, "--key", log.verifierKey]);
  return { id, dir, port: await freePort(), key };
}

/** `--witness URL=KEY` for `custos serve`, one pair per witness. */
export function witnessFlags(witnesses: readonly TestWitness[]): string[] {
  return witnesses.flatMap((w) => ["--witness", `https://127.0.0.1:${w.port}=${w.key}`]);
}

/** The arguments of `custos witness serve` for the enrolled witness `w.id` on `w.port`. */
export function witnessServeArgs(
  env: Pick<TestDeployment, "root">,
  w: { readonly id: string; readonly dir: string; readonly port: number },
): string[] {
  return [
    "witness",
    "serve",
    "--data",
    w.dir,
    "--identity",
    join(env.root, `${w.id}.custos-id`),
    "--listen",
    `127.0.0.1:${w.port}`,
  ];
}

/** Starts `custos witness serve` for the enrolled witness `w.id` on `w.port`; resolves once it listens. */
export async function startWitnessProcess(
  env: Pick<TestDeployment, "root" | "masterKey">,
  w: { readonly id: string; readonly dir: string; readonly port: number },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...witnessServeArgs(env, w)], {
    env: processEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`witness did not start: ${out}`)), 30_000);
    const seen = (chunk: Buffer) => {
      out += chunk;
      if (out.includes("serving on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.once("exit", (code) => reject(new Error(`witness exited ${code}: ${out}`)));
  });
  return child;
}
