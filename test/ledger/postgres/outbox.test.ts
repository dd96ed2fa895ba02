// The notice outbox of a PostgreSQL log (read replicas record queries there; the sequencer drains it):
// the migration that adds it, durable and idempotent recording, draining in order, and a sequencer
// that died between appending and deleting leaving rows that its successor appends exactly once.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toHex, utf8 } from "../../../src/core/bytes.js";
import {
  decodeNoticeEntry,
  encodeDataEntry,
  encodeNoticeEntry,
  noticeLookupKey,
  noticeLookupKeys,
} from "../../../src/core/entry/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../../../src/core/note/index.js";
import { sha256 } from "../../../src/core/platform.js";
import { Ledger } from "../../../src/ledger/ledger.js";
import { migrate, POSTGRES_SCHEMA_VERSION, PostgresStore } from "../../../src/ledger/postgres/index.js";
import type { AppendItem } from "../../../src/ledger/sequencer.js";
import { NoticeRelay } from "../../../src/node/index.js";
import { dropSchema, PG_URL, requirePostgres, sql, testSchema } from "../../helpers/postgres.js";

const ORIGIN = "outbox.custos.example/log";
let schema: string;
const closers: (() => Promise<void>)[] = [];

/** A notice entry whose header time tells the notices apart (its content is opaque here). */
function notice(n: number): AppendItem {
  const content = utf8(`sealed notice ${n}`);
  const patientTag = sha256(utf8("patient"));
  return {
    entry: encodeNoticeEntry({ kind: "query", time: 1_000 + n, patientTag }, sha256(content)),
    content,
    lookupKeys: [patientTag],
  };
}

async function openStore(options: { readonly?: boolean } = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open(PG_URL, { schema, ...options });
  closers.push(() => store.close());
  return store;
}

async function sequencer(): Promise<Ledger> {
  const store = await PostgresStore.open(PG_URL, { schema });
  expect(await store.acquireSequencerLock()).toBe(true);
  const { signerKey } = generateSignerKey(ORIGIN);
  if ((await store.getMeta()) === undefined) {
    await store.initialize({
      origin: ORIGIN,
      verifierKey: verifierKeyFromSigner(signerKey),
      createdAt: 1,
      formatVersion: 1,
    });
  }
  const ledger = await Ledger.open(store, { signerKey });
  closers.push(() => ledger.close());
  return ledger;
}

async function noticeTimes(ledger: Ledger): Promise<number[]> {
  const entries = await ledger.store.getEntries(0, await ledger.store.getSize());
  return entries.map((e) => decodeNoticeEntry(e.data).header.time - 1_000);
}

beforeEach(requirePostgres);
beforeEach(async () => {
  schema = testSchema();
  await migrate(PG_URL, schema);
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await dropSchema(schema);
});

describe("the notice outbox", () => {
  it("is added by migration 2 to a log created at version 1", async () => {
    await sql(`DROP TABLE "${schema}".outbox`);
    await sql(`UPDATE "${schema}".meta SET value = '1' WHERE key = 'schema_version'`);
    await expect(PostgresStore.open(PG_URL, { schema })).rejects.toMatchObject({ code: "CONFIG" });
    expect(await migrate(PG_URL, schema)).toEqual({ fromVersion: 1, toVersion: POSTGRES_SCHEMA_VERSION });
    const replica = await openStore();
    await replica.outbox.add([notice(1)], 5);
    expect(await replica.outbox.backlog()).toEqual({ depth: 1, rejected: 0, oldestAt: 5 });
  });

  it("records a notice once however often it is retried with its id", async () => {
    const replica = await openStore();
    const [id] = await replica.outbox.add([notice(1)], 10);
    await replica.outbox.add([notice(1)], 20, [id!]);
    expect(await replica.outbox.backlog()).toEqual({ depth: 1, rejected: 0, oldestAt: 10 });
  });

  it("is drained by the sequencer into the log in the order recorded, and emptied", async () => {
    const ledger = await sequencer();
    const replicaA = await openStore();
    const replicaB = await openStore();
    for (let n = 0; n < 6; n++) await (n % 2 === 0 ? replicaA : replicaB).outbox.add([notice(n)], n);
    const store = ledger.store as PostgresStore;
    expect(await store.outbox.drain((items) => ledger.append(items), 4)).toBe(4);
    expect(await store.outbox.drain((items) => ledger.append(items), 4)).toBe(2);
    expect(await store.outbox.drain((items) => ledger.append(items), 4)).toBe(0);
    expect(await noticeTimes(ledger)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await replicaA.outbox.backlog()).toEqual({ depth: 0, rejected: 0, oldestAt: undefined });
    const contents = await Promise.all(
      (await ledger.store.getEntries(0, 6)).map((e) =>
        ledger.store.getContent(decodeNoticeEntry(e.data).contentHash),
      ),
    );
    expect(contents.map((c) => toHex(c!))).toEqual([0, 1, 2, 3, 4, 5].map((n) => toHex(notice(n).content!)));
  });

  it("appends rows a dead sequencer appended but did not delete exactly once", async () => {
    const replica = await openStore();
    for (let n = 0; n < 3; n++) await replica.outbox.add([notice(n)], n);
    // The first sequencer appends the rows, then dies before deleting them.
    const first = await sequencer();
    const rows = await (first.store as PostgresStore).outbox.take();
    await first.append(rows.map((row) => row.item));
    await closers.pop()!();
    await replica.outbox.add([notice(3)], 3);
    // Its successor drains what is left: the three are duplicates, the fourth is new.
    const next = await sequencer();
    const appended: boolean[] = [];
    await (next.store as PostgresStore).outbox.drain(async (items) => {
      const results = await next.append(items);
      appended.push(...results.map((r) => !r.duplicate));
      return results;
    });
    expect(appended).toEqual([false, false, false, true]);
    expect(await noticeTimes(next)).toEqual([0, 1, 2, 3]);
    expect((await replica.outbox.backlog()).depth).toBe(0);
  });

  it("keeps rows whose append failed for the next drain", async () => {
    const ledger = await sequencer();
    const replica = await openStore();
    await replica.outbox.add([notice(7)], 1);
    const store = ledger.store as PostgresStore;
    await expect(
      store.outbox.drain(async () => {
        throw new Error("the database went away");
      }),
    ).rejects.toThrow("went away");
    expect((await replica.outbox.backlog()).depth).toBe(1);
    expect(await store.outbox.drain((items) => ledger.append(items))).toBe(1);
    expect(await noticeTimes(ledger)).toEqual([7]);
  });

  it("never appends a row that is not a patient's query or refusal notice; keeps it aside and says so", async () => {
    const ledger = await sequencer();
    const replica = await openStore();
    const good = notice(11);
    const forgedContent = utf8("an access record the replica made up");
    const other = sha256(utf8("another patient"));
    await replica.outbox.add(
      [
        // An entry of another kind (a data entry) dressed up with a notice's lookup key.
        {
          entry: encodeDataEntry(sha256(forgedContent)),
          content: forgedContent,
          lookupKeys: good.lookupKeys!,
        },
        // A notice filed under another patient's tag.
        { ...notice(12), lookupKeys: [other] },
        // A notice whose content is not the one it commits to.
        { ...notice(13), content: utf8("something else") },
        // A notice filed under another patient's notice key.
        { ...notice(15), lookupKeys: noticeLookupKeys(other) },
        // Filed as an older Custos did (the patient's tag alone), and as this one does (all its keys).
        good,
        { ...notice(14), lookupKeys: noticeLookupKeys(sha256(utf8("patient"))) },
      ],
      1,
    );
    const store = ledger.store as PostgresStore;
    expect(await store.outbox.drain((items) => ledger.append(items))).toBe(6);
    expect(await noticeTimes(ledger)).toEqual([11, 14]);
    expect(await replica.outbox.backlog()).toEqual({ depth: 0, rejected: 4, oldestAt: undefined });
    // Both are filed under the patient's notice key, whatever keys the row carried.
    const filed = await ledger.store.findByLookupKey({
      key: noticeLookupKey(sha256(utf8("patient"))),
      limit: 10,
    });
    expect(filed).toHaveLength(2);
    // Nothing more is taken: the refused rows stay for an operator, and readiness names them.
    expect(await store.outbox.drain((items) => ledger.append(items))).toBe(0);
    const relay = new NoticeRelay(
      await Ledger.open(await openStore()),
      () => Date.now(),
      () => undefined,
    );
    expect(await relay.readiness()).toMatch(/^4 outbox row\(s\) refused/);
  });

  it("refuses to record on a read-only connection with STORE_BUSY", async () => {
    const replica = await openStore({ readonly: true });
    await expect(replica.outbox.add([notice(1)], 1)).rejects.toMatchObject({ code: "STORE_BUSY" });
  });

  it("is where a replica's relay records notices, and readiness names a backlog nobody drains", async () => {
    const writer = await sequencer();
    let clock = 100_000;
    const replica = await Ledger.open(await openStore());
    const relay = new NoticeRelay(
      replica,
      () => clock,
      () => undefined,
    );
    expect(relay.viaOutbox).toBe(true);
    await relay.record(notice(1));
    expect(await relay.readiness()).toBe("ok");
    clock += 31_000;
    expect(await relay.readiness()).toBe("1 notice(s) waiting for a sequencer, oldest 31 s");
    // The sequencer's relay drains it; readiness is fine again.
    await new NoticeRelay(
      writer,
      () => clock,
      () => undefined,
    ).drain();
    expect(await noticeTimes(writer)).toEqual([1]);
    expect(await relay.readiness()).toBe("ok");
  });
});
