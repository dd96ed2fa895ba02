// The persisted trail map (issue 21): a writable log writes its map's snapshot once enough entries
// came after the last one, and opening it loads the snapshot (checked against the signed root of its
// size) and replays only the entries after it; the map is the one rebuilt from the entries, proves
// against the checkpoints before the reopen, and a snapshot altered in the store (a head, a key, a
// part removed, the size moved) is rejected, the map rebuilt from the entries and the snapshot
// rewritten. Both backends; a read-only ledger on the same store (a read replica) starts from it too.

import { afterEach, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/bytes.js";
import { formatCheckpoint, openCheckpoint } from "../../src/core/checkpoint/index.js";
import { type AccessRecordHeader, encodeAccessRecordEntry } from "../../src/core/entry/index.js";
import { leafHash } from "../../src/core/merkle/index.js";
import { generateSignerKey, signNote, verifierKeyFromSigner } from "../../src/core/note/index.js";
import { randomBytes, sha256 } from "../../src/core/platform.js";
import {
  formatTrailMapLine,
  LEAF_RECORD_BYTES,
  leafRecordsOf,
  TrailMap,
  trailMapRootOf,
  verifyTrailMapProof,
} from "../../src/core/trail-map/index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresStore } from "../../src/ledger/postgres/index.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import type { LedgerStore } from "../../src/ledger/storage.js";
import { TrailHeads } from "../../src/ledger/trail-heads.js";
import { verifyStore } from "../../src/ledger/verify/verifier.js";
import { dropSchema, PG_URL, requirePostgres, sql } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";

const ORIGIN = "trail-map-snapshot.custos.example/log";
const { signerKey } = generateSignerKey(ORIGIN);
const verifierKey = verifierKeyFromSigner(signerKey);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

interface Backend {
  readonly name: string;
  create(): Promise<{
    store: LedgerStore;
    reopen: (readonly?: boolean) => Promise<LedgerStore>;
    /** Runs SQL on the store's database (the tampering). */
    exec: (query: string, values?: unknown[]) => Promise<void>;
  }>;
}

const backends: Backend[] = [
  {
    name: "SQLite",
    async create() {
      const { dir, cleanup } = tempDir("custos-h21-snapshot-");
      cleanups.push(async () => cleanup());
      return {
        store: SqliteStore.open(dir, { create: true }),
        reopen: async (readonly = false) => SqliteStore.open(dir, { readonly }),
        exec: async (query, values = []) => {
          const store = SqliteStore.open(dir);
          try {
            store.database.prepare(query).run(...values);
          } finally {
            await store.close();
          }
        },
      };
    },
  },
  {
    name: "PostgreSQL",
    async create() {
      await requirePostgres();
      const schema = `h21_snapshot_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
      cleanups.push(() => dropSchema(schema));
      const open = async (create: boolean, readonly = false) => {
        const store = await PostgresStore.open(PG_URL, { schema, create });
        if (!readonly) expect(await store.acquireSequencerLock()).toBe(true);
        return store;
      };
      return {
        store: await open(true),
        reopen: (readonly = false) => open(false, readonly),
        exec: async (query, values = []) => {
          await sql(query.replaceAll("trail_map_snapshot", `"${schema}".trail_map_snapshot`), values);
        },
      };
    },
  },
];

/** Each patient's trail as the records layer numbers and links it. */
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

  root(): Uint8Array {
    const map = new TrailMap();
    for (const { tag, seq, leaf } of this.heads.values()) map.set(tag, { count: seq + 1, last: leaf });
    return map.commit();
  }
}

async function checkpointRoot(ledger: Ledger): Promise<{ size: number; root: Uint8Array }> {
  const checkpoint = await ledger.checkpoint();
  const { checkpoint: body } = openCheckpoint(checkpoint.note, verifierKey);
  return { size: body.size, root: trailMapRootOf(body.extensions)! };
}

const options = (snapshotEntries: number) => ({
  signerKey,
  checkpointIntervalMs: 3_600_000,
  trailMapSnapshotEntries: snapshotEntries,
});

describe.each(backends)("the trail map snapshot on $name", (backend) => {
  it("is loaded on open, the entries after it replayed, older checkpoints still proven", async () => {
    const { store, reopen } = await backend.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    let ledger = await Ledger.open(store, options(20));
    expect(ledger.trailMapOpening).toEqual({ source: "entries", snapshotSize: undefined });
    const tags = Array.from({ length: 12 }, () => randomBytes(32));
    const trails = new Trails();
    for (let round = 0; round < 3; round++) await ledger.append(tags.map((tag) => trails.record(tag)));
    const first = await checkpointRoot(ledger);
    // Written after the checkpoint that made it due (36 entries, at least 20 since none).
    await ledger.close();
    ledger = await Ledger.open(await reopen(), options(1_000_000));
    expect(ledger.trailMapOpening).toEqual({ source: "snapshot", snapshotSize: first.size });

    // Entries after the snapshot, under two more checkpoints; not enough for a new snapshot.
    await ledger.append(tags.slice(0, 5).map((tag) => trails.record(tag)));
    const second = await checkpointRoot(ledger);
    await ledger.append([trails.record(tags[7]!), trails.record(randomBytes(32))]);
    const third = await checkpointRoot(ledger);
    expect(bytesEqual(third.root, trails.root())).toBe(true);
    await ledger.close();

    ledger = await Ledger.open(await reopen(), options(1_000_000));
    cleanups.unshift(() => ledger.close());
    expect(ledger.trailMapOpening).toEqual({ source: "snapshot", snapshotSize: first.size });
    // Every checkpoint since the snapshot is proven, each as it was.
    for (const { size, root } of [third, second, first])
      for (const tag of tags) {
        const verdict = verifyTrailMapProof(root, tag, (await ledger.trailMapProof(tag, size))!);
        expect(verdict.ok).toBe(true);
      }
    const absent = randomBytes(32);
    expect(
      verifyTrailMapProof(third.root, absent, (await ledger.trailMapProof(absent, third.size))!),
    ).toEqual({
      ok: true,
      head: undefined,
    });
    // The map is the one the entries give.
    const rebuilt = await TrailHeads.rebuild(ledger.store, third.size);
    expect(bytesEqual(rebuilt.map.root(), third.root)).toBe(true);
    await ledger.append([trails.record(tags[3]!)]);
    expect(bytesEqual((await checkpointRoot(ledger)).root, trails.root())).toBe(true);
  }, 60_000);

  it("is rejected when altered in the store: the map comes from the entries and the snapshot is rewritten", async () => {
    const { store, reopen, exec } = await backend.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    let ledger = await Ledger.open(store, options(10));
    const tags = Array.from({ length: 30 }, () => randomBytes(32));
    const trails = new Trails();
    await ledger.append(tags.map((tag) => trails.record(tag)));
    const signed = await checkpointRoot(ledger);
    await ledger.close();

    // A head changed: the count of the first leaf record (bytes 32..39) raised by one.
    const tamperings: [string, string, unknown[]][] = [
      [
        "a head",
        "UPDATE trail_map_snapshot SET leaves = $1 WHERE part = 0",
        [Buffer.concat([Buffer.alloc(39), Buffer.from([7]), Buffer.alloc(32)])],
      ],
      ["a part missing", "UPDATE trail_map_snapshot SET part = part + 1", []],
      ["the size moved", "UPDATE trail_map_snapshot SET size = size - 1", []],
      // A value of the wrong SQL type leaves the log openable (SQLite lets a BLOB column hold text).
      ...(backend.name === "SQLite"
        ? [
            ["leaves as text", "UPDATE trail_map_snapshot SET leaves = CAST(leaves AS TEXT)", []] as [
              string,
              string,
              unknown[],
            ],
          ]
        : []),
    ];
    for (const [what, query, values] of tamperings) {
      await exec(backend.name === "SQLite" ? query.replaceAll(/\$\d/g, "?") : query, values);
      ledger = await Ledger.open(await reopen(), options(10));
      const opening = ledger.trailMapOpening!;
      expect(opening.source, what).toBe("entries");
      expect(opening.rejected, what).toMatch(/^the trail map snapshot (of size \d+ )?is not used: /);
      // The node still signs the map the entries give.
      await ledger.append([trails.record(tags[0]!)]);
      expect(bytesEqual((await checkpointRoot(ledger)).root, trails.root()), what).toBe(true);
      await ledger.close();
      // Rewritten (due: no usable snapshot), and loaded again.
      ledger = await Ledger.open(await reopen(), options(10));
      expect(ledger.trailMapOpening!.source, what).toBe("snapshot");
      await ledger.close();
    }
    // verify names a snapshot that does not match the signed root of its size.
    await exec(
      "UPDATE trail_map_snapshot SET leaves = $1 WHERE part = 0".replace(
        "$1",
        backend.name === "SQLite" ? "?" : "$1",
      ),
      [Buffer.alloc(72, 1)],
    );
    const readonly = await reopen(true);
    cleanups.unshift(() => readonly.close());
    const report = await verifyStore(readonly, { verifierKey });
    expect(report.findings.map((f) => f.code)).toContain("TRAIL_MAP_SNAPSHOT_MISMATCH");
    expect(signed.size).toBeGreaterThan(0);
  }, 60_000);

  it("lets an incremental verify check the trail map from the snapshot", async () => {
    const { store, reopen } = await backend.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    let ledger = await Ledger.open(store, options(1_000_000));
    const tags = Array.from({ length: 10 }, () => randomBytes(32));
    const trails = new Trails();
    await ledger.append(tags.map((tag) => trails.record(tag)));
    await checkpointRoot(ledger);
    await ledger.close();
    const readonly = async () => {
      const opened = await reopen(true);
      cleanups.unshift(() => opened.close());
      return opened;
    };
    const full = await verifyStore(await readonly(), { verifierKey });
    expect(full.ok).toBe(true);
    // No snapshot yet: an incremental run says it could not check the map.
    const without = await verifyStore(await readonly(), {
      verifierKey,
      state: full.nextState!,
      incremental: true,
    });
    expect(without.unchecked).toEqual([expect.stringMatching(/^the trail map: .* run a full verify$/)]);

    // A snapshot at the verified size, then records after it under two checkpoints.
    ledger = await Ledger.open(await reopen(), options(10));
    await ledger.close();
    ledger = await Ledger.open(await reopen(), options(1_000_000));
    expect(ledger.trailMapOpening?.snapshotSize).toBe(full.nextState!.size);
    await ledger.append(tags.slice(0, 3).map((tag) => trails.record(tag)));
    await checkpointRoot(ledger);
    await ledger.append([trails.record(tags[9]!)]);
    await checkpointRoot(ledger);
    await ledger.close();
    const clean = await verifyStore(await readonly(), {
      verifierKey,
      state: full.nextState!,
      incremental: true,
    });
    expect(clean.findings).toEqual([]);
    expect(clean.unchecked).toEqual([]);

    // The log's key signs a checkpoint after the snapshot whose map hides patient 0's newest record:
    // the incremental run, which reads only the entries after the snapshot, names it.
    const hidden = trails.root();
    ledger = await Ledger.open(await reopen(), options(1_000_000));
    await ledger.append([trails.record(tags[0]!)]);
    const size = await ledger.size();
    const lying = signNote(
      formatCheckpoint({
        origin: ORIGIN,
        size,
        rootHash: await ledger.rootAt(size),
        extensions: [formatTrailMapLine(hidden)],
      }),
      signerKey,
    );
    await ledger.close();
    const writer = await reopen();
    await writer.appendBatch({
      startIndex: size,
      entries: [],
      tiles: [],
      contents: [],
      idempotencyKeys: [],
      lookupKeys: [],
      checkpoint: { size, note: lying, storedAt: Date.now() },
    });
    await writer.close();
    const caught = await verifyStore(await readonly(), {
      verifierKey,
      state: full.nextState!,
      incremental: true,
    });
    expect(caught.findings.map((f) => [f.code, f.checkpointSize])).toEqual([["TRAIL_MAP_MISMATCH", size]]);
  }, 60_000);

  it("serves a read-only ledger on the same store (a read replica) once a snapshot is there", async () => {
    const { store, reopen } = await backend.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    const ledger = await Ledger.open(store, options(10));
    cleanups.unshift(() => ledger.close());
    const tags = Array.from({ length: 15 }, () => randomBytes(32));
    const trails = new Trails();
    await ledger.append(tags.map((tag) => trails.record(tag)));
    await checkpointRoot(ledger);
    // Let the snapshot write (sorted on a worker thread after the checkpoint) finish, then grow past it.
    await ledger.trailMapSnapshotWritten();
    expect((await ledger.store.getTrailMapSnapshot!()).length).toBe(1);
    await ledger.append(tags.slice(0, 4).map((tag) => trails.record(tag)));
    const latest = await checkpointRoot(ledger);
    const reader = await Ledger.open(await reopen(true));
    cleanups.unshift(() => reader.close());
    for (const tag of tags)
      expect(verifyTrailMapProof(latest.root, tag, (await reader.trailMapProof(tag, latest.size))!).ok).toBe(
        true,
      );
  }, 60_000);
});

describe("the trail map snapshot taken off the event loop", () => {
  it("sorts a leaf copy into the same records as the map's own in-order walk, in any split", () => {
    for (const keys of [0, 1, 2, 7, 500]) {
      const map = new TrailMap();
      for (let i = 0; i < keys; i++) map.set(randomBytes(32), { count: i * 3, last: randomBytes(32) });
      // Some keys share long prefixes, so ties on the first 32 bits are sorted by the rest.
      const base = randomBytes(32);
      for (let i = 0; i < Math.min(keys, 5); i++) {
        const key = base.slice();
        key[31] = i;
        map.set(key, { count: i + 1, last: randomBytes(32) });
      }
      map.commit();
      for (const perPart of [1, 3, 1000]) {
        const walked = map.leafRecords(perPart);
        const sorted = leafRecordsOf(map.leafCopy(), perPart);
        expect(sorted.length).toBe(Math.max(1, walked.length));
        expect(Buffer.concat(sorted).equals(Buffer.concat(walked))).toBe(true);
        expect(sorted.slice(0, -1).every((part) => part.length === perPart * LEAF_RECORD_BYTES)).toBe(true);
        expect(bytesEqual(TrailMap.fromLeafRecords(sorted).root(), map.root())).toBe(true);
      }
    }
  });

  it("writes parts sorted on a worker thread, loaded and checked at the next open", async () => {
    const { store, reopen } = await backends[0]!.create();
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    let ledger = await Ledger.open(store, { ...options(10), trailMapSnapshotPartLeaves: 4 });
    const tags = Array.from({ length: 30 }, () => randomBytes(32));
    const trails = new Trails();
    await ledger.append(tags.map((tag) => trails.record(tag)));
    const signed = await checkpointRoot(ledger);
    // The checkpoint returns before the write: the sort runs on its thread meanwhile.
    await ledger.trailMapSnapshotWritten();
    const rows = await ledger.store.getTrailMapSnapshot!();
    expect(rows.map((r) => [r.part, r.size, r.leaves.length])).toEqual(
      Array.from({ length: 8 }, (_, part) => [part, signed.size, (part < 7 ? 4 : 2) * LEAF_RECORD_BYTES]),
    );
    await ledger.close();
    ledger = await Ledger.open(await reopen(), options(1_000_000));
    cleanups.unshift(() => ledger.close());
    expect(ledger.trailMapOpening).toEqual({ source: "snapshot", snapshotSize: signed.size });
  }, 60_000);

  it("leaves the previous snapshot whole when a write stops before its swap (SQLite: staging tables)", async () => {
    const { dir, cleanup } = tempDir("custos-h21-staging-");
    cleanups.push(async () => cleanup());
    const store = SqliteStore.open(dir, { create: true });
    await store.initialize({ origin: ORIGIN, verifierKey, createdAt: 0, formatVersion: 1 });
    let ledger = await Ledger.open(store, options(10));
    const tags = Array.from({ length: 20 }, () => randomBytes(32));
    const trails = new Trails();
    await ledger.append(tags.map((tag) => trails.record(tag)));
    const first = await checkpointRoot(ledger);
    await ledger.close();
    // A node killed while staging a newer snapshot (the staging table holds part of it), after an
    // earlier one was killed while dropping a replaced snapshot's rows.
    const raw = SqliteStore.open(dir);
    for (const table of ["trail_map_snapshot_next", "trail_map_snapshot_old"]) {
      raw.database.exec(
        `CREATE TABLE ${table} (part INTEGER PRIMARY KEY, size INTEGER NOT NULL, leaves BLOB NOT NULL)`,
      );
      raw.database
        .prepare(`INSERT INTO ${table} (part, size, leaves) VALUES (0, ?, ?)`)
        .run(first.size + 40, Buffer.alloc(72, 3));
    }
    await raw.close();
    // The previous snapshot is loaded, and verify finds nothing (staging is never read).
    const check = SqliteStore.open(dir, { readonly: true });
    expect((await verifyStore(check, { verifierKey })).findings).toEqual([]);
    await check.close();
    ledger = await Ledger.open(SqliteStore.open(dir), options(10));
    expect(ledger.trailMapOpening).toEqual({ source: "snapshot", snapshotSize: first.size });
    // The next write drops the leftover and swaps its own in.
    await ledger.append(tags.map((tag) => trails.record(tag)));
    const second = await checkpointRoot(ledger);
    await ledger.trailMapSnapshotWritten();
    await ledger.close();
    const after = SqliteStore.open(dir, { readonly: true });
    cleanups.unshift(() => after.close());
    const tables = after.database
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'trail_map%'")
      .all();
    expect(tables).toEqual([{ name: "trail_map_snapshot" }]);
    expect((await after.getTrailMapSnapshot()).map((r) => r.size)).toEqual([second.size]);
    expect((await verifyStore(after, { verifierKey })).findings).toEqual([]);
  }, 60_000);
});
