import { afterEach, describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes.js";
import { parseCheckpoint } from "../../src/core/checkpoint/index.js";
import { CONTENT_HASH_TAG, encodeEntry } from "../../src/core/entry/index.js";
import {
  leafHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from "../../src/core/merkle/index.js";
import { openNote } from "../../src/core/note/index.js";
import { sha256 } from "../../src/core/platform.js";
import { createTestLog, dataEntry, type TestLog } from "./fixtures.js";

let log: TestLog | undefined;
afterEach(async () => {
  await log?.cleanup();
  log = undefined;
});

describe("Ledger", () => {
  it("assigns consecutive indexes to concurrent appends and batches them", async () => {
    log = await createTestLog();
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => log!.ledger.appendOne({ entry: dataEntry(i) })),
    );
    expect(results.map((r) => r.index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 500 }, (_, i) => i),
    );
    for (const [i, r] of results.entries()) expect(r.leafHash).toEqual(leafHash(dataEntry(i)));
    expect(await log.ledger.size()).toBe(500);
  });

  it("computes the same root as the reference tree for every size", async () => {
    log = await createTestLog();
    const hashes: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) {
      await log.ledger.appendOne({ entry: dataEntry(i) });
      hashes.push(leafHash(dataEntry(i)));
    }
    for (const size of [0, 1, 2, 15, 16, 17, 255, 256, 257, 300]) {
      expect(await log.ledger.rootAt(size)).toEqual(rootFromLeafHashes(hashes.slice(0, size)));
    }
  });

  it("produces inclusion and consistency proofs that verify, at past sizes too", async () => {
    log = await createTestLog();
    await log.ledger.append(Array.from({ length: 1000 }, (_, i) => ({ entry: dataEntry(i) })));
    for (const size of [1, 17, 256, 513, 1000]) {
      const root = await log.ledger.rootAt(size);
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        const proof = await log.ledger.inclusionProof(index, size);
        expect(verifyInclusion(leafHash(dataEntry(index)), index, size, proof, root)).toBe(true);
      }
      for (const older of [0, 1, 16, size - 1]) {
        if (older > size) continue;
        const proof = await log.ledger.consistencyProof(older, size);
        expect(verifyConsistency(older, size, proof, await log.ledger.rootAt(older), root)).toBe(true);
      }
    }
  });

  it("signs checkpoints that verify with the log key and commit to the current root", async () => {
    log = await createTestLog();
    await log.ledger.append(Array.from({ length: 42 }, (_, i) => ({ entry: dataEntry(i) })));
    const checkpoint = await log.ledger.checkpoint();
    const opened = openNote(checkpoint.note, [log.verifierKey]);
    const body = parseCheckpoint(opened.text);
    expect(body.size).toBe(42);
    expect(body.rootHash).toEqual(await log.ledger.rootAt(42));
  });

  it("signs a new checkpoint on its own once the interval has passed", async () => {
    log = await createTestLog({ checkpointIntervalMs: 50 });
    await log.ledger.appendOne({ entry: dataEntry(1) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const latest = await log.ledger.store.getLatestCheckpoint();
    expect(latest?.size).toBe(1);
  });

  it("returns the original index for a replayed idempotency key and stores it once", async () => {
    log = await createTestLog();
    const key = utf8("ehr-event-123");
    const first = await log.ledger.appendOne({ entry: dataEntry(1), idempotencyKey: key });
    await log.ledger.appendOne({ entry: dataEntry(2) });
    const again = await log.ledger.appendOne({ entry: dataEntry(1), idempotencyKey: key });
    expect(again).toEqual({ index: first.index, leafHash: first.leafHash, duplicate: true });
    const sameBatch = await log.ledger.append([
      { entry: dataEntry(5), idempotencyKey: utf8("k2") },
      { entry: dataEntry(5), idempotencyKey: utf8("k2") },
    ]);
    expect(sameBatch[1]!.index).toBe(sameBatch[0]!.index);
    expect(sameBatch[1]!.duplicate).toBe(true);
    expect(await log.ledger.size()).toBe(3);
  });

  it("keeps acknowledged entries across a restart and resumes the tree without rehashing", async () => {
    log = await createTestLog();
    await log.ledger.append(Array.from({ length: 777 }, (_, i) => ({ entry: dataEntry(i) })));
    const rootBefore = await log.ledger.rootAt(777);
    const ledger = await log.reopen();
    expect(await ledger.size()).toBe(777);
    await ledger.append(Array.from({ length: 100 }, (_, i) => ({ entry: dataEntry(777 + i) })));
    const hashes = Array.from({ length: 877 }, (_, i) => leafHash(dataEntry(i)));
    expect(await ledger.rootAt(877)).toEqual(rootFromLeafHashes(hashes));
    expect(await ledger.rootAt(777)).toEqual(rootBefore);
  });

  it("stores content beside the tree only when the entry commits to it", async () => {
    log = await createTestLog();
    const content = utf8("ciphertext bytes");
    const entry = encodeEntry({ kind: 0x02, fields: [{ tag: CONTENT_HASH_TAG, value: sha256(content) }] });
    const result = await log.ledger.appendOne({ entry, content });
    expect(await log.ledger.store.getContent(sha256(content))).toEqual(content);
    expect(result.index).toBe(0);
    await expect(log.ledger.appendOne({ entry, content: utf8("other") })).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
    });
    await expect(log.ledger.appendOne({ entry: dataEntry(1), content })).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
    });
    expect(await log.ledger.size()).toBe(1);
  });

  it("rejects a malformed entry without writing anything from its group", async () => {
    log = await createTestLog();
    await expect(
      log.ledger.append([{ entry: dataEntry(1) }, { entry: new Uint8Array([9, 9, 9]) }]),
    ).rejects.toMatchObject({ code: "BAD_ENCODING" });
    expect(await log.ledger.size()).toBe(0);
  });

  it("refuses proofs for sizes and indexes the log has not reached", async () => {
    log = await createTestLog();
    await log.ledger.append([{ entry: dataEntry(1) }, { entry: dataEntry(2) }]);
    await expect(log.ledger.inclusionProof(2, 2)).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
    await expect(log.ledger.inclusionProof(0, 3)).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
    await expect(log.ledger.consistencyProof(2, 1)).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
  });
});
