// The client SDK against a real `custos serve` process: it verifies and decrypts what the node sends,
// and refuses, naming the entry, a reply with a forged, reordered or omitted entry, altered content, a
// rolled-back or forked checkpoint, or a node that hides a trail's newest records.

import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosClient, type VerificationError } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import {
  checkPageFollows,
  checkTrailStart,
  MemoryTrustStore,
  TrailReader,
  type Transport,
} from "../../src/client/trail-reader.js";
import { verifyCheckpoint, verifyItems, verifyRun, type WireItem } from "../../src/client/verify-reply.js";
import { fromBase64, toBase64, toHex } from "../../src/core/bytes.js";
import { accessRecordFromEntry, decodeEntry, ENTRY_KINDS } from "../../src/core/entry/index.js";
import { createTestDeployment, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
const url = () => `https://127.0.0.1:${env.apiPort}`;
const client = (who: string, statePath?: string) =>
  new CustosClient({ url: url(), identity: env.identity(who), ...(statePath ? { statePath } : {}) });

function record(patientId: string, i: number) {
  return {
    time: new Date(Date.UTC(2026, 10, 22, 8) + i * 600_000).toISOString(),
    patientId,
    userId: `dr-${i % 4}`,
    action: (["query", "change", "print", "copy"] as const)[i % 4],
    sourceEventId: `evt-${patientId}-${i}`,
    ...(i % 10 === 3 ? { emergency: true } : {}),
  };
}

async function codeOf(
  run: () => Promise<unknown>,
): Promise<{ code: string; message: string; index?: number }> {
  try {
    await run();
  } catch (error) {
    const e = error as VerificationError;
    return { code: e.code, message: e.message, ...(e.index !== undefined ? { index: e.index } : {}) };
  }
  return { code: "OK", message: "" };
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["patient", "P3"],
      ["custodian", "privacy"],
      ["admin", "adm"],
      ["auditor", "A1"],
      ["auditor", "A2"],
    ],
    grants: [
      { auditor: "A1", patients: ["P1", "P2"] },
      { auditor: "A2", patients: ["P2"] },
    ],
    masterKeyFill: 11,
  });
  await env.start();
  const emr = client("ehr-source/emr");
  const records = [
    ...Array.from({ length: 40 }, (_, i) => record("P1", i)),
    ...Array.from({ length: 15 }, (_, i) => record("P2", i)),
  ];
  const results = await emr.submit(records);
  expect(results).toHaveLength(55);
  await emr.waitForCheckpoint(Math.max(...results.map((r) => r.index)) + 1);
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

describe("reading trails through the SDK", () => {
  it("gives a patient their own trail, verified and decrypted, newest first, filtered on the client", async () => {
    const p1 = client("patient/P1", join(env.root, "p1-state.json"));
    const trail = await p1.trail();
    expect(trail.records).toHaveLength(40);
    expect(trail.records[0]!.record.time).toBe(record("P1", 39).time);
    expect(trail.records.every((r) => r.record.patientId === "P1")).toBe(true);
    const prints = await p1.trail({ action: "print" });
    expect(prints.records).toHaveLength(10);
    const emergencies = await p1.trail({ emergency: true });
    expect(emergencies.records.map((r) => r.record.sourceEventId)).toEqual([
      "evt-P1-33",
      "evt-P1-23",
      "evt-P1-13",
      "evt-P1-3",
    ]);
    const window = await p1.trail({ from: record("P1", 10).time, to: record("P1", 20).time });
    expect(window.records).toHaveLength(10);
    // The state file now holds the trusted checkpoint; a new client picks it up and checks consistency.
    const again = client("patient/P1", join(env.root, "p1-state.json"));
    expect(again.trustedSize).toBeGreaterThan(0);
    expect((await again.trail({ limit: 5 })).records).toHaveLength(5);
  });

  it("pages through a trail with no record lost or repeated", async () => {
    const p1 = client("patient/P1");
    const seen: string[] = [];
    let before: number | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await p1.trail({ limit: 7, ...(before !== undefined ? { before } : {}) });
      seen.push(...result.records.map((r) => r.record.sourceEventId!));
      if (result.next === null) break;
      before = result.next;
    }
    expect(new Set(seen).size).toBe(40);
    expect(seen).toHaveLength(40);
  });

  it("lets an audit company read all its granted patients, and refuses the ones it is not granted", async () => {
    const a1 = await client("auditor/A1").auditTrails();
    expect(a1.patients).toHaveLength(2);
    const counts = a1.patients.map((p) => p.result!.records.length).sort((a, b) => a - b);
    expect(counts).toEqual([15, 40]);
    const a2 = await client("auditor/A2").auditTrails({ patientIds: ["P1", "P2"] });
    expect(a2.patients[0]).toMatchObject({ patientId: "P1", error: { code: "NOT_AUTHORIZED" } });
    expect(a2.patients[1]!.result!.records).toHaveLength(15);
  });

  it("shows the patient who read their trail and who was refused", async () => {
    await client("auditor/A2").auditTrails({ patientIds: ["P1"] });
    // Served once a signed checkpoint covers the refusal (1 s interval; longer on a loaded machine).
    let notices = await client("patient/P1").queryHistory();
    for (let i = 0; i < 40 && !notices.some((n) => n.kind === "refusal"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      notices = await client("patient/P1").queryHistory();
    }
    const who = notices.map((n) => `${n.kind}:${n.body.requester}`);
    expect(who).toContain("query:custos://stmary/auditor/A1");
    expect(who).toContain("refusal:custos://stmary/auditor/A2");
  });

  it("gives verified receipts", async () => {
    const receipt = await client("ehr-source/emr").receipt(20);
    expect(receipt.tlogProof).toMatch(/^c2sp.org\/tlog-proof@v1\nindex 20\n/);
  });
});

describe("a lying node is caught", () => {
  type Mutable<T> = { -readonly [K in keyof T]: T[K] };
  async function rawTrail(): Promise<{ checkpoint: string; items: Mutable<WireItem>[] }> {
    return new MtlsClient(url(), env.identity("patient/P1")).call("POST", "/v1/trail", {});
  }
  const log = () => env.bundles.get("patient/P1")!.log!;
  const check = (reply: { checkpoint: string; items: WireItem[] }) => {
    const cp = verifyCheckpoint(reply.checkpoint, log().verifierKey, log().origin, undefined, null);
    return verifyRun(verifyItems(reply.items, cp));
  };
  const records = <T extends WireItem>(items: T[]): T[] =>
    items.filter((i) => decodeEntry(fromBase64(i.entry)).kind === ENTRY_KINDS.accessRecord);

  it("accepts the honest reply", async () => {
    expect(check(await rawTrail()).newestSeq).toBe(39);
  });

  it("catches a forged entry, naming it", async () => {
    const reply = await rawTrail();
    const victim = records(reply.items)[3]!;
    const bytes = fromBase64(victim.entry);
    bytes[bytes.length - 1]! ^= 1;
    victim.entry = toBase64(bytes);
    expect(() => check(reply)).toThrow(
      expect.objectContaining({ code: "TAMPERED_ENTRY", index: victim.index }),
    );
  });

  it("catches altered content, naming the entry", async () => {
    const reply = await rawTrail();
    const victim = records(reply.items)[5]!;
    const content = fromBase64(victim.content!);
    content[20]! ^= 1;
    victim.content = toBase64(content);
    expect(() => check(reply)).toThrow(/content of entry \d+ was altered/);
  });

  it("catches reordered entries", async () => {
    const reply = await rawTrail();
    [reply.items[1], reply.items[2]] = [reply.items[2]!, reply.items[1]!];
    expect(() => check(reply)).toThrow(/out of order/);
  });

  it("catches an entry left out of the middle of the trail", async () => {
    const reply = await rawTrail();
    const victim = records(reply.items)[10]!;
    const seq = accessRecordFromEntry(decodeEntry(fromBase64(victim.entry))).header.seq;
    reply.items = reply.items.filter((i) => i !== victim);
    // The records below the gap were proven through the victim's link: now nothing proves them.
    expect(() => check(reply)).toThrow(
      /without an inclusion proof and no proven record of its trail links to it/,
    );
    // A node that also sends genuine proofs for them is caught by the numbering.
    const size = Number(reply.checkpoint.split("\n")[1]);
    const client = new MtlsClient(url(), env.identity("patient/P1"));
    for (const item of reply.items) {
      if (item.proof !== undefined) continue;
      const { proof } = await client.call<{ proof: string[] }>(
        "GET",
        `/v1/proof/inclusion?index=${item.index}&size=${size}`,
      );
      Object.assign(item, { proof });
    }
    expect(() => check(reply)).toThrow(new RegExp(`records ${seq} to ${seq} of this trail are missing`));
  });

  it("proves a page with one inclusion proof and the trail's hash chain, and catches a replaced record", async () => {
    const reply = await rawTrail();
    const mine = records(reply.items);
    expect(mine.length).toBeGreaterThan(3);
    expect(mine.filter((i) => i.proof !== undefined)).toHaveLength(1);
    expect(mine[0]!.proof).toBeDefined();
    expect(() => check(reply)).not.toThrow();
    // An older record swapped for a genuine record of another position, with its genuine proof: the
    // numbering may hold (same patient), but the newer record's link names other bytes.
    const victim = mine[2]!;
    const size = Number(reply.checkpoint.split("\n")[1]);
    const { proof } = await new MtlsClient(url(), env.identity("patient/P1")).call<{ proof: string[] }>(
      "GET",
      `/v1/proof/inclusion?index=${victim.index}&size=${size}`,
    );
    Object.assign(victim, { proof });
    expect(() => check(reply)).not.toThrow();
    const entry = fromBase64(victim.entry);
    entry[7]! ^= 1; // inside the epoch ID: the content still matches its hash
    Object.assign(victim, { entry: toBase64(entry), proof: undefined });
    expect(() => check(reply)).toThrow(
      /without an inclusion proof and no proven record of its trail links to it/,
    );
  });

  it("refuses a linked record shown twice", async () => {
    const reply = await rawTrail();
    const [, , , linked, other] = records(reply.items);
    expect(linked!.proof).toBeUndefined();
    expect(other!.proof).toBeUndefined();
    // The older record replaced by a copy of the newer one, at its own index.
    Object.assign(other!, { entry: linked!.entry, content: linked!.content });
    expect(() => check(reply)).toThrow(/repeats another entry of the reply/);
  });

  it("catches another patient's entry slipped in", async () => {
    const reply = await rawTrail();
    const p2 = await new MtlsClient(url(), env.identity("patient/P2")).call<{ items: WireItem[] }>(
      "POST",
      "/v1/trail",
      {},
    );
    const found = records(p2.items)[0]!;
    const mine = records(reply.items);
    // A genuine entry of the log, with a genuine proof against P1's checkpoint (a new checkpoint may
    // have been signed between the two requests), put where its index belongs: only the patient differs.
    const size = Number(reply.checkpoint.split("\n")[1]);
    const proof = await new MtlsClient(url(), env.identity("patient/P1")).call<{ proof: string[] }>(
      "GET",
      `/v1/proof/inclusion?index=${found.index}&size=${size}`,
    );
    const foreign = { ...found, proof: proof.proof };
    reply.items = [...reply.items, foreign].sort((a, b) => b.index - a.index);
    expect(mine.length).toBeGreaterThan(0);
    expect(() => check(reply)).toThrow(/another patient's trail/);
  });

  it("catches a checkpoint rolled back or forked from the one trusted, and one not signed by the log", async () => {
    const reply = await rawTrail();
    const cp = verifyCheckpoint(reply.checkpoint, log().verifierKey, log().origin, undefined, null);
    const later = { size: cp.size + 5, rootHash: toBase64(cp.rootHash), note: "" };
    expect(() => verifyCheckpoint(reply.checkpoint, log().verifierKey, log().origin, later, null)).toThrow(
      /rolled back or forked/,
    );
    const sameSizeOtherRoot = { size: cp.size, rootHash: toBase64(new Uint8Array(32)), note: "" };
    expect(() =>
      verifyCheckpoint(reply.checkpoint, log().verifierKey, log().origin, sameSizeOtherRoot, null),
    ).toThrow(/forked/);
    const earlier = { size: 3, rootHash: toBase64(new Uint8Array(32)), note: "" };
    const proof = await new MtlsClient(url(), env.identity("patient/P1")).call<{
      from: number;
      to: number;
      proof: string[];
    }>("GET", `/v1/proof/consistency?from=3&to=${cp.size}`);
    expect(() => verifyCheckpoint(reply.checkpoint, log().verifierKey, log().origin, earlier, proof)).toThrow(
      /history was rewritten/,
    );
    const forged = reply.checkpoint.replace(
      /\n\n— .*/s,
      "\n\n— e2e.custos.example/log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
    );
    expect(() => verifyCheckpoint(forged, log().verifierKey, log().origin, undefined, null)).toThrow(
      expect.objectContaining({ code: "BAD_CHECKPOINT" }),
    );
  });

  it("catches a block of records skipped between two pages, and a trail that stops before its first record", async () => {
    const p1 = client("patient/P1");
    const first = await p1.trail({ limit: 7 });
    const second = await p1.trail({ limit: 7, before: first.next! });
    const third = await p1.trail({ limit: 7, before: second.next! });
    expect(() => checkPageFollows(first, second)).not.toThrow();
    // A node answering the second request with the third page has skipped 7 records.
    expect(() => checkPageFollows(first, third)).toThrow(
      /records \d+ to \d+ of this trail are missing between two pages/,
    );
    expect(() => checkPageFollows(first, first)).toThrow(/repeats records/);
    // The honest last page ends at record 0; one that ends higher hides the oldest records.
    let page = third;
    while (page.next !== null) page = await p1.trail({ limit: 7, before: page.next });
    expect(page.run?.oldest).toBe(0);
    expect(() => checkTrailStart(page, {})).not.toThrow();
    expect(() => checkTrailStart({ ...third, next: null }, {})).toThrow(/records 0 to \d+ are missing/);
    expect(() => checkTrailStart({ ...third, next: null }, { from: "2026-01-01T00:00:00Z" })).not.toThrow();
  });

  it("catches an audit company's reply with one patient's entries in another's place, or a seen patient emptied", async () => {
    const a1 = env.identity("auditor/A1");
    const http = new MtlsClient(url(), a1);
    let tamper: (reply: { patients: { items?: WireItem[]; next?: number | null }[] }) => void = () => {};
    const transport: Transport = {
      async call<T>(method: "GET" | "POST", path: string, body?: unknown, type?: string): Promise<T> {
        const reply = await http.call<T>(method, path, body, type);
        if (path === "/v1/audit/trails") tamper(reply as never);
        return reply;
      },
    };
    const reader = new TrailReader({
      transport,
      log: a1.bundle.log!,
      encryptionPrivateKey: a1.encryptionPrivateKey(),
      state: new MemoryTrustStore(),
    });
    const honest = await reader.auditTrails();
    expect(honest.patients.every((p) => p.result && !p.verification)).toBe(true);
    tamper = (reply) => {
      const [x, y] = reply.patients as [{ items?: WireItem[] }, { items?: WireItem[] }];
      [x.items, y.items] = [y.items, x.items];
    };
    const swapped = await reader.auditTrails();
    for (const p of swapped.patients)
      expect(p.verification?.message).toMatch(/another patient's entries in this patient's place/);
    tamper = (reply) => {
      reply.patients[0]!.items = [];
      reply.patients[0]!.next = null;
    };
    const emptied = await reader.auditTrails();
    expect(emptied.patients[0]!.verification?.message).toMatch(/hides this trail's newest records/);
    expect(emptied.patients[1]!.result).toBeDefined();
  });

  it("catches a patient's own trail answered with nothing, or with another patient's entries", async () => {
    const p1 = env.identity("patient/P1");
    const http = new MtlsClient(url(), p1);
    let tamper: (reply: { items: WireItem[]; next: number | null }) => Promise<void> = async () => {};
    const transport: Transport = {
      async call<T>(method: "GET" | "POST", path: string, body?: unknown, type?: string): Promise<T> {
        const reply = await http.call<T>(method, path, body, type);
        if (path === "/v1/trail") await tamper(reply as never);
        return reply;
      },
    };
    const state = new MemoryTrustStore();
    const reader = new TrailReader({
      transport,
      log: p1.bundle.log!,
      encryptionPrivateKey: p1.encryptionPrivateKey(),
      state,
    });
    expect((await reader.trail()).records.length).toBeGreaterThan(0);
    expect(state.ownTag).toMatch(/^[0-9a-f]{64}$/);
    tamper = async (reply) => {
      reply.items = [];
      reply.next = null;
    };
    await expect(reader.trail()).rejects.toThrow(/hides this trail's newest records/);
    tamper = async (reply) => {
      const other = await new MtlsClient(url(), env.identity("patient/P2")).call<{ items: WireItem[] }>(
        "POST",
        "/v1/trail",
        {},
      );
      // P2's newest entry, with a genuine proof against the checkpoint of P1's reply (a new checkpoint
      // may have been signed between the two requests): only the patient is wrong.
      const found = records(other.items)[0]!;
      const size = Number((reply as unknown as { checkpoint: string }).checkpoint.split("\n")[1]);
      const proof = await http.call<{ proof: string[] }>(
        "GET",
        `/v1/proof/inclusion?index=${found.index}&size=${size}`,
      );
      reply.items = [{ ...found, proof: proof.proof }];
    };
    await expect(reader.trail()).rejects.toThrow(/another patient's entries in this patient's place/);
  });

  it("catches a node that hides the newest records it showed before", async () => {
    const statePath = join(env.root, "hide-state.json");
    const p1 = client("patient/P1", statePath);
    await p1.trail();
    const state = JSON.parse((await import("node:fs")).readFileSync(statePath, "utf8"));
    const tag = Object.keys(state.newestSeq)[0]!;
    state.newestSeq[tag] = 45; // as if records 40..45 had been shown before
    writeFileSync(statePath, JSON.stringify(state));
    const err = await codeOf(() => client("patient/P1", statePath).trail());
    expect(err.message).toMatch(/hides this trail's newest records: record 45 was seen before/);
    expect(toHex(new Uint8Array(32)).length).toBe(64);
  });

  it("names the entry when someone edits the store on disk", async () => {
    const victim = records((await rawTrail()).items)[7]!;
    await env.stop();
    const db = new Database(join(env.data, "custos.db"));
    const content = Buffer.from(fromBase64(victim.content!));
    const hash = createHash("sha256").update(content).digest();
    const original = Buffer.from(content);
    content[content.length - 1]! ^= 1;
    // The ciphertext wherever it is stored: the log's contents and the trail copy history reads serve.
    expect(db.prepare("UPDATE contents SET data = ? WHERE hash = ?").run(content, hash).changes).toBe(1);
    expect(
      db
        .prepare("UPDATE lookup SET content = ? WHERE idx = ? AND content = ?")
        .run(content, victim.index, original).changes,
    ).toBeGreaterThan(0);
    db.close();
    await env.start();
    const err = await codeOf(() => client("patient/P1").trail());
    expect(err).toMatchObject({ code: "TAMPERED_ENTRY", index: victim.index });
    expect(err.message).toContain(`entry ${victim.index}`);
  });
});
