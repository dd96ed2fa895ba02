import { join } from "node:path";
import { utf8 } from "../../src/core/bytes.js";
import { encodeDataEntry } from "../../src/core/entry/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { Ledger, type LedgerOptions } from "../../src/ledger/ledger.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { tempDir } from "../helpers/temp.js";

export const ORIGIN = "test.custos.example/log";

export interface TestLog {
  readonly dir: string;
  readonly signerKey: string;
  readonly verifierKey: string;
  ledger: Ledger;
  reopen(options?: Omit<LedgerOptions, "signerKey">): Promise<Ledger>;
  cleanup(): Promise<void>;
}

/** A real SQLite log in a temp dir, with a freshly generated signing key. */
export async function createTestLog(options: Omit<LedgerOptions, "signerKey"> = {}): Promise<TestLog> {
  const { dir, cleanup } = tempDir();
  const { signerKey } = generateSignerKey(ORIGIN);
  const verifierKey = verifierKeyFromSigner(signerKey);
  const store = SqliteStore.open(dir, { create: true });
  await store.initialize({ origin: ORIGIN, verifierKey, createdAt: Date.now(), formatVersion: 1 });
  const log: TestLog = {
    dir,
    signerKey,
    verifierKey,
    ledger: await Ledger.open(store, { checkpointIntervalMs: 60_000, ...options, signerKey }),
    async reopen(reopenOptions = {}) {
      await log.ledger.close();
      log.ledger = await Ledger.open(SqliteStore.open(dir), {
        checkpointIntervalMs: 60_000,
        ...reopenOptions,
        signerKey,
      });
      return log.ledger;
    },
    async cleanup() {
      await log.ledger.close().catch(() => undefined);
      cleanup();
    },
  };
  return log;
}

export function dataEntry(i: number): Uint8Array {
  return encodeDataEntry(utf8(`entry number ${i} ${"x".repeat(i % 37)}`));
}

export function dbPath(dir: string): string {
  return join(dir, "custos.db");
}
