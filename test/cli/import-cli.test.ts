// `custos import` end to end, in process: a real SQLite data directory, a keystore under a master key
// from CUSTOS_MASTER_KEY, records sealed and read back with the readers' own keys; and the remote mode
// through a real node on mutual TLS 1.3.

import { readFileSync, writeFileSync } from "node:fs";
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
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { startServer } from "../../src/node/index.js";
import { RecordOpener } from "../../src/records/index.js";
import { tempDir } from "../helpers/temp.js";

const MASTER_KEY = Buffer.alloc(32, 9).toString("base64");
const MASTER = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: MASTER_KEY });
const PASS = "import test passphrase";

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `custos import ...` in process, wired the way src/cli/main.ts wires every command. */
async function custosImport(args: readonly string[], stdin = ""): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  let status = 0;
  const io: Io = {
    stdin: Readable.from([stdin]),
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

async function logSize(dir: string): Promise<number> {
  const store = SqliteStore.open(dir, { readonly: true });
  try {
    return await store.getSize();
  } finally {
    await store.close();
  }
}

async function verifyClean(dir: string): Promise<void> {
  const store = SqliteStore.open(dir, { readonly: true });
  try {
    expect((await verifyStore(store)).findings).toEqual([]);
  } finally {
    await store.close();
  }
}

let root: { dir: string; cleanup: () => void };
/** Each node's readers' X25519 private keys (p1, p2, custodian), by data directory. */
const nodeKeys = new Map<string, Record<string, Uint8Array>>();

/** A fresh data directory with its CA: custodian, P1 and P2 enrolled (P3 is not). */
async function localNode(name: string): Promise<string> {
  const dir = join(root.dir, name);
  await initDataDir(dir, { origin: "import.custos.example/log", masterKey: MASTER });
  const deployment = await Deployment.initCa(dir, MASTER, "imports");
  const keys: Record<string, Uint8Array> = {};
  for (const [who, role, id] of [
    ["custodian", "custodian", "custodian"],
    ["p1", "patient", "P1"],
    ["p2", "patient", "P2"],
  ] as const) {
    const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 1000 });
    keys[who] = Identity.unlock(issued.bundle, PASS).encryptionPrivateKey();
  }
  await deployment.close();
  nodeKeys.set(dir, keys);
  return dir;
}

async function trail(dir: string, patient: string, reader: "p1" | "p2" | "custodian") {
  const deployment = await Deployment.open(dir, MASTER);
  try {
    const { records } = await deployment.vault.readTrail(
      patient,
      new RecordOpener(nodeKeys.get(dir)![reader]!),
    );
    return records.map((r) => r.record).sort((a, b) => a.time.localeCompare(b.time));
  } finally {
    await deployment.close();
  }
}

function file(name: string, text: string): string {
  const path = join(root.dir, name);
  writeFileSync(path, text);
  return path;
}

const GOOD_CSV = [
  "Event ID,Timestamp,User ID,Action,MRN,Purpose,Break Glass,Workstation",
  "e1,2024-03-01 08:15:00,dr-import-secret,VIEW,P1,treatment,no,ws-1",
  'e2,2024-03-01 08:16:00,nurse.b,Edit,P2,"care, follow-up",yes,ws-2',
  "e3,2024-03-01T08:17:00+01:00,dr.c,Print,P1,,,ws-1",
].join("\r\n");

beforeAll(() => {
  root = tempDir("custos-import-cli-");
  process.env.CUSTOS_MASTER_KEY = MASTER_KEY;
});

afterAll(() => {
  delete process.env.CUSTOS_MASTER_KEY;
  delete process.env.CUSTOS_BUNDLE_PASSPHRASE;
  root.cleanup();
});

describe("custos import into a data directory", () => {
  it("seals every row for its readers, who read back exactly what the export said", async () => {
    const dir = await localNode("good");
    const r = await custosImport([file("good.csv", GOOD_CSV), "--data", dir, "--source", "legacy-emr"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/rows read\s+3/);
    expect(r.stdout).toMatch(/imported\s+3/);
    expect(r.stdout).toMatch(/rejected\s+0/);
    // Workstation maps to the record's network address: no column is ignored.
    expect(r.stdout).not.toContain("ignored columns");

    expect(await trail(dir, "P1", "p1")).toEqual([
      {
        time: "2024-03-01T07:17:00.000Z",
        patientId: "P1",
        userId: "dr.c",
        action: "print",
        sourceEventId: "e3",
        sourceSystem: "legacy-emr",
        networkAddress: "ws-1",
      },
      {
        time: "2024-03-01T08:15:00.000Z",
        patientId: "P1",
        userId: "dr-import-secret",
        action: "query",
        sourceEventId: "e1",
        sourceSystem: "legacy-emr",
        purposeOfUse: "treatment",
        emergency: false,
        networkAddress: "ws-1",
      },
    ]);
    expect(await trail(dir, "P2", "custodian")).toEqual([
      {
        time: "2024-03-01T08:16:00.000Z",
        patientId: "P2",
        userId: "nurse.b",
        action: "change",
        sourceEventId: "e2",
        sourceSystem: "legacy-emr",
        purposeOfUse: "care, follow-up",
        emergency: true,
        networkAddress: "ws-2",
      },
    ]);
    // P2's key does not open P1's records.
    expect(await trail(dir, "P1", "p2")).toEqual([]);
    // Nothing of the plaintext is on disk.
    const disk = Buffer.concat(
      ["custos.db", "custos.db-wal"].map((f) => {
        try {
          return readFileSync(join(dir, f));
        } catch {
          return Buffer.alloc(0);
        }
      }),
    );
    expect(disk.includes(Buffer.from("dr-import-secret"))).toBe(false);
    await verifyClean(dir);

    // A replay of the same export stores no record twice: every row is a duplicate of its event ID.
    // (A new process starts new key epochs, so the log does grow by their wrapped keys.)
    const again = await custosImport([
      join(root.dir, "good.csv"),
      "--data",
      dir,
      "--source",
      "legacy-emr",
      "--json",
    ]);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rowsRead: 3, imported: 0, duplicates: 3, rejected: 0 });
    expect(await trail(dir, "P1", "custodian")).toHaveLength(2);

    // The same event ID with other content is refused row by row; the rest of its batch is stored.
    const changed = await custosImport([
      file(
        "changed.csv",
        `${GOOD_CSV.replace("e2,2024-03-01 08:16:00,nurse.b,Edit", "e2,2024-03-01 08:16:00,nurse.b,Print")}\r\ne4,2024-03-01 09:00:00,dr.d,VIEW,P1,,,ws-1`,
      ),
      "--data",
      dir,
      "--source",
      "legacy-emr",
      "--json",
    ]);
    expect(changed.status).toBe(1);
    const summary = JSON.parse(changed.stdout);
    expect(summary).toMatchObject({ rowsRead: 4, imported: 1, duplicates: 2, rejected: 1 });
    expect(summary.reasons).toEqual([
      { reason: expect.stringContaining("already recorded with different content"), count: 1 },
    ]);
    expect(await trail(dir, "P1", "custodian")).toHaveLength(3);
  });

  it("imports the good rows, rejects the rest, and names each rejected row without its patient ID", async () => {
    const dir = await localNode("mixed");
    const csv = [
      "timestamp,user,action,patient,event_id",
      "2024-03-01 09:00:00,u1,view,P1,m1",
      "2024-03-01 09:01:00,u2,frobnicate,P1,m2",
      "2024-03-01 09:02:00,u3,view,P3,m3",
      "yesterday,u4,view,P2,m4",
      "2024-03-01 09:04:00,u5,download,P2,m5",
      "2024-03-01 09:05:00,u6,view,P3,m6",
    ].join("\n");
    const r = await custosImport([file("mixed.csv", csv), "--data", dir, "--source", "legacy-emr"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/rows read\s+6/);
    expect(r.stdout).toMatch(/imported\s+2/);
    expect(r.stdout).toMatch(/rejected\s+4/);
    expect(r.stdout).toContain("2  patient: no encryption key is enrolled for this patient");
    expect(r.stdout).toContain("row 2 (line 3): action: not a recognised action word");
    expect(r.stdout).toContain("row 3 (line 4): patient: no encryption key is enrolled for this patient");
    expect(r.stdout).toContain("row 4 (line 5): timestamp: not a date and time");
    expect(r.stdout).toContain("row 6 (line 7): patient");
    expect(r.stdout).not.toContain("P3");
    expect((await trail(dir, "P2", "p2")).map((x) => x.action)).toEqual(["copy"]);
  });

  it("writes nothing in a dry run: the log size is unchanged", async () => {
    const dir = await localNode("dry");
    const before = await logSize(dir);
    const r = await custosImport([file("dry.csv", GOOD_CSV), "--data", dir, "--source", "x", "--dry-run"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/valid\s+3/);
    expect(r.stdout).toContain("dry run: nothing was written");
    expect(await logSize(dir)).toBe(before);
    expect(await trail(dir, "P1", "p1")).toEqual([]);
    // Without a destination, a dry run only parses and validates.
    const bare = await custosImport([join(root.dir, "dry.csv"), "--dry-run", "--json"]);
    expect(bare.status).toBe(0);
    expect(JSON.parse(bare.stdout)).toMatchObject({
      mode: "validate-only",
      rowsRead: 3,
      valid: 3,
      imported: 0,
    });
  });

  it("in strict mode imports nothing when any row is rejected, and everything (even from stdin) when none is", async () => {
    const dir = await localNode("strict");
    const before = await logSize(dir);
    const bad = `${GOOD_CSV}\r\ne4,2024-03-01 08:18:00,dr.d,view,P3,,,ws-1\r\n`;
    const refused = await custosImport([
      file("strict-bad.csv", bad),
      "--data",
      dir,
      "--source",
      "s",
      "--strict",
    ]);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain("strict: nothing was imported because 1 row(s) were rejected");
    expect(refused.stdout).toContain(
      "row 4 (line 5): patient: no encryption key is enrolled for this patient",
    );
    expect(await logSize(dir)).toBe(before);

    const fromStdin = await custosImport(
      ["-", "--data", dir, "--source", "s", "--strict", "--json"],
      GOOD_CSV,
    );
    expect(fromStdin.stderr).toBe("");
    expect(fromStdin.status).toBe(0);
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({
      strict: true,
      written: true,
      imported: 3,
      rejected: 0,
    });
    const fromFile = await custosImport([
      join(root.dir, "good.csv"),
      "--data",
      dir,
      "--source",
      "s2",
      "--strict",
    ]);
    expect(fromFile.status).toBe(0);
    expect(fromFile.stdout).toMatch(/imported\s+3/);
    expect(await trail(dir, "P1", "p1")).toHaveLength(4);
    await verifyClean(dir);
  });

  it("lists the first 20 rejected rows and counts every reason in the JSON summary", async () => {
    const dir = await localNode("many");
    const lines = ["timestamp,user,action,patient"];
    for (let i = 0; i < 30; i++)
      lines.push(`2024-03-01 10:00:${String(i).padStart(2, "0")},u,${i % 3 ? "zap" : "view"},P1`);
    for (let i = 0; i < 5; i++) lines.push(`2024-03-01 10:01:00,u,view,P1,extra`);
    const r = await custosImport([
      file("many.csv", lines.join("\n")),
      "--data",
      dir,
      "--source",
      "s",
      "--json",
      "--batch",
      "3",
    ]);
    expect(r.status).toBe(1);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ rowsRead: 35, imported: 10, rejected: 25, duplicates: 0 });
    expect(summary.rejections).toHaveLength(20);
    expect(summary.rejections[0]).toEqual({
      row: 2,
      line: 3,
      reason: "action: not a recognised action word",
    });
    expect(summary.reasons).toEqual([
      { reason: "action: not a recognised action word", count: 20 },
      { reason: "has 5 fields, the header has 4", count: 5 },
    ]);
  });

  it("fails with one line and exit 2 when the import cannot run, writing nothing", async () => {
    const dir = await localNode("errors");
    const before = await logSize(dir);
    const path = join(root.dir, "good.csv");
    const cases: [string[], RegExp][] = [
      [[path, "--data", dir], /--source NAME is required/],
      [[path, "--source", "s"], /say where to import/],
      [[path, "--data", dir, "--source", "s", "--server", "https://127.0.0.1:1", "--as", "x"], /two modes/],
      [[path, "--data", dir, "--source", "s", "--batch", "0"], /--batch must be between 1 and 10000/],
      [[path, "--data", dir, "--source", "s", "--format", "xml"], /--format must be one of csv, json, auto/],
      [[path, "--data", dir, "--source", "s", "--timezone-offset", "+2"], /timezone offset must be/],
      [[join(root.dir, "missing.csv"), "--data", dir, "--source", "s"], /cannot read .*missing\.csv/],
      [
        [file("nohead.csv", "when,who,what\n1,2,3\n"), "--data", dir, "--source", "s"],
        /has no column for timestamp/,
      ],
      [[path, "--data", dir, "--source", "s", "--format", "json"], /not JSON/],
    ];
    for (const [args, message] of cases) {
      const r = await custosImport(args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr.split("\n"), args.join(" ")).toHaveLength(1);
    }
    expect(await logSize(dir)).toBe(before);

    const bare = join(root.dir, "no-custodian");
    await initDataDir(bare, { origin: "import.custos.example/log", masterKey: MASTER });
    await (await Deployment.initCa(bare, MASTER, "imports")).close();
    const r = await custosImport([path, "--data", bare, "--source", "s"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      "error: no custodian encryption key is enrolled; enroll the custodian before importing",
    );
    expect(r.stdout).toBe("");
  });

  it("reads JSON arrays and NDJSON with the same synonyms, at a given timezone offset", async () => {
    const dir = await localNode("json");
    const array = JSON.stringify([
      { datetime: "2024-07-01 12:00:00", username: "u1", activity: "open", patient_id: "P1", id: "j1" },
      {
        datetime: "2024-07-01 12:05:00",
        username: "u2",
        activity: "insert",
        patient_id: "P1",
        id: "j2",
        btg: true,
      },
    ]);
    const r = await custosImport([
      file("a.json", array),
      "--data",
      dir,
      "--source",
      "s",
      "--timezone-offset",
      "+02:00",
    ]);
    expect(r.status).toBe(0);
    const ndjson = `{"time":"2024-07-01T13:00:00Z","user":"u3","event":"remove","subject":"P1"}\n`;
    const n = await custosImport(["-", "--data", dir, "--source", "s", "--format", "json"], ndjson);
    expect(n.status).toBe(0);
    expect((await trail(dir, "P1", "p1")).map((x) => [x.time, x.action, x.emergency])).toEqual([
      ["2024-07-01T10:00:00.000Z", "query", undefined],
      ["2024-07-01T10:05:00.000Z", "create", true],
      ["2024-07-01T13:00:00.000Z", "delete", undefined],
    ]);
  });
});

describe("custos import with a deployment CA", () => {
  let data: string;
  const bundles = new Map<string, IdentityBundle>();

  beforeAll(async () => {
    data = join(root.dir, "deployment");
    await initDataDir(data, { origin: "ca-import.custos.example/log", masterKey: MASTER });
    const deployment = await Deployment.initCa(data, MASTER, "stmary");
    for (const [role, id] of [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
      ["auditor", "A1"],
    ] as const) {
      const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 2000 });
      bundles.set(id, issued.bundle);
      writeBundle(join(root.dir, `${id}.custos-id`), issued.bundle);
    }
    await deployment.close();
    process.env.CUSTOS_BUNDLE_PASSPHRASE = PASS;
  }, 120_000);

  const readerKey = (id: string) => Identity.unlock(bundles.get(id)!, PASS).encryptionPrivateKey();

  it("imports through a running node over mutual TLS as an EHR source, patient by patient when refused", async () => {
    const as = join(root.dir, "emr.custos-id");
    let url = "";
    const deployment = await Deployment.open(data, MASTER);
    const server = await startServer({
      deployment,
      identity: Identity.unlock(bundles.get("n1")!, PASS),
      api: { host: "127.0.0.1", port: 0 },
    });
    try {
      const csv = [
        "event_id,timestamp,user,action,patient,source",
        "r1,2024-05-01 10:00:00,dr.remote,view,P1,",
        "r2,2024-05-01 10:01:00,dr.remote,view,P9,",
        "r3,2024-05-01 10:02:00,dr.remote,edit,P1,emr",
        "r4,2024-05-01 10:03:00,dr.remote,edit,P1,another-system",
        "r5,2024-05-01 10:04:00,dr.remote,export,P1,",
      ].join("\n");
      url = `https://127.0.0.1:${server.api.port}`;
      const r = await custosImport([file("remote.csv", csv), "--server", url, "--as", as, "--json"]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(1);
      const summary = JSON.parse(r.stdout);
      expect(summary).toMatchObject({ mode: "remote", rowsRead: 5, imported: 3, rejected: 2 });
      expect(summary.rejections).toEqual([
        { row: 2, line: 3, reason: expect.stringMatching(/^patient: the node .* enrolled/) },
        {
          row: 4,
          line: 5,
          reason: "source: names another system; a node accepts records only in the submitter's own name",
        },
      ]);
      const { records } = await deployment.vault.readTrail("P1", new RecordOpener(readerKey("P1")));
      expect(records.map((x) => x.record.sourceEventId).sort()).toEqual(["r1", "r3", "r5"]);
      expect(records.every((x) => x.source === "emr")).toBe(true);

      // A replay through the node: the same event IDs from the same source are duplicates.
      const again = await custosImport([join(root.dir, "remote.csv"), "--server", url, "--as", as, "--json"]);
      expect(JSON.parse(again.stdout)).toMatchObject({ imported: 0, duplicates: 3, rejected: 2 });

      const wrongSource = await custosImport([
        join(root.dir, "remote.csv"),
        "--server",
        url,
        "--as",
        as,
        "--source",
        "x",
      ]);
      expect(wrongSource.status).toBe(2);
      expect(wrongSource.stderr).toMatch(/--source must be the submitting identity's ID \(emr\)/);
    } finally {
      await server.close();
      await deployment.close();
    }
    // The node gone: one line, exit 2.
    const gone = await custosImport([join(root.dir, "remote.csv"), "--server", url, "--as", as]);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toMatch(/^error: could not reach the node: /);
  });

  it("imports locally into a stopped node that has a CA, sealing for the readers enrolled in the log", async () => {
    const csv = "timestamp,user,action,patient,event_id\n2024-05-02 09:00:00,dr.local,print,P1,l1\n";
    const before = await logSize(data);
    const r = await custosImport([file("ca-local.csv", csv), "--data", data, "--source", "migration"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(await logSize(data)).toBeGreaterThan(before);
    const deployment = await Deployment.open(data, MASTER);
    try {
      for (const reader of ["P1", "privacy"]) {
        const { records } = await deployment.vault.readTrail("P1", new RecordOpener(readerKey(reader)));
        expect(records.find((x) => x.record.sourceEventId === "l1")?.record).toEqual({
          time: "2024-05-02T09:00:00.000Z",
          patientId: "P1",
          userId: "dr.local",
          action: "print",
          sourceEventId: "l1",
          sourceSystem: "migration",
        });
      }
    } finally {
      await deployment.close();
    }
    await verifyClean(data);
  });
});
