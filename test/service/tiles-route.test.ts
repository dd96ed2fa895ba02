import { gunzipSync } from "node:zlib";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../src/core/checkpoint/index.js";
import { CustosError } from "../../src/core/errors.js";
import { leafHash, rootFromLeafHashes } from "../../src/core/merkle/index.js";
import { openNote } from "../../src/core/note/index.js";
import type { Caller } from "../../src/identity/authorize.js";
import type { ReadContext } from "../../src/service/context.js";
import { errorReply } from "../../src/service/errors.js";
import {
  acceptsGzip,
  CHECKPOINT_CACHE_CONTROL,
  FULL_TILE_CACHE_CONTROL,
  PARTIAL_TILE_CACHE_CONTROL,
  registerTileRoutes,
} from "../../src/service/routes/tiles.js";
import { createTestLog, dataEntry, type TestLog } from "../ledger/fixtures.js";

const CALLER: Caller = {
  uri: "custos:test/witness/w1",
  role: "witness",
  id: "w1",
  subject: "w1",
  signingKey: new Uint8Array(32),
};

// Copies out of Node's Buffer, so the hashes compare equal to plain Uint8Arrays.
function hashesOf(payload: Uint8Array): Uint8Array[] {
  const bytes = new Uint8Array(payload);
  return Array.from({ length: bytes.length / 32 }, (_, i) => bytes.slice(i * 32, i * 32 + 32));
}

function parseBundle(payload: Uint8Array): Uint8Array[] {
  const bytes = new Uint8Array(payload);
  const entries: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    entries.push(bytes.slice(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return entries;
}

describe("the tlog-tiles routes", () => {
  let log: TestLog;
  let app: FastifyInstance;
  let allowed: { operation: string; caller: Caller }[];
  let refuse: boolean;

  beforeAll(async () => {
    log = await createTestLog();
    await log.ledger.append(Array.from({ length: 300 }, (_, i) => ({ entry: dataEntry(i) })));
    await log.ledger.checkpoint();
    const ctx: ReadContext = {
      ledger: log.ledger,
      now: Date.now,
      async allow(caller, operation) {
        allowed.push({ operation, caller });
        if (refuse) throw new CustosError("NOT_AUTHORIZED", "refused for the test");
      },
      callerOf: () => CALLER,
      mayReadEntry: () => true,
      checkpoint: async () => ({ note: "", size: 0 }),
    };
    app = Fastify();
    app.setErrorHandler((error, _request, reply) => {
      const { status, body } = errorReply(error);
      return reply.code(status).type("application/json").send(body);
    });
    registerTileRoutes(app, ctx);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await log?.cleanup();
  });
  beforeEach(() => {
    allowed = [];
    refuse = false;
  });

  it("serves the latest checkpoint as text, uncached, after authorizing read-log", async () => {
    const response = await app.inject({ method: "GET", url: "/checkpoint" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(response.headers["cache-control"]).toBe(CHECKPOINT_CACHE_CONTROL);
    expect(response.body).toBe((await log.ledger.store.getLatestCheckpoint())!.note);
    expect(parseCheckpoint(openNote(response.body, [log.verifierKey]).text).size).toBe(300);
    expect(allowed).toEqual([{ operation: "read-log", caller: CALLER }]);
  });

  it("serves tiles from which a client recomputes the checkpoint's root", async () => {
    const checkpoint = parseCheckpoint(
      openNote((await app.inject({ method: "GET", url: "/checkpoint" })).body, [log.verifierKey]).text,
    );
    const full = await app.inject({ method: "GET", url: "/tile/0/000" });
    const partial = await app.inject({ method: "GET", url: "/tile/0/001.p/44" });
    const level1 = await app.inject({ method: "GET", url: "/tile/1/000.p/1" });
    for (const response of [full, partial, level1]) {
      expect(response.statusCode).toBe(200);
      expect(response.headers["content-type"]).toBe("application/octet-stream");
    }
    expect(full.headers["cache-control"]).toBe(FULL_TILE_CACHE_CONTROL);
    expect(partial.headers["cache-control"]).toBe(PARTIAL_TILE_CACHE_CONTROL);
    expect(level1.headers["cache-control"]).toBe(PARTIAL_TILE_CACHE_CONTROL);
    expect(full.rawPayload.length).toBe(256 * 32);
    expect(partial.rawPayload.length).toBe(44 * 32);

    const leaves = [...hashesOf(full.rawPayload), ...hashesOf(partial.rawPayload)];
    expect(leaves).toEqual(Array.from({ length: 300 }, (_, i) => leafHash(dataEntry(i))));
    expect(rootFromLeafHashes(leaves)).toEqual(checkpoint.rootHash);
    expect(hashesOf(level1.rawPayload)).toEqual([rootFromLeafHashes(leaves.slice(0, 256))]);
  });

  it("serves entry bundles, gzipped when the client accepts it", async () => {
    const plain = await app.inject({ method: "GET", url: "/tile/entries/001.p/44" });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers["content-type"]).toBe("application/octet-stream");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.headers.vary).toBe("accept-encoding");
    expect(parseBundle(plain.rawPayload)).toEqual(Array.from({ length: 44 }, (_, i) => dataEntry(256 + i)));

    const gzipped = await app.inject({
      method: "GET",
      url: "/tile/entries/000",
      headers: { "accept-encoding": "gzip, identity" },
    });
    expect(gzipped.statusCode).toBe(200);
    expect(gzipped.headers["content-encoding"]).toBe("gzip");
    expect(gzipped.headers["cache-control"]).toBe(FULL_TILE_CACHE_CONTROL);
    expect(parseBundle(gunzipSync(gzipped.rawPayload))).toEqual(
      Array.from({ length: 256 }, (_, i) => dataEntry(i)),
    );
  });

  it.each([
    ["/tile/0/001", 404],
    ["/tile/0/001.p/45", 404],
    ["/tile/1/000", 404],
    ["/tile/2/000.p/1", 404],
    ["/tile/entries/001", 404],
    ["/tile/entries/002.p/1", 404],
    ["/tile/0/1", 400],
    ["/tile/0/x000/001", 400],
    ["/tile/0/001.p/256", 400],
    ["/tile/64/000", 400],
    ["/tile/entries/x009/x007/x199/x254/x740/992", 400],
    ["/tile/", 400],
  ])("answers %s with %i and a coded error", async (url, status) => {
    const response = await app.inject({ method: "GET", url });
    expect(response.statusCode).toBe(status);
    expect(response.json().error.code).toBe(status === 404 ? "NOT_FOUND" : "BAD_ARGUMENT");
    expect(allowed.map((a) => a.operation)).toEqual(["read-log"]);
  });

  it("serves nothing to a caller that is refused", async () => {
    refuse = true;
    for (const url of ["/checkpoint", "/tile/0/000", "/tile/entries/000", "/tile/0/x000/000"]) {
      const response = await app.inject({ method: "GET", url });
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe("NOT_AUTHORIZED");
    }
    expect(allowed.length).toBe(4);
  });
});

describe("acceptsGzip", () => {
  it.each([
    [undefined, false],
    ["", false],
    ["identity", false],
    ["gzip", true],
    ["GZIP", true],
    ["br, gzip;q=0.5", true],
    ["gzip;q=0", false],
    ["gzip; q=0.000", false],
    ["gzip;q=0.001", true],
    ["x-gzip", true],
    ["*", false],
  ])("reads %j as %s", (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
