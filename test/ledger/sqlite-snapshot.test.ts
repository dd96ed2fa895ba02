// `custos verify` runs in its own process beside a node that keeps appending. Read through one
// snapshot (SqliteStore.readConsistent), a batch committed in the middle of the scan is not seen
// half-way, so it is never reported as tampering; read statement by statement, it would be.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { leafHash } from "../../src/core/merkle/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { AppendBatch } from "../../src/ledger/storage.js";
import { TreeBuilder } from "../../src/ledger/tree/index.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { createTestLog, dataEntry, type TestLog } from "./fixtures.js";

let log: TestLog;
let writer: SqliteStore;
let batch: AppendBatch;

beforeEach(async () => {
  log = await createTestLog();
  await log.ledger.append(Array.from({ length: 300 }, (_, i) => ({ entry: dataEntry(i) })));
  await log.ledger.checkpoint();
  // The next batch, as a node in another process would commit it: entries, the tiles they change.
  writer = SqliteStore.open(log.dir);
  const size = await writer.getSize();
  const builder = TreeBuilder.resume(size, await writer.getEdgeTiles());
  const entries = Array.from({ length: 40 }, (_, i) => dataEntry(size + i));
  for (const entry of entries) builder.append(leafHash(entry));
  batch = {
    startIndex: size,
    entries,
    tiles: builder.takeChangedTiles(),
    contents: [],
    idempotencyKeys: [],
    lookupKeys: [],
  };
});

afterEach(async () => {
  await writer.close();
  await log.cleanup();
});

/** Verifies a readonly copy of the store; the writer commits the batch after the first chunk is read. */
async function verifyWhileAppending(consistent: boolean) {
  const reader = SqliteStore.open(log.dir, { readonly: true });
  let appended = false;
  const verify = () =>
    verifyStore(reader, {
      chunkSize: 100,
      onProgress: () => {
        if (appended) return;
        appended = true;
        void writer.appendBatch(batch); // synchronous underneath: committed before the scan goes on
      },
    });
  try {
    const report = await (consistent ? reader.readConsistent(verify) : verify());
    expect(appended).toBe(true);
    return report;
  } finally {
    await reader.close();
  }
}

describe("a consistent read of a SQLite store", () => {
  it("verifies clean while another connection appends a batch mid-scan", async () => {
    const report = await verifyWhileAppending(true);
    expect(report.findings).toEqual([]);
    expect(report.entriesChecked).toBe(300);
    // The batch was committed: a fresh look sees it, and it verifies too.
    const after = SqliteStore.open(log.dir, { readonly: true });
    expect(await after.getSize()).toBe(340);
    expect((await verifyStore(after)).findings).toEqual([]);
    await after.close();
  });

  it("reports the torn read as tampering without it (the failure readConsistent prevents)", async () => {
    const report = await verifyWhileAppending(false);
    expect(report.findings.map((f) => f.code)).toContain("SIZE_MISMATCH");
  });

  it("is refused on a store a writer may share", async () => {
    await expect(writer.readConsistent(async () => 1)).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
  });
});
