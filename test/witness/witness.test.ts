// The witness speaks c2sp.org/tlog-witness over real TLS 1.3, to checkpoints and proofs from real
// Custos logs (src/ledger over SQLite): every status the spec names, cosignatures that verify as
// c2sp.org/tlog-cosignature, state that survives a restart, no rollback under concurrent submissions,
// hostile bodies (property-based) that never produce a 5xx, and a forked log refused with its evidence.

import type { IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { toBase64, utf8 } from "../../src/core/bytes.js";
import { openCheckpoint, parseCheckpoint, signCheckpoint } from "../../src/core/checkpoint/index.js";
import { encodeDataEntry } from "../../src/core/entry/index.js";
import { verifyConsistency } from "../../src/core/merkle/index.js";
import {
  generateSignerKey,
  openNote,
  parseVerifierKey,
  verifierKeyFromSigner,
  verifyCosignature,
} from "../../src/core/note/index.js";
import { randomBytes } from "../../src/core/platform.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { submitCheckpoint } from "../../src/witness/witness-client.js";
import {
  DEFAULT_BODY_LIMIT,
  parseAddCheckpointRequest,
  type RunningWitness,
  startWitnessServer,
  TLOG_SIZE_TYPE,
} from "../../src/witness/witness-server.js";
import { initWitnessDir, loadCosignerKey, WitnessStore } from "../../src/witness/witness-store.js";
import { tempDir } from "../helpers/temp.js";

type Headers = IncomingHttpHeaders;

const PASS = "witness test passphrase";
const ORIGIN = "hospital.test/custos-log";
const WITNESS_NAME = "witness.test/w1";
const NOW_MS = 1_760_000_000_123;
const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", {
  CUSTOS_MASTER_KEY: Buffer.alloc(32, 9).toString("base64"),
});

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

interface Tls {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
  readonly client: { key: string; cert: string };
}

const temp = tempDir("custos-witness-");
let tls: Tls;

/** A real log: a Ledger over SQLite, signing with `signerKey` (shared by a fork). */
interface TestLog {
  readonly ledger: Ledger;
  readonly signerKey: string;
  readonly verifierKey: string;
  append(count: number, tag?: string): Promise<void>;
  checkpoint(): Promise<string>;
  close(): Promise<void>;
}

let logCounter = 0;
async function openLog(signerKey: string, origin = ORIGIN): Promise<TestLog> {
  const dir = join(temp.dir, `log-${logCounter++}`);
  const verifierKey = verifierKeyFromSigner(signerKey);
  const store = SqliteStore.open(dir, { create: true });
  await store.initialize({ origin, verifierKey, createdAt: Date.now(), formatVersion: 1 });
  const ledger = await Ledger.open(store, { checkpointIntervalMs: 3_600_000, signerKey });
  let next = 0;
  return {
    ledger,
    signerKey,
    verifierKey,
    async append(count, tag = "main") {
      await ledger.append(
        Array.from({ length: count }, () => ({ entry: encodeDataEntry(utf8(`${tag} entry ${next++}`)) })),
      );
    },
    async checkpoint() {
      return (await ledger.checkpoint()).note;
    },
    close: () => ledger.close(),
  };
}

function addBody(oldSize: number | bigint | string, proof: readonly Uint8Array[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(h)}\n`).join("")}\n${note}`;
}

/** One HTTPS/1.1 request over its own TLS connection, trusting the deployment CA only. */
function request(
  port: number,
  method: string,
  path: string,
  body?: string | Uint8Array,
  options: { clientCert?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        ca: tls.ca,
        agent: false,
        ...(options.clientCert ? tls.client : {}),
        headers: body === undefined ? {} : { "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

beforeAll(async () => {
  // A deployment CA and a witness identity, as `custos ca init` and `custos enroll` make them.
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
  const pem = (identity: Identity) => identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString();
  const witnessIdentity = Identity.unlock(witness.bundle, PASS);
  const nodeIdentity = Identity.unlock(node.bundle, PASS);
  tls = {
    key: pem(witnessIdentity),
    cert: witnessIdentity.tlsOptions().cert,
    ca: witnessIdentity.tlsOptions().ca,
    client: { key: pem(nodeIdentity), cert: nodeIdentity.tlsOptions().cert },
  };
});

afterAll(() => temp.cleanup());

/** A fresh witness (data directory, sealed cosigner key, store) serving over TLS. */
interface TestWitness {
  readonly dir: string;
  store: WitnessStore;
  server: RunningWitness;
  readonly verifierKey: string;
  post(body: string | Uint8Array): Promise<Reply>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

let witnessCounter = 0;
async function createWitness(
  logs: readonly { origin?: string; verifierKey: string }[],
  options: { requireClientCert?: boolean } = {},
): Promise<TestWitness> {
  const dir = join(temp.dir, `witness-${witnessCounter++}`);
  const init = await initWitnessDir(dir, { name: WITNESS_NAME, masterKey });
  const start = async (store: WitnessStore) =>
    startWitnessServer({
      store,
      cosignerKey: await loadCosignerKey(dir, masterKey, store.meta),
      tls: { key: tls.key, cert: tls.cert },
      ...(options.requireClientCert ? { requireClientCert: { ca: tls.ca } } : {}),
      now: () => NOW_MS,
    });
  const store = WitnessStore.open(dir);
  for (const log of logs) store.addLogKey(log.origin ?? ORIGIN, log.verifierKey);
  const self: TestWitness = {
    dir,
    store,
    server: await start(store),
    verifierKey: init.verifierKey,
    post: (body) => request(self.server.port, "POST", "/add-checkpoint", body),
    async restart() {
      await self.server.close();
      self.store.close();
      self.store = WitnessStore.open(dir);
      self.server = await start(self.store);
    },
    async close() {
      await self.server.close();
      self.store.close();
    },
  };
  return self;
}

describe("witness add-checkpoint (c2sp.org/tlog-witness)", () => {
  let log: TestLog;
  let witness: TestWitness;

  beforeEach(async () => {
    log = await openLog(generateSignerKey(ORIGIN).signerKey);
    witness = await createWitness([{ verifierKey: log.verifierKey }]);
  });
  afterEach(async () => {
    await witness.close();
    await log.close();
  });

  it("cosigns a first checkpoint from old size 0 with a cosignature that verifies", async () => {
    await log.append(10);
    const note = await log.checkpoint();
    const reply = await witness.post(addBody(0, [], note));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^\u2014 witness\.test\/w1 [A-Za-z0-9+/]+=*\n$/);
    const text = openNote(note, [log.verifierKey]).text;
    expect(verifyCosignature(text, reply.body, witness.verifierKey)).toEqual({
      ok: true,
      timestamp: Math.floor(NOW_MS / 1000),
    });
    // c2sp.org/tlog-witness: a client may append the reply to the checkpoint and open the note.
    const opened = openNote(note + reply.body, [witness.verifierKey]);
    expect(opened.signatures.find((s) => s.verified)).toMatchObject({
      name: WITNESS_NAME,
      keyId: parseVerifierKey(witness.verifierKey).keyId,
      timestamp: Math.floor(NOW_MS / 1000),
    });
    const checkpoint = openCheckpoint(note + reply.body, log.verifierKey, {
      cosignerKeys: [witness.verifierKey],
    });
    expect(checkpoint.cosigners).toEqual([WITNESS_NAME]);
    expect(witness.store.latest(ORIGIN)?.size).toBe(10n);
  });

  it("advances with a consistency proof and serves the latest cosigned checkpoint", async () => {
    await log.append(10);
    expect((await witness.post(addBody(0, [], await log.checkpoint()))).status).toBe(200);
    await log.append(23);
    const note = await log.checkpoint();
    const reply = await witness.post(addBody(10, await log.ledger.consistencyProof(10, 33), note));
    expect(reply.status).toBe(200);
    const served = await request(witness.server.port, "GET", `/checkpoints/${encodeURIComponent(ORIGIN)}`);
    expect(served.status).toBe(200);
    const opened = openCheckpoint(served.body, log.verifierKey, { cosignerKeys: [witness.verifierKey] });
    expect(opened.checkpoint.size).toBe(33);
    expect(opened.cosigners).toEqual([WITNESS_NAME]);
    expect(served.body.startsWith(openNote(note, [log.verifierKey]).text)).toBe(true);
    const unknown = await request(
      witness.server.port,
      "GET",
      `/checkpoints/${encodeURIComponent("no.such/log")}`,
    );
    expect(unknown.status).toBe(404);
  });

  it("cosigns the same checkpoint again (old size = size, same root, empty proof)", async () => {
    await log.append(5);
    const note = await log.checkpoint();
    expect((await witness.post(addBody(0, [], note))).status).toBe(200);
    const again = await witness.post(addBody(5, [], note));
    expect(again.status).toBe(200);
    expect(witness.store.latest(ORIGIN)?.size).toBe(5n);
  });

  it("works with the log node's own witness client (src/witness/witness-client.ts)", async () => {
    const endpoint = { url: `https://127.0.0.1:${witness.server.port}`, verifierKey: witness.verifierKey };
    const proof = (size: number) => (from: number) => log.ledger.consistencyProof(from, size);
    await log.append(6);
    const first = await submitCheckpoint(endpoint, await log.checkpoint(), 6, proof(6), 0, { ca: tls.ca });
    expect(first).toMatchObject({ status: "cosigned", timestamp: Math.floor(NOW_MS / 1000) });
    await log.append(7);
    // The client believes the witness holds nothing: it learns 6 from the 409 and proves from there.
    const second = await submitCheckpoint(endpoint, await log.checkpoint(), 13, proof(13), 0, { ca: tls.ca });
    expect(second).toMatchObject({ status: "cosigned", witnessSize: 13 });
    expect(witness.store.latest(ORIGIN)?.size).toBe(13n);
  });

  it("answers 409 with text/x.tlog.size and the latest size when the old size is not the held one", async () => {
    await log.append(25);
    expect((await witness.post(addBody(0, [], await log.checkpoint()))).status).toBe(200);
    await log.append(5);
    const note = await log.checkpoint();
    for (const old of [0, 5, 26]) {
      const reply = await witness.post(
        addBody(old, old === 0 ? [] : await log.ledger.consistencyProof(old, 30), note),
      );
      expect(reply.status).toBe(409);
      expect(reply.headers["content-type"]).toBe(TLOG_SIZE_TYPE);
      expect(reply.body).toBe("25\n");
    }
    expect(witness.store.evidenceCount()).toBe(0);
  });

  it("answers 409 to a signed checkpoint of the held size with another root, and keeps both notes", async () => {
    await log.append(25);
    const held = await log.checkpoint();
    expect((await witness.post(addBody(0, [], held))).status).toBe(200);
    const forged = signCheckpoint({ origin: ORIGIN, size: 25, rootHash: randomBytes(32) }, log.signerKey);
    const reply = await witness.post(addBody(25, [], forged));
    expect(reply.status).toBe(409);
    expect(reply.headers["content-type"]).not.toBe(TLOG_SIZE_TYPE);
    const [evidence] = witness.store.evidence(ORIGIN);
    expect(evidence).toMatchObject({ kind: "same-size-different-root", heldSize: 25n, submittedSize: 25n });
    expect(evidence?.submittedNote).toBe(forged);
    openCheckpoint(evidence!.heldNote!, log.verifierKey, { cosignerKeys: [witness.verifierKey] });
    openCheckpoint(evidence!.submittedNote, log.verifierKey);
    expect(witness.store.latest(ORIGIN)?.note).toBe(evidence?.heldNote);
  });

  it("answers 422 to a consistency proof that does not verify, recording the submission", async () => {
    await log.append(10);
    expect((await witness.post(addBody(0, [], await log.checkpoint()))).status).toBe(200);
    await log.append(30);
    const note = await log.checkpoint();
    const wrongProof = await log.ledger.consistencyProof(9, 40);
    const reply = await witness.post(addBody(10, wrongProof, note));
    expect(reply.status).toBe(422);
    expect(witness.store.evidence(ORIGIN)).toMatchObject([
      { kind: "consistency-proof-failed", heldSize: 10n, submittedSize: 40n },
    ]);
    // The same signed checkpoint sent again is one record, not two.
    expect((await witness.post(addBody(10, [], note))).status).toBe(422);
    expect(witness.store.evidenceCount(ORIGIN)).toBe(1);
    expect(witness.store.latest(ORIGIN)?.size).toBe(10n);
    // A same-size resubmission with a proof is refused too, but it proves nothing.
    const heldNote = witness.store.latest(ORIGIN)!.note;
    const proofForSame = await log.ledger.consistencyProof(5, 10);
    expect((await witness.post(addBody(10, proofForSame, heldNote))).status).toBe(422);
    expect(witness.store.evidenceCount(ORIGIN)).toBe(1);
  });

  it("answers 404 for an origin it does not watch", async () => {
    const other = await openLog(generateSignerKey("other.test/log").signerKey, "other.test/log");
    await other.append(3);
    const reply = await witness.post(addBody(0, [], await other.checkpoint()));
    await other.close();
    expect(reply.status).toBe(404);
  });

  it("answers 403 when no signature verifies with a key trusted for the origin", async () => {
    await log.append(3);
    const impostor = generateSignerKey(ORIGIN).signerKey;
    const byImpostor = signCheckpoint(
      parseCheckpoint(openNote(await log.checkpoint(), [log.verifierKey]).text),
      impostor,
    );
    expect((await witness.post(addBody(0, [], byImpostor))).status).toBe(403);
    // A real signature over an altered body.
    const note = await log.checkpoint();
    const altered = note.replace(/^(.*)\n3\n/, "$1\n4\n");
    expect(altered).not.toBe(note);
    expect((await witness.post(addBody(0, [], altered))).status).toBe(403);
    // A signature by an unknown key is ignored; the trusted one still counts.
    const doubly = `${note}${byImpostor.slice(byImpostor.lastIndexOf("\u2014"))}`;
    expect((await witness.post(addBody(0, [], doubly))).status).toBe(200);
  });

  it("trusts any one of several keys for an origin (key rotation)", async () => {
    const rotated = await openLog(generateSignerKey(ORIGIN).signerKey);
    witness.store.addLogKey(ORIGIN, rotated.verifierKey);
    await rotated.append(2);
    expect((await witness.post(addBody(0, [], await rotated.checkpoint()))).status).toBe(200);
    await rotated.close();
  });

  it("answers 400 to malformed bodies and an old size above the checkpoint size", async () => {
    await log.append(8);
    const note = await log.checkpoint();
    const hash = toBase64(new Uint8Array(32));
    const cases: string[] = [
      addBody(9, [], note), // old > size
      addBody("08", [], note), // leading zero
      addBody("-1", [], note),
      addBody("9223372036854775808", [], note), // 2^63
      `old 0\n${note}`, // no empty line
      `old 0 \n\n${note}`,
      `OLD 0\n\n${note}`,
      `old 0\n${hash}\n\n${note}`, // a proof from size 0
      `old 4\n${hash.slice(0, -1)}\n\n${note}`, // not base64
      `old 4\n${toBase64(new Uint8Array(31))}\n\n${note}`, // not 32 bytes
      `old 4\n${`${hash}\n`.repeat(64)}\n${note}`, // 64 proof lines
      `old 4\r\n\r\n${note}`,
      "old 0\n\n",
      "",
      addBody(0, [], "not a note\n"),
      addBody(0, [], note.replace("\n8\n", "\n08\n")),
    ];
    for (const body of cases) {
      const reply = await witness.post(body);
      expect(reply.status, JSON.stringify(body.slice(0, 60))).toBe(400);
      expect(reply.headers["content-type"]).toMatch(/^text\/plain/);
    }
    const invalidUtf8 = new Uint8Array([...utf8("old 0\n\n"), 0xff, 0xfe, 0x0a]);
    expect((await witness.post(invalidUtf8)).status).toBe(400);
    // Exactly 63 proof lines is allowed by the framing (and then checked as a proof).
    expect(parseAddCheckpointRequest(utf8(`old 4\n${`${hash}\n`.repeat(63)}\n${note}`)).proof).toHaveLength(
      63,
    );
    expect(witness.store.latest(ORIGIN)).toBeUndefined();
  });

  it("refuses sizes it cannot prove with 400, and bodies over the limit with 413", async () => {
    const huge = signCheckpoint(
      { origin: ORIGIN, size: 0, rootHash: new Uint8Array(32) },
      log.signerKey,
    ).replace("\n0\n", "\n9007199254740992\n");
    expect((await witness.post(addBody(0, [], huge))).status).toBe(400);
    const big = await witness.post(`old 0\n\n${"x".repeat(DEFAULT_BODY_LIMIT)}`);
    expect(big.status).toBe(413);
  });

  it("publishes its name and verifier key, and answers unknown paths and methods plainly", async () => {
    const info = await request(witness.server.port, "GET", "/witness");
    expect(JSON.parse(info.body)).toEqual({ name: WITNESS_NAME, verifierKey: witness.verifierKey });
    expect((await request(witness.server.port, "GET", "/add-checkpoint")).status).toBe(405);
    expect((await request(witness.server.port, "GET", "/nothing")).status).toBe(404);
  });

  it("keeps the latest cosigned checkpoint across a restart", async () => {
    await log.append(12);
    expect((await witness.post(addBody(0, [], await log.checkpoint()))).status).toBe(200);
    await witness.restart();
    await log.append(3);
    const note = await log.checkpoint();
    const stale = await witness.post(addBody(0, [], note));
    expect([stale.status, stale.body]).toEqual([409, "12\n"]);
    const reply = await witness.post(addBody(12, await log.ledger.consistencyProof(12, 15), note));
    expect(reply.status).toBe(200);
    await witness.restart();
    expect(witness.store.latest(ORIGIN)?.size).toBe(15n);
  });

  it("never rolls back under concurrent submissions of sizes N and N+K", async () => {
    // A second server on the same SQLite file, with its own connection, competes with the first.
    const second = await startWitnessServer({
      store: WitnessStore.open(witness.dir),
      cosignerKey: await loadCosignerKey(witness.dir, masterKey, witness.store.meta),
      tls: { key: tls.key, cert: tls.cert },
    });
    const ports = [witness.server.port, second.port];
    let held = 0;
    const observed: number[] = [];
    for (let round = 0; round < 6; round++) {
      const sizes = [held + 1, held + 4, held + 9, held + 17];
      const notes = new Map<number, string>();
      for (const size of sizes) {
        await log.append(size - Number(await log.ledger.size()));
        notes.set(size, await log.checkpoint());
      }
      const bodies: { size: number; body: string }[] = [];
      for (const size of sizes) {
        bodies.push({
          size,
          body: addBody(
            held,
            held === 0 ? [] : await log.ledger.consistencyProof(held, size),
            notes.get(size)!,
          ),
        });
        // And every step between the sizes, valid only if the smaller one won first.
        for (const bigger of sizes.filter((s) => s > size)) {
          bodies.push({
            size: bigger,
            body: addBody(size, await log.ledger.consistencyProof(size, bigger), notes.get(bigger)!),
          });
        }
      }
      const replies = await Promise.all(
        bodies.map(async ({ size, body }, i) => {
          const reply = await request(ports[i % 2]!, "POST", "/add-checkpoint", body);
          const latest = witness.store.latest(ORIGIN);
          observed.push(Number(latest?.size ?? 0n));
          return { size, reply };
        }),
      );
      for (const { reply } of replies) expect([200, 409]).toContain(reply.status);
      const cosigned = replies.filter((r) => r.reply.status === 200).map((r) => r.size);
      expect(cosigned.length).toBeGreaterThan(0);
      const latest = Number(witness.store.latest(ORIGIN)!.size);
      // Every 200 moved the one stored size forward, so the last word is the largest cosigned size.
      expect(latest).toBe(Math.max(...cosigned));
      expect(latest).toBeGreaterThan(held);
      held = latest;
    }
    // Read after each reply, in the order replies arrived: the stored size never went down.
    for (let i = 1; i < observed.length; i++) expect(observed[i]).toBeGreaterThanOrEqual(observed[i - 1]!);
    expect(witness.store.evidenceCount()).toBe(0);
    await second.close();
  });

  it("refuses a forked log (same origin and key, different entries) and keeps the evidence", async () => {
    const fork = await openLog(log.signerKey);
    await log.append(10, "shared");
    await fork.append(10, "shared");
    expect(await fork.ledger.rootAt(10)).toEqual(await log.ledger.rootAt(10));
    expect((await witness.post(addBody(0, [], await log.checkpoint()))).status).toBe(200);
    await log.append(10, "honest");
    await fork.append(15, "rewritten");
    const honest20 = await log.checkpoint();
    expect(
      (await witness.post(addBody(10, await log.ledger.consistencyProof(10, 20), honest20))).status,
    ).toBe(200);

    // The fork's own checkpoint at size 20 (it signs with the same key) conflicts at equal size.
    const forked25 = await fork.checkpoint();
    const forkRoot20 = await fork.ledger.rootAt(20);
    expect(forkRoot20).not.toEqual(await log.ledger.rootAt(20));
    const forked20 = signCheckpoint({ origin: ORIGIN, size: 20, rootHash: forkRoot20 }, fork.signerKey);
    const same = await witness.post(addBody(20, [], forked20));
    expect(same.status).toBe(409);
    // A later fork checkpoint with the fork's own (valid for it) proof does not extend what we hold.
    const proof = await fork.ledger.consistencyProof(20, 25);
    expect(
      verifyConsistency(
        20,
        25,
        proof,
        forkRoot20,
        parseCheckpoint(openNote(forked25, [fork.verifierKey]).text).rootHash,
      ),
    ).toBe(true);
    const later = await witness.post(addBody(20, proof, forked25));
    expect(later.status).toBe(422);

    const evidence = witness.store.evidence(ORIGIN);
    expect(evidence.map((e) => e.kind)).toEqual(["same-size-different-root", "consistency-proof-failed"]);
    for (const record of evidence) {
      // Both checkpoints carry the log's valid signature: the log signed two histories.
      const held = openCheckpoint(record.heldNote!, log.verifierKey, { cosignerKeys: [witness.verifierKey] });
      const submitted = openCheckpoint(record.submittedNote, log.verifierKey);
      expect(held.checkpoint.size).toBe(20);
      expect(held.cosigners).toEqual([WITNESS_NAME]);
      expect(submitted.checkpoint.rootHash).toEqual(record.submittedRoot);
    }
    expect(evidence[1]!.proof).toEqual(proof.map(toBase64));
    // The witness still holds the honest history, and keeps its evidence across a restart.
    await witness.restart();
    expect(witness.store.latest(ORIGIN)?.note).toBe(evidence[0]!.heldNote);
    expect(witness.store.evidenceCount(ORIGIN)).toBe(2);
    await fork.close();
  });
});

describe("witness request parsing (property-based)", () => {
  let log: TestLog;
  let witness: TestWitness;
  let note = "";
  let proof: Uint8Array[] = [];

  beforeAll(async () => {
    log = await openLog(generateSignerKey(ORIGIN).signerKey);
    witness = await createWitness([{ verifierKey: log.verifierKey }]);
    await log.append(7);
    expect((await witness.post(addBody(0, [], await log.checkpoint()))).status).toBe(200);
    await log.append(9);
    note = await log.checkpoint();
    proof = await log.ledger.consistencyProof(7, 16);
  });
  afterAll(async () => {
    await witness.close();
    await log.close();
  });

  const line = fc.oneof(
    fc.constantFrom("", "old 7", "old 0", "old 07", "old 18446744073709551616", "—", "\u2014 x AAAA"),
    fc.string({ maxLength: 60 }),
    fc.base64String({ maxLength: 48 }),
  );

  /** Bodies near the valid one: lines replaced, dropped, duplicated, bytes flipped, truncated. */
  const mutatedBody = fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), fc.constantFrom("replace", "drop", "dup", "insert"), line), {
        maxLength: 4,
      }),
      fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([edits, flip, cut]) => {
      const lines = addBody(7, proof, note).split("\n");
      for (const [at, op, text] of edits) {
        const i = at % lines.length;
        if (op === "replace") lines[i] = text;
        else if (op === "drop") lines.splice(i, 1);
        else if (op === "dup") lines.splice(i, 0, lines[i]!);
        else lines.splice(i, 0, text);
      }
      let bytes = utf8(lines.join("\n"));
      if (flip) {
        bytes = bytes.slice();
        const i = flip[0] % Math.max(bytes.length, 1);
        if (bytes.length > 0) bytes[i] = flip[1];
      }
      return cut === undefined ? bytes : bytes.slice(0, cut % (bytes.length + 1));
    });

  const anyBody = fc.oneof(
    mutatedBody,
    fc.uint8Array({ maxLength: 512 }),
    fc.string({ maxLength: 400 }).map((s) => utf8(s)),
  );

  it("never answers 5xx nor stops serving, whatever the body", async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const reply = await witness.post(body);
        expect([200, 400, 403, 404, 409, 413, 422]).toContain(reply.status);
        expect(Number(witness.store.latest(ORIGIN)?.size ?? 0n)).toBeGreaterThanOrEqual(7);
      }),
      { numRuns: 250 },
    );
    expect((await request(witness.server.port, "GET", "/witness")).status).toBe(200);
  });

  it("parses every body either into a request or into a BAD_ARGUMENT, never anything else", () => {
    fc.assert(
      fc.property(anyBody, (body) => {
        try {
          const parsed = parseAddCheckpointRequest(body);
          expect(parsed.proof.length).toBeLessThanOrEqual(63);
          expect(parsed.oldSize).toBeGreaterThanOrEqual(0n);
          expect(parsed.oldSize).toBeLessThan(1n << 63n);
        } catch (error) {
          expect((error as { code?: string }).code).toBe("BAD_ARGUMENT");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("reads back what a client writes", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 63 }),
        (oldSize, hashes) => {
          const parsed = parseAddCheckpointRequest(utf8(addBody(oldSize, hashes, note)));
          expect(parsed.oldSize).toBe(oldSize);
          expect(parsed.proof).toEqual(hashes);
          expect(parsed.note).toBe(note);
        },
      ),
    );
  });
});

describe("witness over mutual TLS", () => {
  it("requires a client certificate from the deployment CA when configured", async () => {
    const log = await openLog(generateSignerKey(ORIGIN).signerKey);
    const witness = await createWitness([{ verifierKey: log.verifierKey }], { requireClientCert: true });
    try {
      await log.append(4);
      const body = addBody(0, [], await log.checkpoint());
      await expect(request(witness.server.port, "POST", "/add-checkpoint", body)).rejects.toThrow();
      const reply = await request(witness.server.port, "POST", "/add-checkpoint", body, { clientCert: true });
      expect(reply.status).toBe(200);
    } finally {
      await witness.close();
      await log.close();
    }
  });
});
