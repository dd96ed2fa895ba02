// kill -9 under load: every acknowledged entry must be there after a restart, verify must be clean,
// and the log must accept appends again. Runs a real writer process against each backend.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { bytesEqual, fromHex } from "../../src/core/bytes.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";
import { dataEntry } from "./fixtures.js";

const CHILD = fileURLToPath(new URL("./crash-child.mjs", import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

interface Backend {
  name: "sqlite" | "postgres";
  prepare(): Promise<{ location: string; schema: string; open(): Promise<LedgerStore> }>;
}

const backends: Backend[] = [
  {
    name: "sqlite",
    async prepare() {
      const { dir, cleanup } = tempDir("custos-crash-");
      cleanups.push(cleanup);
      return { location: dir, schema: "", open: async () => SqliteStore.open(dir, { create: true }) };
    },
  },
  {
    name: "postgres",
    async prepare() {
      await requirePostgres();
      const schema = testSchema();
      cleanups.push(() => dropSchema(schema));
      return { location: PG_URL, schema, open: () => PostgresStore.open(PG_URL, { schema, create: true }) };
    },
  },
];

function runUntilKilled(args: string[], acks: number): Promise<Map<number, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const acked = new Map<number, string>();
    let buffer = "";
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        const [, index, hash] = line.split(" ");
        acked.set(Number(index), hash!);
      }
      if (acked.size >= acks) child.kill("SIGKILL");
    });
    child.on("exit", (_code, signal) => {
      if (signal === "SIGKILL") resolve(acked);
      else reject(new Error(`the writer exited on its own: ${stderr.slice(0, 500)}`));
    });
  });
}

describe.each(backends)("kill -9 under load ($name)", (backend) => {
  it("keeps every acknowledged entry, verifies clean, and resumes", async () => {
    const { location, schema, open } = await backend.prepare();
    const { signerKey } = generateSignerKey("crash.custos.example/log");
    const store = await open();
    await store.initialize({
      origin: "crash.custos.example/log",
      verifierKey: verifierKeyFromSigner(signerKey),
      createdAt: 0,
      formatVersion: 1,
    });
    await store.close();

    const acked = await runUntilKilled([backend.name, location, schema, signerKey], 3000);
    expect(acked.size).toBeGreaterThanOrEqual(3000);

    const reopened = await open();
    const entries = await reopened.getEntries(0, Number.MAX_SAFE_INTEGER);
    const byIndex = new Map(entries.map((e) => [e.index, e.data]));
    for (const [index, hash] of acked) {
      const data = byIndex.get(index);
      expect(data, `acknowledged entry ${index} is missing`).toBeDefined();
      expect(bytesEqual(leafHash(data!), fromHex(hash))).toBe(true);
    }
    const report = await verifyStore(reopened);
    expect(report.findings).toEqual([]);
    const ledger = await Ledger.open(reopened, { signerKey });
    const next = await ledger.appendOne({ entry: dataEntry(1) });
    expect(next.index).toBe(entries.length);
    await ledger.close();
  });
});
