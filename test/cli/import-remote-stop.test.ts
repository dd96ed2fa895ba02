// `custos import --server` against a real node (mutual TLS 1.3) that fails part-way through: a node
// answering INTERNAL or gone is not judging records, so the import stops with the rows stored so far
// counted (exit 2), instead of counting the rest as rejected rows.

import { join } from "node:path";
import { Readable } from "node:stream";
import { Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerImportCommand } from "../../src/cli/commands/import.js";
import { describeError } from "../../src/cli/errors.js";
import type { Io } from "../../src/cli/io.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity, type IdentityBundle, writeBundle } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { startServer } from "../../src/node/index.js";
import { RecordOpener } from "../../src/records/index.js";
import { tempDir } from "../helpers/temp.js";

const MASTER = new EnvProvider("CUSTOS_MASTER_KEY", {
  CUSTOS_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
});
const PASS = "import stop test passphrase";
const HEADER = "event_id,timestamp,user,action,patient";

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `custos import - --server ...` in process with `stdin` as its input, wired the way
 * src/cli/main.ts wires every command.
 */
async function custosImport(args: readonly string[], stdin: Readable): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  let status = 0;
  const io: Io = {
    stdin,
    out: (line) => out.push(line),
    outRaw: (text) => out.push(text),
    err: (line) => err.push(line),
    isTTY: false,
  };
  const program = new Command("custos")
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.outRaw(t), writeErr: (t) => io.err(t.trimEnd()) });
  registerImportCommand(program, io, (code) => {
    status = code;
  });
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(["import", ...args], { from: "user" });
  } catch (error) {
    status = error instanceof CommanderError && error.exitCode === 0 ? 0 : 2;
    if (!(error instanceof CommanderError)) err.push(`error: ${describeError(error)}`);
  }
  return { status, stdout: out.join("\n"), stderr: err.join("\n") };
}

/** CSV rows r{from}..r{to-1}, alternating between the two enrolled patients. */
function rows(prefix: string, from: number, to: number): string {
  let text = "";
  for (let i = from; i < to; i++)
    text += `${prefix}${i},2024-06-01 10:${String(i).padStart(2, "0")}:00,dr.stop,view,${i % 2 ? "P1" : "P2"}\n`;
  return text;
}

/**
 * An input whose second part comes only once the node has stored the first (4 rows, two batches of 2)
 * and `failNode` ran: the stream reads ahead, so it waits for the stored rows, not for being read.
 */
function inputWith(prefix: string, deployment: Deployment, failNode: () => Promise<void>): Readable {
  return Readable.from(
    (async function* () {
      yield `${HEADER}\n${rows(prefix, 0, 4)}`;
      for (let i = 0; i < 300 && (await storedEventIds(deployment, prefix)).length < 4; i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      await failNode();
      yield rows(prefix, 4, 10);
    })(),
  );
}

let root: { dir: string; cleanup: () => void };
let data: string;
let as: string;
const bundles = new Map<string, IdentityBundle>();

beforeAll(async () => {
  root = tempDir("custos-import-stop-");
  data = join(root.dir, "node");
  await initDataDir(data, { origin: "import-stop.custos.example/log", masterKey: MASTER });
  const deployment = await Deployment.initCa(data, MASTER, "stmary");
  for (const [role, id] of [
    ["node", "n1"],
    ["ehr-source", "emr"],
    ["patient", "P1"],
    ["patient", "P2"],
    ["custodian", "privacy"],
  ] as const) {
    const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 2000 });
    bundles.set(id, issued.bundle);
  }
  await deployment.close();
  as = join(root.dir, "emr.custos-id");
  writeBundle(as, bundles.get("emr")!);
  process.env.CUSTOS_BUNDLE_PASSPHRASE = PASS;
}, 120_000);

afterAll(() => {
  delete process.env.CUSTOS_BUNDLE_PASSPHRASE;
  root.cleanup();
});

async function startNode() {
  const deployment = await Deployment.open(data, MASTER);
  const server = await startServer({
    deployment,
    identity: Identity.unlock(bundles.get("n1")!, PASS),
    api: { host: "127.0.0.1", port: 0 },
  });
  return { deployment, server, url: `https://127.0.0.1:${server.api.port}` };
}

async function storedEventIds(deployment: Deployment, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (const patient of ["P1", "P2"]) {
    const key = Identity.unlock(bundles.get(patient)!, PASS).encryptionPrivateKey();
    const { records } = await deployment.vault.readTrail(patient, new RecordOpener(key));
    ids.push(...records.map((r) => r.record.sourceEventId ?? "").filter((id) => id.startsWith(prefix)));
  }
  return ids.sort();
}

describe("custos import --server when the node fails mid-import", () => {
  it("stops with the rows stored so far when the node answers INTERNAL, rejecting no row", async () => {
    const { deployment, server, url } = await startNode();
    try {
      const input = inputWith("int", deployment, async () => {
        // The node's store starts failing in a way it has no code for: the node answers INTERNAL.
        // (The records route seals and appends through ingestPrepared, after preparing on workers.)
        deployment.vault.ingestPrepared = async () => {
          throw new Error("the disk controller reset");
        };
      });
      const r = await custosImport(["-", "--server", url, "--as", as, "--batch", "2", "--json"], input);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error: the import stopped after 4 imported row\(s\): /);
      const summary = JSON.parse(r.stdout);
      expect(summary).toMatchObject({ mode: "remote", imported: 4, rejected: 0, rejections: [] });
      expect(summary.stopped).toMatch(/the server could not complete the request/);
      Reflect.deleteProperty(deployment.vault, "ingestPrepared");
      expect(await storedEventIds(deployment, "int")).toEqual(["int0", "int1", "int2", "int3"]);
    } finally {
      await server.close();
      await deployment.close();
    }
  }, 120_000);

  it("stops with the rows stored so far when the node can no longer be reached", async () => {
    const { deployment, server, url } = await startNode();
    let closed = false;
    try {
      const input = inputWith("gone", deployment, async () => {
        await server.close();
        closed = true;
      });
      const r = await custosImport(["-", "--server", url, "--as", as, "--batch", "2", "--json"], input);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        /^error: the import stopped after 4 imported row\(s\): could not reach the node/,
      );
      expect(JSON.parse(r.stdout)).toMatchObject({ mode: "remote", imported: 4, rejected: 0 });
      expect(await storedEventIds(deployment, "gone")).toEqual(["gone0", "gone1", "gone2", "gone3"]);
    } finally {
      if (!closed) await server.close();
      await deployment.close();
    }
  }, 120_000);
});
