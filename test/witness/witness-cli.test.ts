// `custos witness` as real processes (the built CLI, dist/): init, add-log, show and evidence, and
// `serve` over real TLS with curl posting real add-checkpoint bodies, with and without client
// certificates, plus two serve processes on one data directory racing without a rollback.
//
// The command is wired into a program here by a small generated script, so the test does not depend
// on main.ts listing it (it uses main.ts's program when it does).

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64, utf8 } from "../../src/core/bytes.js";
import { openCheckpoint, signCheckpoint } from "../../src/core/checkpoint/index.js";
import { encodeDataEntry } from "../../src/core/entry/index.js";
import {
  generateCosignerKey,
  generateSignerKey,
  openNote,
  parseVerifierKey,
  verifierKeyFromSigner,
  verifyCosignature,
} from "../../src/core/note/index.js";
import { randomBytes } from "../../src/core/platform.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { writeBundle } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { freePort } from "../helpers/deployment.js";
import { tempDir } from "../helpers/temp.js";

const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));
const PASS = "witness cli passphrase";
const ORIGIN = "hospital.test/cli-log";
const NAME = "witness.test/cli";
const MASTER_KEY = Buffer.alloc(32, 11).toString("base64");
const ENV = { CUSTOS_MASTER_KEY: MASTER_KEY, CUSTOS_BUNDLE_PASSPHRASE: PASS };

const temp = tempDir("custos-witness-cli-");
const script = join(temp.dir, "custos-witness.mjs");
const wdir = join(temp.dir, "witness");
const pem = join(temp.dir, "pem");
let ledger: Ledger;
let logVerifierKey = "";
let logSignerKey = "";
let witnessKey = "";
const outputs: string[] = [];
const children: ChildProcess[] = [];

/** The CLI program with the witness commands, failing like main.ts: `error: ...`, non-zero exit. */
function writeRunner(): void {
  const at = (file: string) => JSON.stringify(pathToFileURL(join(DIST, file)).href);
  writeFileSync(
    script,
    `import { buildProgram } from ${at("cli/main.js")};
import { registerWitnessCommands } from ${at("cli/commands/witness.js")};
import { processIo } from ${at("cli/io.js")};
import { describeError } from ${at("cli/errors.js")};
let code = 0;
const program = buildProgram(processIo, (c) => { code = c; });
if (!program.commands.some((c) => c.name() === "witness")) registerWitnessCommands(program, processIo);
const override = (command) => { command.exitOverride(); command.commands.forEach(override); };
override(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: "user" });
} catch (error) {
  if (typeof error?.code === "string" && error.code.startsWith("commander.")) code = error.exitCode === 0 ? 0 : 2;
  else { process.stderr.write("error: " + describeError(error) + "\\n"); code = 2; }
}
process.exitCode = code;
`,
  );
}

interface Result {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function witnessCli(args: readonly string[], env: Record<string, string> = ENV): Result {
  const result = spawnSync(process.execPath, [script, "witness", ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
    timeout: 60_000,
  });
  outputs.push(result.stdout, result.stderr);
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

async function serve(
  args: readonly string[],
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [script, "witness", "serve", "--data", wdir, "--listen", `127.0.0.1:${port}`, ...args],
    { env: { PATH: process.env.PATH, ...ENV }, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.push(child);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`witness did not start: ${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk;
      if (out.includes("serving on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`witness exited ${code}: ${out}`));
    });
  });
  return {
    child,
    port,
    output: () => {
      outputs.push(out);
      return out;
    },
  };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.removeAllListeners("exit");
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}

interface CurlResult {
  readonly exit: number;
  readonly http: number;
  readonly contentType: string;
  readonly body: string;
}

/** curl as the real client: posts a body file to add-checkpoint (or GETs a path). */
function curl(port: number, path: string, options: { body?: string; clientCert?: boolean } = {}): CurlResult {
  const args = [
    "-sS",
    "--max-time",
    "20",
    "--cacert",
    join(pem, "ca.pem"),
    "-o",
    "-",
    "-w",
    "\n%{http_code} %{content_type}",
  ];
  if (options.clientCert)
    args.push("--cert", join(pem, "cert.pem"), "--key", join(pem, "key.pem"), "--pass", PASS);
  if (options.body !== undefined) {
    const file = join(temp.dir, `body-${randomBytes(6).reduce((s, b) => s + b.toString(16), "")}`);
    writeFileSync(file, options.body);
    args.push("-H", "content-type:", "--data-binary", `@${file}`);
  }
  args.push(`https://127.0.0.1:${port}${path}`);
  const result = spawnSync("curl", args, { encoding: "utf8", timeout: 30_000 });
  const out = result.stdout;
  const cut = out.lastIndexOf("\n");
  const [code, type] = out.slice(cut + 1).split(" ");
  return { exit: result.status ?? -1, http: Number(code), contentType: type ?? "", body: out.slice(0, cut) };
}

function body(oldSize: number, proof: readonly Uint8Array[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(h)}\n`).join("")}\n${note}`;
}

/** The size the witness holds for the log, as `show` reads it from its data directory. */
function witnessSize(): number {
  return JSON.parse(witnessCli(["show", "--data", wdir, "--json"]).stdout).logs[0].size;
}

async function grow(count: number): Promise<string> {
  const start = await ledger.size();
  await ledger.append(
    Array.from({ length: count }, (_, i) => ({ entry: encodeDataEntry(utf8(`cli ${start + i}`)) })),
  );
  return (await ledger.checkpoint()).note;
}

beforeAll(async () => {
  if (!existsSync(join(DIST, "cli", "commands", "witness.js")))
    throw new Error("dist/ has no witness command: run `npm run -s build` first (npm test does)");
  writeRunner();
  const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: MASTER_KEY });
  const data = join(temp.dir, "deployment");
  await initDataDir(data, { origin: "deployment.test/log", masterKey });
  const deployment = await Deployment.initCa(data, masterKey, "stmary");
  const witness = await deployment.enroll({
    role: "witness",
    id: "w1",
    passphrase: PASS,
    kdfIterations: 2000,
  });
  const node = await deployment.enroll({ role: "node", id: "n1", passphrase: PASS, kdfIterations: 2000 });
  await deployment.close();
  writeBundle(join(temp.dir, "w1.custos-id"), witness.bundle);
  writeBundle(join(temp.dir, "n1.custos-id"), node.bundle);
  mkdirSync(pem);
  writeFileSync(join(pem, "ca.pem"), node.bundle.caCertificate);
  writeFileSync(join(pem, "cert.pem"), node.bundle.signingCertificate);
  writeFileSync(join(pem, "key.pem"), node.bundle.signingKey);

  logSignerKey = generateSignerKey(ORIGIN).signerKey;
  logVerifierKey = verifierKeyFromSigner(logSignerKey);
  const store = SqliteStore.open(join(temp.dir, "log"), { create: true });
  await store.initialize({
    origin: ORIGIN,
    verifierKey: logVerifierKey,
    createdAt: Date.now(),
    formatVersion: 1,
  });
  ledger = await Ledger.open(store, { checkpointIntervalMs: 3_600_000, signerKey: logSignerKey });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await ledger?.close();
  temp.cleanup();
});

describe("custos witness (CLI processes)", () => {
  it("init creates the witness and prints only its verifier key", () => {
    const result = witnessCli(["init", "--data", wdir, "--name", NAME]);
    expect(result.status, result.stderr).toBe(0);
    witnessKey = result.stdout.trim().split("\n").at(-1)!;
    expect(parseVerifierKey(witnessKey)).toMatchObject({ name: NAME, type: 0x04 });
    expect(existsSync(join(wdir, "witness.db"))).toBe(true);
    expect(existsSync(join(wdir, "keystore.json"))).toBe(true);

    const again = witnessCli(["init", "--data", wdir, "--name", NAME]);
    expect(again.status).not.toBe(0);
    expect(again.stderr.trim()).toMatch(/^error: .*already holds a witness$/);
    const noKey = witnessCli(["init", "--data", join(temp.dir, "w2"), "--name", NAME], {});
    expect(noKey.status).not.toBe(0);
    expect(noKey.stderr.trim().split("\n")).toHaveLength(1);
    const badName = witnessCli(["init", "--data", join(temp.dir, "w3"), "--name", "has space"]);
    expect(badName.status).not.toBe(0);
  });

  it("add-log trusts an Ed25519 log key for an origin and refuses anything else", () => {
    const added = witnessCli(["add-log", "--data", wdir, "--origin", ORIGIN, "--key", logVerifierKey]);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).toContain(`watching ${ORIGIN}`);
    expect(
      witnessCli(["add-log", "--data", wdir, "--origin", ORIGIN, "--key", logVerifierKey]).stdout,
    ).toContain("already trusts");
    const cosignerKey = generateCosignerKey("not.a/log").verifierKey;
    for (const [origin, key] of [
      [ORIGIN, cosignerKey],
      [ORIGIN, "not-a-key"],
      ["bad\torigin", logVerifierKey],
    ] as const) {
      const refused = witnessCli(["add-log", "--data", wdir, "--origin", origin, "--key", key]);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr.trim()).toMatch(/^error: [^\n]+$/);
    }
    const missing = witnessCli([
      "add-log",
      "--data",
      join(temp.dir, "nowhere"),
      "--origin",
      ORIGIN,
      "--key",
      logVerifierKey,
    ]);
    expect(missing.stderr).toMatch(/^error: no witness in/);
  });

  it("show lists the witness, its logs, sizes and evidence", () => {
    const text = witnessCli(["show", "--data", wdir]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`witness ${NAME}`);
    expect(text.stdout).toContain("nothing cosigned yet");
    const json = JSON.parse(witnessCli(["show", "--data", wdir, "--json"]).stdout);
    expect(json).toMatchObject({
      name: NAME,
      verifierKey: witnessKey,
      evidence: 0,
      logs: [{ origin: ORIGIN, verifierKeys: [logVerifierKey], size: null }],
    });
  });

  it("serve cosigns a real add-checkpoint body posted with curl, and stops cleanly", async () => {
    const server = await serve(["--identity", join(temp.dir, "w1.custos-id")]);
    const note = await grow(12);
    const first = curl(server.port, "/add-checkpoint", { body: body(0, [], note) });
    expect(first.http, first.body).toBe(200);
    const text = openNote(note, [logVerifierKey]).text;
    expect(verifyCosignature(text, first.body, witnessKey).ok).toBe(true);

    const stale = curl(server.port, "/add-checkpoint", { body: body(0, [], note) });
    expect([stale.http, stale.contentType, stale.body]).toEqual([409, "text/x.tlog.size", "12\n"]);

    const next = await grow(8);
    const proof = await ledger.consistencyProof(12, 20);
    expect(curl(server.port, "/add-checkpoint", { body: body(12, proof, next) }).http).toBe(200);
    const latest = curl(server.port, `/checkpoints/${encodeURIComponent(ORIGIN)}`);
    expect(latest.http).toBe(200);
    expect(openCheckpoint(latest.body, logVerifierKey, { cosignerKeys: [witnessKey] }).cosigners).toEqual([
      NAME,
    ]);

    // A same-size checkpoint with another root, validly signed: refused, kept as evidence.
    const forged = signCheckpoint({ origin: ORIGIN, size: 20, rootHash: randomBytes(32) }, logSignerKey);
    expect(curl(server.port, "/add-checkpoint", { body: body(20, [], forged) }).http).toBe(409);

    const shown = JSON.parse(witnessCli(["show", "--data", wdir, "--json"]).stdout);
    expect(shown).toMatchObject({ evidence: 1, logs: [{ origin: ORIGIN, size: 20, evidence: 1 }] });
    const evidence = JSON.parse(witnessCli(["evidence", "--data", wdir, "--json"]).stdout);
    expect(evidence).toMatchObject([
      { origin: ORIGIN, kind: "same-size-different-root", heldSize: 20, submittedNote: forged },
    ]);
    expect(witnessCli(["evidence", "--data", wdir]).stdout).toContain("same-size-different-root");

    const info = JSON.parse(curl(server.port, "/witness").body);
    expect(info).toEqual({ name: NAME, verifierKey: witnessKey });

    expect(await stop(server.child)).toBe(0);
    expect(server.output()).toContain("stopped");
  });

  it("two serve processes on one data directory never roll the size back", async () => {
    const a = await serve(["--identity", join(temp.dir, "w1.custos-id")]);
    const b = await serve(["--identity", join(temp.dir, "w1.custos-id")]);
    for (let round = 0; round < 4; round++) {
      // From what the witness holds (a round's requests race, so it may end below the log's size).
      const held = witnessSize();
      const top = await ledger.size();
      const sizes = [top + 1, top + 3, top + 6];
      const notes: string[] = [];
      for (const size of sizes) notes.push(await grow(size - (await ledger.size())));
      const requests: { size: number; text: string }[] = [];
      for (const [i, size] of sizes.entries()) {
        requests.push({ size, text: body(held, await ledger.consistencyProof(held, size), notes[i]!) });
        for (const [j, bigger] of sizes.entries())
          if (bigger > size)
            requests.push({
              size: bigger,
              text: body(size, await ledger.consistencyProof(size, bigger), notes[j]!),
            });
      }
      const replies = await Promise.all(
        requests.map(({ size, text }, i) =>
          post(i % 2 === 0 ? a.port : b.port, text).then((status) => ({ size, status })),
        ),
      );
      for (const reply of replies) expect([200, 409]).toContain(reply.status);
      const cosigned = replies.filter((r) => r.status === 200).map((r) => r.size);
      const shown = JSON.parse(witnessCli(["show", "--data", wdir, "--json"]).stdout);
      expect(shown.logs[0].size).toBe(Math.max(...cosigned));
      expect(shown.logs[0].size).toBeGreaterThan(held);
    }
    expect(await stop(a.child)).toBe(0);
    expect(await stop(b.child)).toBe(0);
  });

  it("serve --mtls requires a client certificate from the deployment CA", async () => {
    const server = await serve(["--identity", join(temp.dir, "w1.custos-id"), "--mtls"]);
    const held = witnessSize();
    const note = await grow(2);
    const size = await ledger.size();
    const text = body(held, await ledger.consistencyProof(held, size), note);
    const anonymous = curl(server.port, "/add-checkpoint", { body: text });
    expect(anonymous.exit).not.toBe(0);
    const withCert = curl(server.port, "/add-checkpoint", { body: text, clientCert: true });
    expect(withCert.http, withCert.body).toBe(200);
    expect(await stop(server.child)).toBe(0);
  });

  it("serve refuses an identity that is not a witness, and a missing passphrase", () => {
    const node = witnessCli(["serve", "--data", wdir, "--identity", join(temp.dir, "n1.custos-id")]);
    expect(node.status).not.toBe(0);
    expect(node.stderr.trim()).toMatch(/^error: .*witness identity \(role witness\)/);
    const noPass = witnessCli(["serve", "--data", wdir, "--identity", join(temp.dir, "w1.custos-id")], {
      CUSTOS_MASTER_KEY: MASTER_KEY,
    });
    expect(noPass.stderr.trim()).toMatch(/^error: no bundle passphrase/);
  });

  it("never prints the cosigner's private key", () => {
    for (const text of outputs) expect(text).not.toContain("PRIVATE+KEY");
  });
});

function post(port: number, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/add-checkpoint",
        ca: readFileSync(join(pem, "ca.pem"), "utf8"),
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}
