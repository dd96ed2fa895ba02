// The log's trail map on both backends: each checkpoint's `custos-trail-map/v1` line is the root of
// the map of its entries (patient tag -> newest record's number + 1 and leaf hash), rebuilt here from
// the appended entries independently; the node's proofs verify against it, including after a reopen
// (the map rebuilt from the store), and entries appended after a checkpoint change nothing until the
// next one.

import { afterEach, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/bytes.js";
import { formatCheckpoint, openCheckpoint } from "../../src/core/checkpoint/index.js";
import { type AccessRecordHeader, encodeAccessRecordEntry } from "../../src/core/entry/index.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { generateSignerKey, signNote, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { randomBytes, sha256 } from "../../src/core/platform.js";
import {
  formatTrailMapLine,
  TrailMap,
  trailMapRootOf,
  verifyTrailMapProof,
} from "../../src/core/trail-map/index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";
import { dataEntry } from "./fixtures.js";

const ORIGIN = "trail-map.custos.example/log";
const { signerKey } = generateSignerKey(ORIGIN);
const verifierKey = verifierKeyFromSigner(signerKey);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

interface Backend {
  readonly name: string;
  /** A new empty store, and a way to open it again. */
  create(): Promise<{
    store: LedgerStore;
    reopen: () => Promise<LedgerStore>;
    /** The same store for a reader beside the writer (a read replica). */
    reader: () => Promise<LedgerStore>;
  }>;
}

const backends: Backend[] = [
  {
    name: "SQLite",
    async create() {
      const { dir, cleanup } = tempDir();
      cleanups.push(async () => cleanup());
      return {
        store: SqliteStore.open(dir, { create: true }),
        reopen: async () => SqliteStore.open(dir),
        reader: async () => SqliteStore.open(dir),
      };
    },
  },
  {
    name: "PostgreSQL",
    async create() {
      await requirePostgres();
      const schema = testSchema();
      cleanups.push(() => dropSchema(schema));
      const open = async (create: boolean) => {
        const store = await PostgresStore.open(PG_URL, { schema, create });
        expect(await store.acquireSequencerLock()).toBe(true);
        return store;
      };
      return {
        store: await open(true),
        reopen: () => open(false),
        reader: () => PostgresStore.open(PG_URL, { schema, create: false }),
      };
    },
  },
];

/** Builds each patient's trail as the records layer does: numbered from 0, each linking to the last. */
class Trails {
  readonly heads = new Map<string, { tag: Uint8Array; seq: number; leaf: Uint8Array }>();

  record(tag: Uint8Array) {
    const key = Buffer.from(tag).toString("hex");
    const previous = this.heads.get(key);
    const seq = previous === undefined ? 0 : previous.seq + 1;
    const header: AccessRecordHeader = {
      epochId: new Uint8Array(16).fill(1),
      patientTag: tag,
      hour: 0,
      source: "ehr",
      seq,
      ...(previous ? { prev: previous.leaf } : {}),
    };
    const content = randomBytes(48);
    const entry = encodeAccessRecordEntry(header, sha256(content));
    this.heads.set(key, { tag, seq, leaf: leafHash(entry) });
    return { entry, content, lookupKeys: [tag] };
  }

  /** The map the log should commit to, built straight from the heads. */
  root(): Uint8Array {
    const map = new TrailMap();
    for (const { tag, seq, leaf } of this.heads.values()) map.set(tag, { count: seq + 1, last: leaf });
    return map.commit();
  }
}

async function checkpointRoot(ledger: Ledger): Promise<{ size: number; root: Uint8Array }> {
  const checkpoint = await ledger.checkpoint();
  const { checkpoint: body } = openCheckpoint(checkpoint.note, verifierKey);
  const root = trailMapRootOf(body.extensions);
  expect(root).toBeDefined();
  return { size: body.size, root: root! };
}

describe.each(backends)("the trail map of a log on $name", (backend) => {
  it("commits each checkpoint to the map of its entries, with proofs that verify", async () => {
    const { store, reopen, reader: readerStore } = await backend.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    let ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 3_600_000 });
    const tags = Array.from({ length: 5 }, () => randomBytes(32));
    const absent = randomBytes(32);
    const trails = new Trails();

    const empty = await checkpointRoot(ledger);
    expect(bytesEqual(empty.root, new TrailMap().commit())).toBe(true);

    for (let round = 0; round < 4; round++) {
      await ledger.append([trails.record(tags[round % 5]!), { entry: dataEntry(round) }]);
      await ledger.append(tags.slice(0, round + 1).map((tag) => trails.record(tag)));
    }
    const first = await checkpointRoot(ledger);
    expect(bytesEqual(first.root, trails.root())).toBe(true);
    const check = async (root: Uint8Array, size: number, tag: Uint8Array, from = ledger) =>
      verifyTrailMapProof(root, tag, (await from.trailMapProof(tag, size))!);
    for (const tag of tags) {
      const expected = trails.heads.get(Buffer.from(tag).toString("hex"));
      const verdict = await check(first.root, first.size, tag);
      expect(verdict.ok).toBe(true);
      if (!verdict.ok) continue;
      if (expected === undefined) expect(verdict.head).toBeUndefined();
      else {
        expect(verdict.head?.count).toBe(expected.seq + 1);
        expect(bytesEqual(verdict.head!.last, expected.leaf)).toBe(true);
      }
    }
    expect(await check(first.root, first.size, absent)).toEqual({ ok: true, head: undefined });

    // Appended but not yet under a checkpoint: the map at the checkpoint is unchanged.
    const before = trails.root();
    await ledger.append([trails.record(tags[0]!), trails.record(absent)]);
    expect(await check(first.root, first.size, absent)).toEqual({ ok: true, head: undefined });
    expect(await ledger.trailMapProof(absent, first.size + 1)).toBeUndefined();
    const second = await checkpointRoot(ledger);
    expect(bytesEqual(second.root, before)).toBe(false);
    expect(bytesEqual(second.root, trails.root())).toBe(true);
    expect((await check(second.root, second.size, absent)).ok).toBe(true);
    expect((await check(first.root, second.size, absent)).ok).toBe(false);
    // The older checkpoint (a witnessed one lags the signed one) is still proven, as it was then.
    expect(await check(first.root, first.size, absent)).toEqual({ ok: true, head: undefined });
    for (const tag of tags) expect((await check(first.root, first.size, tag)).ok).toBe(true);
    // A read-only ledger on the same store (a read replica, a mirror) proves both sizes too.
    {
      const reader = await Ledger.open(await readerStore());
      cleanups.unshift(() => reader.close());
      // Built at the first size, caught up to the second, and back (from its undo records).
      for (const [root, size] of [
        [first.root, first.size],
        [second.root, second.size],
        [first.root, first.size],
      ] as const)
        for (const tag of [...tags, absent]) expect((await check(root, size, tag, reader)).ok).toBe(true);
    }

    // Reopened: the map is rebuilt from the store and proves against the latest checkpoint.
    await ledger.close();
    ledger = await Ledger.open(await reopen(), { signerKey, checkpointIntervalMs: 3_600_000 });
    cleanups.unshift(() => ledger.close());
    for (const tag of [...tags, absent]) expect((await check(second.root, second.size, tag)).ok).toBe(true);
    await ledger.append([trails.record(tags[4]!)]);
    const third = await checkpointRoot(ledger);
    expect(bytesEqual(third.root, trails.root())).toBe(true);
  }, 60_000);
});

describe.each(backends)("verify rebuilds the trail map on $name", (backend) => {
  it("finds every checkpoint's map clean, and names a signed map that hides a patient's newest record", async () => {
    const { store, reopen } = await backend.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 3_600_000 });
    const tags = Array.from({ length: 3 }, () => randomBytes(32));
    const trails = new Trails();
    for (let round = 0; round < 3; round++) {
      await ledger.append(tags.map((tag) => trails.record(tag)));
      await ledger.append([{ entry: dataEntry(round) }]);
      await ledger.checkpoint();
    }
    const honest = trails.root();
    // The log's key signs one more checkpoint whose map leaves out patient 0's newest record.
    const hidden = new Trails();
    for (const [key, head] of trails.heads) hidden.heads.set(key, head);
    await ledger.append([trails.record(tags[0]!)]);
    const size = await ledger.size();
    const lying = signNote(
      formatCheckpoint({
        origin: ORIGIN,
        size,
        rootHash: await ledger.rootAt(size),
        extensions: [formatTrailMapLine(hidden.root())],
      }),
      signerKey,
    );
    expect(bytesEqual(hidden.root(), honest)).toBe(true);
    await ledger.close();
    const tampered = await reopen();
    await tampered.appendBatch({
      startIndex: size,
      entries: [],
      tiles: [],
      contents: [],
      idempotencyKeys: [],
      lookupKeys: [],
      checkpoint: { size, note: lying, storedAt: Date.now() },
    });
    const position = (await tampered.listCheckpoints()).findIndex((c) => c.note === lying);
    await tampered.close();

    const verifyStoreAt = async () => {
      const opened = await reopen();
      try {
        return await verifyStore(opened);
      } finally {
        await opened.close();
      }
    };
    const report = await verifyStoreAt();
    expect(report.findings.map((f) => f.code)).toEqual(["TRAIL_MAP_MISMATCH"]);
    expect(position).toBeGreaterThan(0);
    expect(report.findings[0]).toMatchObject({ checkpointSize: size, checkpointPosition: position });
  }, 60_000);
});
