// Property-based fuzzing of every endpoint of a node, in process and over real TLS: malformed,
// truncated, oversized and wrongly typed bodies, parameters and headers, on the mutual-TLS API and the
// portal. Whatever arrives, the node answers 2xx or a coded 4xx (never a 5xx, never a stack trace),
// keeps serving, and a submission it refuses leaves no access record in the log.

import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { join } from "node:path";
import { connect } from "node:tls";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../src/core/bytes.js";
import { decodeEntry, ENTRY_KINDS, encodeGrantEntry } from "../../src/core/entry/index.js";
import { ERROR_CODES } from "../../src/core/errors.js";
import { ACTIONS, type AuditRecord, OUTCOMES, recordToAuditEvent } from "../../src/core/record/index.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import { patientSubject } from "../../src/identity/registry.js";
import { ROLES, type Role } from "../../src/identity/roles.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { type RunningServer, startServer } from "../../src/node/index.js";
import { type Challenge, loginMessage } from "../../src/service/login.js";
import { tempDir } from "../helpers/temp.js";

const RUNS = 120;
const MiB = 1024 * 1024;
const PASS = "endpoint fuzz passphrase";
const ORIGIN = "https://portal.example";

const PEOPLE: [Role, string][] = [
  ["node", "n1"],
  ["ehr-source", "emr"],
  ["patient", "P1"],
  ["patient", "P2"],
  ["auditor", "A1"],
  ["admin", "adm"],
  ["custodian", "privacy"],
];

// ---------------------------------------------------------------------------------------------------
// The deployment and a TLS client

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

interface Call {
  readonly method?: string;
  readonly path: string;
  readonly body?: string | Uint8Array;
  /** The content-type header; undefined sends none. */
  readonly contentType?: string | undefined;
  readonly headers?: Readonly<Record<string, string>>;
}

let temp: ReturnType<typeof tempDir>;
let deployment: Deployment;
let server: RunningServer;
const identities = new Map<string, Identity>();
let loginAddressCount = 0;

function who(id: string): Identity {
  const identity = identities.get(id);
  if (!identity) throw new Error(`no identity ${id}`);
  return identity;
}

const keyPems = new WeakMap<Identity, string>();
function keyPem(identity: Identity): string {
  let pem = keyPems.get(identity);
  if (pem === undefined) {
    pem = identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString();
    keyPems.set(identity, pem);
  }
  return pem;
}

/** One request on a fresh connection; `as` is the client certificate (API port) or none (portal). */
function send(port: number, call: Call, as?: Identity, localAddress?: string): Promise<Reply> {
  const body =
    call.body === undefined
      ? undefined
      : typeof call.body === "string"
        ? Buffer.from(call.body, "utf8")
        : Buffer.from(call.body);
  const headers: Record<string, string> = { ...call.headers };
  if (call.contentType !== undefined) headers["content-type"] = call.contentType;
  if (body !== undefined) headers["content-length"] = String(body.length);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: call.path,
        method: call.method ?? (body === undefined ? "GET" : "POST"),
        // The portal presents its own ECDSA certificate (browsers take no Ed25519 one), the API the CA's.
        ca: port === server.portal?.port ? server.portalCertificate!.pem : deployment.anchor.caPem,
        minVersion: "TLSv1.3",
        agent: false,
        headers,
        ...(localAddress ? { localAddress } : {}),
        ...(as
          ? {
              key: keyPem(as),
              cert: as.bundle.signingCertificate,
            }
          : {}),
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`no reply to ${call.path} within 30 s`)));
    // A server that answers early (413) may close while a large body is still being written.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    req.end(body);
  });
}

const api = (as: string, call: Call) => send(server.api.port, call, who(as));

/** The portal's login routes allow 60 requests a minute per address: spread them over 127/8. */
function portal(call: Call): Promise<Reply> {
  const n = Math.floor(loginAddressCount++ / 50);
  return send(server.portal!.port, call, undefined, `127.0.${n & 255}.${2 + ((n >> 8) & 127)}`);
}

// Text that only a stack trace or an internal message would hold.
const STACK_TEXT = /\n\s+at |\bat [\w.<>]+ \(|node:internal|node_modules|\.[cm]?[jt]s:\d+|\/work\//;

// Known gap: Fastify answers a URL it cannot route (a broken percent-escape, a path parameter over 100
// characters) itself, before any hook or error handler, in its own shape. Only the `frameworkErrors`
// option in server.ts can route these through errorReply; "answers a malformed URL ..." below pins it.
const FRAMEWORK_URL_ERRORS = new Set(["FST_ERR_BAD_URL", "FST_ERR_MAX_PARAM_LENGTH"]);

function isFrameworkUrlError(reply: Reply): boolean {
  try {
    return FRAMEWORK_URL_ERRORS.has((JSON.parse(reply.text) as { code?: string }).code ?? "");
  } catch {
    return false;
  }
}

/** The reply is a success, or an error in the one shape with a known code; never a 5xx. */
function expectCoded(reply: Reply, what: string, options: { strictUrl?: boolean } = {}): void {
  const context = `${what} -> ${reply.status} ${reply.text.slice(0, 300)}`;
  expect(reply.status, context).toBeGreaterThanOrEqual(200);
  expect(reply.status, context).toBeLessThan(500);
  expect(reply.text, context).not.toMatch(STACK_TEXT);
  if (reply.status < 400) return;
  if (!options.strictUrl && isFrameworkUrlError(reply)) return;
  expect(reply.headers["content-type"], context).toMatch(/^application\/json/);
  const json = JSON.parse(reply.text) as { error: { code: unknown; message: unknown } };
  expect(Object.keys(json), context).toEqual(["error"]);
  expect(Object.keys(json.error).sort(), context).toEqual(["code", "message"]);
  expect(ERROR_CODES as readonly unknown[], context).toContain(json.error.code);
  expect(json.error.code, context).not.toBe("INTERNAL");
  expect(typeof json.error.message, context).toBe("string");
}

function errorOf(reply: Reply): { code: string; message: string } {
  return (JSON.parse(reply.text) as { error: { code: string; message: string } }).error;
}

/** The node still answers after a run: it did not crash or wedge. */
async function expectHealthy(): Promise<void> {
  const reply = await api("emr", { path: "/v1/health" });
  expect(reply.status, reply.text).toBe(200);
  expect((await portal({ path: "/v1/health" })).status).toBe(200);
}

// The log, read straight from the store: the kinds of the entries appended since a size.
let scanned = 0;
let accessRecords = 0;
async function accessRecordCount(): Promise<number> {
  const ledger = deployment.vault.ledger;
  const size = await ledger.size();
  if (size > scanned) {
    for (const entry of await ledger.store.getEntries(scanned, size)) {
      if (decodeEntry(entry.data).kind === ENTRY_KINDS.accessRecord) accessRecords++;
    }
    scanned = size;
  }
  return accessRecords;
}

async function kindsSince(size: number): Promise<number[]> {
  const ledger = deployment.vault.ledger;
  const entries = await ledger.store.getEntries(size, await ledger.size());
  return entries.map((entry) => decodeEntry(entry.data).kind);
}

async function login(as: Identity): Promise<string> {
  const challenge = await portal({
    path: "/v1/login/challenge",
    body: "{}",
    contentType: "application/json",
    headers: { origin: ORIGIN },
  });
  expect(challenge.status, challenge.text).toBe(200);
  const c = JSON.parse(challenge.text) as Challenge;
  const reply = await portal({
    path: "/v1/login",
    contentType: "application/json",
    headers: { origin: ORIGIN },
    body: JSON.stringify({
      challengeId: c.challengeId,
      certificate: as.bundle.signingCertificate,
      signature: toBase64(as.sign(loginMessage(c))),
    }),
  });
  expect(reply.status, reply.text).toBe(200);
  return (JSON.parse(reply.text) as { token: string }).token;
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries

// A JSON value may stand in for text no JSON.stringify writes (1e400, -0): `"@@raw:<text>@@"`.
const RAW = /"@@raw:(.*?)@@"/g;
const raw = (text: string) => `@@raw:${text}@@`;
const toText = (value: unknown) => JSON.stringify(value).replace(RAW, "$1");

const RAW_NUMBERS = [
  "0",
  "-0",
  "-1",
  "1.5",
  "1e400",
  "-1e400",
  "1E-400",
  "9007199254740993",
  "123456789012345678901234567890",
  "4294967296",
];
const WEIRD_STRINGS = [
  "",
  "NaN",
  "Infinity",
  "-Infinity",
  "-1",
  "0x10",
  "1e3",
  " 1",
  "1 ",
  "\u0661",
  "null",
  "undefined",
  "true",
  "\u0000",
  "\ud800",
  "%00",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "P1\nP2",
  "2026-13-45T99:99:99Z",
  "2026-01-01T00:00:00",
  "2026-01-01T00:00:00+99:99",
];

const longString = fc
  .tuple(
    fc.integer({ min: 1_000, max: 200_000 }),
    fc.constantFrom("a", "\u00e9", '"', "\\", "\ud834\udd1e", "\n"),
  )
  .map(([n, c]) => c.repeat(n));

/** Odd values for a field: any JSON, numbers past double range, tricky strings, long ones. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 4 },
  { arbitrary: fc.constantFrom(...RAW_NUMBERS).map(raw), weight: 2 },
  { arbitrary: fc.constantFrom(...WEIRD_STRINGS), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 100 }), weight: 1 },
  { arbitrary: fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 64, 1e308, -1, 0.5, -0), weight: 1 },
  { arbitrary: longString, weight: 1 },
);

/** Arrays and objects nested up to 300,000 deep (about 2 MiB). */
const deepNesting = fc
  .tuple(
    fc.integer({ min: 1, max: 300_000 }),
    fc.constantFrom(["[", "", "]"], ['{"a":', "1", "}"], ['[{"a":', "1", "}]"]),
  )
  .map(([depth, [open, inner, close]]) => open.repeat(depth) + inner + close.repeat(depth));

const randomBytes = fc.uint8Array({ maxLength: 4096 });

/** An object with (mostly) the endpoint's keys and odd values; keys may repeat (duplicate keys). */
function objectText(keys: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { arbitrary: fc.constantFrom(...keys), weight: 6 },
    { arbitrary: fc.constantFrom("__proto__", "constructor", "toString", ""), weight: 1 },
    { arbitrary: fc.string({ maxLength: 12 }), weight: 1 },
  );
  return fc
    .array(fc.tuple(key, oddValue), { maxLength: 6 })
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${toText(v)}`).join(",")}}`);
}

/** A valid body cut at a random point (possibly not at all). */
function truncated(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return valid.chain((text) => fc.nat({ max: text.length }).map((n) => text.slice(0, n)));
}

/** Every path inside a JSON value, for mutation. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const paths = [prefix];
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) paths.push(...pathsOf(item, [...prefix, i]));
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) paths.push(...pathsOf(v, [...prefix, k]));
  }
  return paths;
}

/** A valid value with one place replaced by an odd value, deleted, or a key added beside it. */
function mutated(base: unknown): fc.Arbitrary<string> {
  const paths = pathsOf(base);
  return fc
    .tuple(fc.nat({ max: paths.length - 1 }), fc.constantFrom("replace", "delete", "add"), oddValue)
    .map(([i, how, value]) => {
      const copy = structuredClone(base) as Record<string | number, unknown>;
      const path = paths[i]!;
      if (path.length === 0) return how === "delete" ? "" : toText(value);
      let parent: Record<string | number, unknown> = copy;
      for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
      const last = path.at(-1)!;
      if (how === "replace") parent[last] = value;
      else if (how === "delete") {
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete parent[last];
      } else if (!Array.isArray(parent)) parent[`${String(last)}x`] = value;
      else parent.push(value);
      return toText(copy);
    });
}

/** Bodies for a JSON endpoint: right keys wrong types, any JSON, truncated, mutated, bytes, deep, long. */
function jsonBodies(
  keys: readonly string[],
  valid: fc.Arbitrary<unknown>,
): fc.Arbitrary<string | Uint8Array> {
  return fc.oneof(
    { arbitrary: objectText(keys), weight: 5 },
    { arbitrary: valid.chain(mutated), weight: 4 },
    { arbitrary: truncated(valid.map((v) => JSON.stringify(v))), weight: 3 },
    { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 2 },
    { arbitrary: valid.map((v) => JSON.stringify(v)), weight: 1 },
    { arbitrary: randomBytes, weight: 1 },
    { arbitrary: deepNesting, weight: 1 },
    { arbitrary: longString.map((s) => JSON.stringify(s)), weight: 1 },
    {
      arbitrary: fc.constantFrom("", " ", "null", "[]", "{}", "\ufeff{}", '{"a":1}garbage', "{}{}"),
      weight: 1,
    },
  );
}

const WRONG_CONTENT_TYPES = [
  "text/plain",
  "application/x-ndjson",
  "application/fhir+json",
  "application/xml",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/json; charset=utf-16",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json;;;",
  "application/jsonx",
  "*/*",
  "",
  'text/plain; charset="\\""',
];

const jsonContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant("application/json"), weight: 8 },
  { arbitrary: fc.constantFrom<string | undefined>(...WRONG_CONTENT_TYPES, undefined), weight: 2 },
);

const headerValue = fc.string({
  unit: fc
    .oneof(
      { arbitrary: fc.integer({ min: 0x20, max: 0x7e }), weight: 9 },
      { arbitrary: fc.integer({ min: 0x80, max: 0xff }), weight: 1 },
    )
    .map((c) => String.fromCharCode(c)),
  maxLength: 200,
});

/** Extra request headers (never the ones that frame the message: length, encoding, host). */
const extraHeaders = fc
  .tuple(
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          "accept",
          "accept-encoding",
          "accept-language",
          "authorization",
          "cookie",
          "origin",
          "x-forwarded-for",
          "x-request-id",
          "content-encoding",
          "if-none-match",
          "range",
          "user-agent",
        ),
        fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
      ),
      headerValue,
      { maxKeys: 4 },
    ),
    // One long header now and then, within Node's 16 KiB for all headers (see "oversized headers").
    fc.option(fc.integer({ min: 1_000, max: 12_000 }), { freq: 10, nil: undefined }),
  )
  .map(([headers, long]) => (long === undefined ? headers : { ...headers, "x-long": "h".repeat(long) }));

const queryValue = fc.oneof(
  fc.nat({ max: 40 }).map(String),
  fc.nat().map(String),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.constantFrom(
    ...WEIRD_STRINGS.filter((s) => s !== "\ud800"),
    "1e309",
    "1.0",
    "+1",
    "0b1",
    "1_000",
    "9".repeat(400),
  ),
  fc.string({ unit: "binary-ascii", maxLength: 30 }),
);

/** A query string over these keys (repeated, missing, extra), sometimes with broken percent-escapes. */
function queryString(keys: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom(...keys, "x", ""), queryValue), { maxLength: 5 }),
      fc.constantFrom("", "", "", "&%zz", "&%", "&&", "&a=%ff%fe", "#frag"),
    )
    .map(([pairs, tail]) => {
      const text =
        pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&") + tail;
      return text.length > 0 ? `?${text}` : "";
    });
}

/** A path segment: digits, huge numbers, signs, encoded junk, broken escapes. */
const segment = fc.oneof(
  fc.nat().map(String),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.constantFrom("-1", "1.5", "1e3", "0x1", "NaN", "%zz", "%", "%2F", "..", ".", "%00", "9".repeat(300)),
  fc.string({ unit: "binary-ascii", maxLength: 20 }).map(encodeURIComponent),
);

const PATIENTS = ["P1", "P2"] as const;

const validRecord: fc.Arbitrary<AuditRecord> = fc.record(
  {
    time: fc
      .date({
        min: new Date("2020-01-01T00:00:00Z"),
        max: new Date("2030-01-01T00:00:00Z"),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString()),
    patientId: fc.constantFrom(...PATIENTS),
    userId: fc.constantFrom("dr.house", "nurse-1", "clerk_7"),
    action: fc.constantFrom(...ACTIONS),
    sourceEventId: fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/),
    purposeOfUse: fc.constantFrom("TREAT", "ETREAT", "HPAYMT"),
    outcome: fc.constantFrom(...OUTCOMES),
    emergency: fc.boolean(),
    detail: fc.string({ maxLength: 40 }),
  },
  { requiredKeys: ["time", "patientId", "userId", "action"] },
);

const RECORD_KEYS = [
  "time",
  "patientId",
  "userId",
  "action",
  "sourceEventId",
  "sourceSystem",
  "purposeOfUse",
  "outcome",
  "emergency",
  "detail",
  "resourceType",
];

/** A record-ish item: valid, mutated, or an object of record keys with odd values. */
const recordItem = fc.oneof(
  { arbitrary: validRecord.map((r) => JSON.stringify(r)), weight: 2 },
  { arbitrary: validRecord.chain(mutated), weight: 4 },
  { arbitrary: objectText(RECORD_KEYS), weight: 2 },
  { arbitrary: validRecord.map((r) => recordToAuditEvent(r)).chain(mutated), weight: 2 },
  {
    arbitrary: validRecord.map((r) => ({ ...r, patientId: "nobody-enrolled" })).map((r) => JSON.stringify(r)),
    weight: 1,
  },
);

/** A body for POST /v1/records in one of its formats (or a wrong one), as sent. */
const recordsBody: fc.Arbitrary<{ body: string | Uint8Array; contentType: string | undefined }> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(fc.array(recordItem, { maxLength: 5 }), fc.boolean()).map(([items, single]) => ({
      body: single && items.length === 1 ? items[0]! : `[${items.join(",")}]`,
      contentType: "application/json",
    })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.array(recordItem, { maxLength: 5 }),
        fc.constantFrom("\n", "\r\n", "\n\n", "\n \n"),
        fc.constantFrom("application/x-ndjson", "text/plain"),
      )
      .map(([items, sep, contentType]) => ({ body: items.join(sep), contentType })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(validRecord, { minLength: 1, maxLength: 4 })
      .map((records) => ({
        resourceType: "Bundle",
        type: "searchset",
        entry: records.map((r) => ({ resource: recordToAuditEvent(r) })),
      }))
      .chain(mutated)
      .map((body) => ({ body, contentType: "application/fhir+json" })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        jsonBodies(RECORD_KEYS, validRecord),
        fc.constantFrom<string | undefined>(...WRONG_CONTENT_TYPES, "application/json", undefined),
      )
      .map(([body, contentType]) => ({ body, contentType })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        truncated(fc.array(validRecord, { minLength: 1, maxLength: 3 }).map((r) => JSON.stringify(r))),
        fc.constantFrom("application/json", "application/x-ndjson", "application/fhir+json", "text/plain"),
      )
      .map(([body, contentType]) => ({ body, contentType })),
  },
);

const trailWindow = {
  from: fc
    .date({ noInvalidDate: true, min: new Date(0), max: new Date("2100-01-01") })
    .map((d) => d.toISOString()),
  to: fc
    .date({ noInvalidDate: true, min: new Date(0), max: new Date("2100-01-01") })
    .map((d) => d.toISOString()),
  limit: fc.integer({ min: 1, max: 5000 }),
  before: fc.nat(),
  trustedSize: fc.nat({ max: 50 }),
};
const TRAIL_KEYS = ["patientId", "patientIds", "from", "to", "limit", "before", "trustedSize"];

// ---------------------------------------------------------------------------------------------------

beforeAll(async () => {
  temp = tempDir("custos-fuzz-");
  const data = join(temp.dir, "data");
  const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", {
    CUSTOS_MASTER_KEY: Buffer.alloc(32, 9).toString("base64"),
  });
  await initDataDir(data, { origin: "fuzz.custos.example/log", masterKey });
  deployment = await Deployment.initCa(data, masterKey, "stmary");
  for (const [role, id] of PEOPLE) {
    const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 2000 });
    identities.set(id, Identity.unlock(issued.bundle, PASS));
  }
  await deployment.grant(who("adm"), { auditor: "A1", patients: ["P1"] });
  server = await startServer({
    deployment,
    identity: who("n1"),
    api: { host: "127.0.0.1", port: 0 },
    portal: { host: "127.0.0.1", port: 0 },
    portalOrigins: [ORIGIN],
    verifyEveryMs: 0,
    ratePerSecond: 1_000_000,
  });
  // Something to read: a few records, under a signed checkpoint.
  const seed = await api("emr", {
    path: "/v1/records",
    contentType: "application/json",
    body: JSON.stringify(
      ["P1", "P2", "P1"].map((patientId, i) => ({
        time: `2026-03-0${i + 1}T10:00:00Z`,
        patientId,
        userId: "dr.house",
        action: "query",
      })),
    ),
  });
  expect(seed.status, seed.text).toBe(200);
  await deployment.vault.ledger.checkpoint();
}, 120_000);

afterAll(async () => {
  await server?.close();
  await deployment?.close();
  temp?.cleanup();
});

interface Operation {
  readonly portal: boolean;
  readonly method: string;
  readonly path: string;
  /** Top-level keys of the JSON body schema, for right-keys-wrong-types bodies. */
  readonly keys: readonly string[];
}

/** Every operation the node documents in /openapi.json, on the API port and the portal. */
async function documentedOperations(): Promise<Operation[]> {
  const operations: Operation[] = [];
  for (const [portalPort, reply] of [
    [false, await api("emr", { path: "/openapi.json" })],
    [true, await portal({ path: "/openapi.json" })],
  ] as const) {
    expect(reply.status).toBe(200);
    const document = JSON.parse(reply.text) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: object } }> } }>
      >;
    };
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const properties = operation.requestBody?.content?.["application/json"]?.schema?.properties ?? {};
        operations.push({
          portal: portalPort,
          method: method.toUpperCase(),
          path,
          keys: Object.keys(properties),
        });
      }
    }
  }
  return operations;
}

// The documented endpoints the properties below fuzz in depth; everything documented is also fuzzed
// generically (the probes, /metrics and the portal's page too).
const FUZZED_IN_DEPTH = [
  "/v1/records",
  "/v1/trail",
  "/v1/audit/trails",
  "/v1/query-history",
  "/v1/audit/notices",
  "/v1/grants",
  "/v1/revocations",
  "/v1/proof/inclusion",
  "/v1/proof/consistency",
  "/v1/receipt/{index}",
  "/v1/checkpoint",
  "/checkpoint",
  "/tile/{path}",
  "/v1/whoami",
  "/v1/log",
  "/v1/login/challenge",
  "/v1/login",
];

describe("every documented endpoint", () => {
  it("is in the node's OpenAPI document, as are the ones fuzzed in depth", async () => {
    const paths = new Set((await documentedOperations()).map((o) => o.path));
    expect(FUZZED_IN_DEPTH.filter((p) => !paths.has(p))).toEqual([]);
  });

  it("answers junk parameters, bodies and headers with 200 or a coded 4xx, on both ports", async () => {
    const operations = await documentedOperations();
    const token = await login(who("P1"));
    const registered = JSON.stringify(deployment.registry.identities());
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...operations).chain((operation) =>
          fc.record({
            operation: fc.constant(operation),
            params: fc.array(segment, { minLength: 2, maxLength: 2 }),
            query: queryString(["index", "size", "from", "to", "a"]),
            body: fc.option(jsonBodies(operation.keys.length > 0 ? operation.keys : ["a"], fc.constant({})), {
              nil: undefined,
            }),
            contentType: jsonContentType,
            headers: extraHeaders,
            // Never the admin here: a generic body must not revoke or grant anything.
            as: fc.constantFrom("emr", "P1", "A1", "privacy", "n1"),
            bearer: fc.boolean(),
          }),
        ),
        async ({ operation, params, query, body, contentType, headers, as, bearer }) => {
          let n = 0;
          const path = operation.path.replace(/\{[^}]*\}/g, () => params[n++] ?? "0") + query;
          const call: Call = {
            method: operation.method,
            path,
            ...(body === undefined ? {} : { body, contentType }),
            headers: {
              ...headers,
              ...(operation.portal && bearer ? { authorization: `Bearer ${token}` } : {}),
            },
          };
          const reply = operation.portal ? await portal(call) : await api(as, call);
          expectCoded(reply, `${operation.portal ? "portal " : ""}${operation.method} ${path}`);
        },
      ),
      { numRuns: 2 * RUNS },
    );
    expect(JSON.stringify(deployment.registry.identities())).toBe(registered);
    await expectHealthy();
  });
});

describe("POST /v1/records under fuzzing", () => {
  it("answers 200 or a coded 4xx, and writes all the batch's records or none", async () => {
    await fc.assert(
      fc.asyncProperty(
        recordsBody,
        fc.constantFrom("emr", "emr", "emr", "emr", "A1", "P1"),
        extraHeaders,
        async ({ body, contentType }, as, headers) => {
          const before = await deployment.vault.ledger.size();
          const countBefore = await accessRecordCount();
          const reply = await api(as, { path: "/v1/records", body, contentType, headers });
          expectCoded(reply, `${as} ${contentType}`);
          const added = (await accessRecordCount()) - countBefore;
          if (reply.status === 200) {
            const { records } = JSON.parse(reply.text) as { records: { duplicate: boolean }[] };
            expect(added).toBe(records.filter((r) => !r.duplicate).length);
          } else {
            expect(added, reply.text).toBe(0);
            // Only the refusal notice of a refused caller may have been written.
            expect((await kindsSince(before)).filter((k) => k !== ENTRY_KINDS.refusal)).toEqual([]);
          }
        },
      ),
      { numRuns: 2 * RUNS },
    );
    await expectHealthy();
  });

  it("names the failing position and field of a bad record in a batch", async () => {
    const countBefore = await accessRecordCount();
    const good = { time: "2026-03-01T10:00:00Z", patientId: "P1", userId: "u1", action: "query" };
    const json = await api("emr", {
      path: "/v1/records",
      contentType: "application/json",
      body: JSON.stringify([good, good, { ...good, action: "peek" }]),
    });
    expect(json.status).toBe(400);
    expect(errorOf(json).code).toBe("INVALID_RECORD");
    expect(errorOf(json).message).toMatch(/^record 3: record\.action:/);
    const ndjson = await api("emr", {
      path: "/v1/records",
      contentType: "application/x-ndjson",
      body: [good, good, { ...good, time: 12 }].map((r) => JSON.stringify(r)).join("\n"),
    });
    expect(ndjson.status).toBe(400);
    expect(errorOf(ndjson).code).toBe("INVALID_RECORD");
    expect(errorOf(ndjson).message).toMatch(/^line 3: record\.time:/);
    expect(await accessRecordCount()).toBe(countBefore);
  });

  it("answers 400 BAD_ARGUMENT to truncated JSON and 415 to a wrong content type", async () => {
    const truncatedJson = await api("emr", {
      path: "/v1/records",
      contentType: "application/json",
      body: '[{"time":"2026-03-01T10:00:00Z","patientId":"P1","us',
    });
    expect(truncatedJson.status).toBe(400);
    expect(errorOf(truncatedJson).code).toBe("BAD_ARGUMENT");
    for (const contentType of [
      "application/xml",
      "application/octet-stream",
      "multipart/form-data; boundary=x",
    ]) {
      const wrong = await api("emr", { path: "/v1/records", contentType, body: "<record/>" });
      expectCoded(wrong, contentType);
      expect(wrong.status, contentType).toBe(415);
    }
  });

  it("answers 422 KEY_MISSING for a patient without a key, storing none of the batch", async () => {
    const countBefore = await accessRecordCount();
    const good = { time: "2026-03-01T10:00:00Z", patientId: "P1", userId: "u1", action: "query" };
    const reply = await api("emr", {
      path: "/v1/records",
      contentType: "application/json",
      body: JSON.stringify([good, { ...good, patientId: "not-enrolled" }]),
    });
    expectCoded(reply, "unknown patient");
    expect(reply.status).toBe(422);
    expect(errorOf(reply).code).toBe("KEY_MISSING");
    expect(await accessRecordCount()).toBe(countBefore);
  });

  it("answers 413 TOO_LARGE to bodies just over 8 MiB, in every format", async () => {
    const countBefore = await accessRecordCount();
    const record = JSON.stringify({
      time: "2026-03-01T10:00:00Z",
      patientId: "P1",
      userId: "u1",
      action: "query",
    });
    const lines = Array.from({ length: Math.ceil((8 * MiB + 10) / (record.length + 1)) }, () => record);
    for (const [contentType, body] of [
      ["application/json", `[${lines.join(",")}]`],
      ["application/x-ndjson", lines.join("\n")],
      ["text/plain", "x".repeat(8 * MiB + 1)],
      ["application/json", `"${"a".repeat(9 * MiB)}"`],
    ] as const) {
      expect(body.length).toBeGreaterThan(8 * MiB);
      const reply = await api("emr", { path: "/v1/records", contentType, body });
      expectCoded(reply, `${contentType} ${body.length}`);
      expect(reply.status).toBe(413);
      expect(errorOf(reply).code).toBe("TOO_LARGE");
    }
    expect(await accessRecordCount()).toBe(countBefore);
    const over = `{"a":"${"a".repeat(8 * MiB)}"}`;
    for (const [as, path] of [
      ["P1", "/v1/trail"],
      ["adm", "/v1/grants"],
      ["emr", "/v1/revocations"],
    ] as const) {
      const reply = await api(as, { path, contentType: "application/json", body: over });
      expectCoded(reply, path);
      expect(reply.status, path).toBe(413);
    }
    const login = await portal({ path: "/v1/login", contentType: "application/json", body: over });
    expectCoded(login, "/v1/login");
    expect(login.status).toBe(413);
    await expectHealthy();
  });
});

describe("the trail endpoints under fuzzing", () => {
  const validTrail = fc.record(
    { patientId: fc.constantFrom("P1", "P2", "P9"), ...trailWindow },
    { requiredKeys: [] },
  );
  const validAudit = fc.record(
    { patientIds: fc.array(fc.constantFrom("P1", "P2", "P9"), { maxLength: 3 }), ...trailWindow },
    { requiredKeys: [] },
  );

  for (const [path, valid] of [
    ["/v1/trail", validTrail],
    ["/v1/audit/trails", validAudit],
    ["/v1/query-history", fc.record({ trustedSize: trailWindow.trustedSize }, { requiredKeys: [] })],
    ["/v1/audit/notices", fc.record({ trustedSize: trailWindow.trustedSize }, { requiredKeys: [] })],
  ] as const) {
    it(`POST ${path} answers 200 or a coded 4xx and never stores a record`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            { arbitrary: jsonBodies(TRAIL_KEYS, valid as fc.Arbitrary<unknown>), weight: 3 },
            { arbitrary: (valid as fc.Arbitrary<unknown>).map((v) => JSON.stringify(v)), weight: 1 },
          ),
          jsonContentType,
          fc.constantFrom("P1", "P2", "A1", "emr", "adm", "privacy"),
          extraHeaders,
          async (body, contentType, as, headers) => {
            const countBefore = await accessRecordCount();
            const reply = await api(as, { path, body, contentType, headers });
            expectCoded(reply, `${as} ${path}`);
            expect(await accessRecordCount()).toBe(countBefore);
          },
        ),
        { numRuns: RUNS },
      );
      await expectHealthy();
    });
  }

  it("answers 400 for a trail window of the wrong type or out of range", async () => {
    for (const body of [
      { limit: "10" },
      { limit: 0 },
      { limit: 5001 },
      { before: -1 },
      { trustedSize: 1.5 },
      { from: "yesterday" },
      { patientId: "P1/../P2" },
      { patientId: "P1", extra: true },
    ]) {
      const reply = await api("P1", {
        path: "/v1/trail",
        contentType: "application/json",
        body: JSON.stringify(body),
      });
      expectCoded(reply, JSON.stringify(body));
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(reply).code).toBe("BAD_ARGUMENT");
    }
    const newer = await api("P1", {
      path: "/v1/trail",
      contentType: "application/json",
      body: JSON.stringify({ trustedSize: 2 ** 40 }),
    });
    expectCoded(newer, "trustedSize beyond the log");
    expect(errorOf(newer).code).toBe("CONFLICT");
  });
});

describe("the identity endpoints under fuzzing", () => {
  function registrySnapshot(): string {
    return JSON.stringify(
      deployment.registry
        .identities()
        .map((i) => [i.role, i.subject, i.revokedAt ?? null])
        .sort(),
    );
  }

  it("POST /v1/revocations by anyone but an admin revokes nobody", async () => {
    const registered = registrySnapshot();
    const enrolledTarget = fc
      .constantFrom(...PEOPLE.filter(([role]) => role !== "node"))
      .map(([role, id]) => ({ role, id }));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { arbitrary: enrolledTarget.map((t) => JSON.stringify(t)), weight: 2 },
          {
            arbitrary: jsonBodies(
              ["role", "id"],
              fc.record({ role: fc.constantFrom(...ROLES), id: fc.constantFrom("P1", "emr", "adm", "x") }),
            ),
            weight: 5,
          },
        ),
        jsonContentType,
        fc.constantFrom("emr", "P1", "A1", "privacy"),
        extraHeaders,
        async (body, contentType, as, headers) => {
          const countBefore = await accessRecordCount();
          const reply = await api(as, { path: "/v1/revocations", body, contentType, headers });
          expectCoded(reply, `${as} revokes`);
          expect(reply.status).not.toBe(200);
          expect(await accessRecordCount()).toBe(countBefore);
        },
      ),
      { numRuns: RUNS },
    );
    expect(registrySnapshot()).toBe(registered);
    expect(
      deployment.registry.active("patient", patientSubject(deployment.vault.patientTag("P1")), Date.now()),
    ).toBeTruthy();
    await expectHealthy();
  });

  it("POST /v1/revocations by the admin refuses malformed bodies and unknown identities", async () => {
    const registered = registrySnapshot();
    const malformed = [
      "",
      "{",
      "[]",
      "null",
      '{"role":"patient"}',
      '{"id":"P1"}',
      '{"role":"patient","id":7}',
      '{"role":"king","id":"P1"}',
      '{"role":"patient","id":"P1","extra":1}',
      '{"role":"patient","id":"P 1"}',
      '{"role":["patient"],"id":"P1"}',
      `{"role":"patient","id":"${"a".repeat(200)}"}`,
      '{"role":"patient","id":"nobody"}',
      '{"role":"admin","id":"nobody"}',
    ];
    for (const body of malformed) {
      const reply = await api("adm", { path: "/v1/revocations", contentType: "application/json", body });
      expectCoded(reply, `admin revokes ${body}`);
      expect(reply.status, body).toBeGreaterThanOrEqual(400);
    }
    await fc.assert(
      fc.asyncProperty(
        fc.record({ role: fc.constantFrom(...ROLES), id: fc.stringMatching(/^zz[A-Za-z0-9._-]{0,20}$/) }),
        async (body) => {
          const reply = await api("adm", {
            path: "/v1/revocations",
            contentType: "application/json",
            body: JSON.stringify(body),
          });
          expectCoded(reply, "admin revokes an unknown identity");
          expect(reply.status).toBe(404);
        },
      ),
      { numRuns: 20 },
    );
    expect(registrySnapshot()).toBe(registered);
  });

  it("POST /v1/grants answers a coded 4xx to anything but a grant its admin signed", async () => {
    const admin = who("adm");
    const tag = deployment.vault.patientTag("P2");
    const grantEntry = (at: number, signer = admin) =>
      encodeGrantEntry({ time: at, auditor: "A1", patientTags: [tag], from: at, admin: "adm" }, (m) =>
        signer.sign(m),
      );
    // Well formed, but signed by the EHR source in the admin's name: the node must refuse it.
    const forged = toBase64(grantEntry(1_700_000_000_000, who("emr")));
    const entryText = fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 600 }).map(toBase64), weight: 3 },
      {
        arbitrary: fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([cut, at, byte]) => {
          const entry = grantEntry(1_700_000_000_000);
          const flipped = entry.slice();
          const i = at % flipped.length;
          flipped[i] = flipped[i]! ^ (byte || 1);
          return toBase64(cut % 2 === 0 ? entry.slice(0, cut % entry.length) : flipped);
        }),
        weight: 3,
      },
      {
        arbitrary: fc.constantFrom("", "A", "AA", "AAA", "====", "A===", "!!!!", "YQ", "YQ=", "YQ=="),
        weight: 1,
      },
      { arbitrary: oddValue, weight: 1 },
    );
    const registered = registrySnapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { arbitrary: entryText.map((entry) => toText({ entry })), weight: 4 },
          { arbitrary: jsonBodies(["entry"], fc.constant({ entry: forged })), weight: 3 },
        ),
        jsonContentType,
        fc.constantFrom("adm", "adm", "adm", "emr", "A1"),
        async (body, contentType, as) => {
          const countBefore = await accessRecordCount();
          const reply = await api(as, { path: "/v1/grants", body, contentType });
          expectCoded(reply, `${as} grants`);
          expect(reply.status).not.toBe(200);
          expect(await accessRecordCount()).toBe(countBefore);
        },
      ),
      { numRuns: RUNS },
    );
    expect(registrySnapshot()).toBe(registered);
    await expectHealthy();
    // The control: the same route takes the grant its admin signed.
    const signed = await api("adm", {
      path: "/v1/grants",
      contentType: "application/json",
      body: JSON.stringify({ entry: toBase64(grantEntry(Date.now())) }),
    });
    expect(signed.status, signed.text).toBe(200);
  });

  it("answers 400 BAD_ENCODING to a grant entry that is not canonical base64 or not UTF-8 (was a 500)", async () => {
    const entry = encodeGrantEntry(
      { time: 1, auditor: "A1", patientTags: [deployment.vault.patientTag("P2")], from: 1, admin: "adm" },
      (m) => who("adm").sign(m),
    );
    const at = Buffer.from(entry).lastIndexOf(Buffer.from("adm"));
    const notUtf8 = entry.slice();
    notUtf8[at] = 0xe1; // "\xe1dm": a lead byte without its continuation
    for (const entry of ["YQ", "A", "YQ=", "YR==", toBase64(notUtf8)]) {
      const reply = await api("adm", {
        path: "/v1/grants",
        contentType: "application/json",
        body: JSON.stringify({ entry }),
      });
      expectCoded(reply, entry);
      expect(reply.status, entry).toBe(400);
      expect(errorOf(reply).code).toBe("BAD_ENCODING");
    }
  });
});

describe("the log endpoints under fuzzing", () => {
  it("GET /v1/proof/inclusion and /v1/proof/consistency check their numbers", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          queryString(["index", "size"]).map((q) => `/v1/proof/inclusion${q}`),
          queryString(["from", "to"]).map((q) => `/v1/proof/consistency${q}`),
        ),
        fc.constantFrom("emr", "P1", "A1"),
        extraHeaders,
        async (path, as, headers) => {
          expectCoded(await api(as, { path, headers }), path);
        },
      ),
      { numRuns: RUNS },
    );
    for (const path of [
      "/v1/proof/inclusion?index=-1&size=2",
      "/v1/proof/inclusion?index=abc&size=2",
      "/v1/proof/inclusion?index=1&size=99999999999999999999",
      "/v1/proof/inclusion?index=3&size=2",
      "/v1/proof/consistency?from=NaN&to=1",
      "/v1/proof/consistency?from=3&to=2",
    ]) {
      const reply = await api("emr", { path });
      expectCoded(reply, path);
      expect(reply.status, path).toBe(400);
      expect(errorOf(reply).code).toBe("BAD_ARGUMENT");
    }
    const beyond = await api("emr", { path: `/v1/proof/inclusion?index=0&size=${2 ** 40}` });
    expect(beyond.status).toBe(404);
    await expectHealthy();
  });

  it("GET /v1/receipt/:index, /tile/* and the checkpoints answer 200 or a coded 4xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(segment, queryString(["index"])).map(([s, q]) => `/v1/receipt/${s}${q}`),
          fc
            .tuple(
              fc.oneof(fc.constantFrom("entries", "0", "1", "63", "64"), segment),
              fc.array(segment, { maxLength: 8 }),
            )
            .map(([head, rest]) => `/tile/${[head, ...rest].join("/")}`),
          fc
            .tuple(
              fc.constantFrom("entries", "0", "1"),
              fc.array(fc.constantFrom("x000", "x001", "000", "001", "000.p", "1", "255", "256"), {
                maxLength: 6,
              }),
            )
            .map(([head, rest]) => `/tile/${[head, ...rest].join("/")}`),
          queryString(["size"]).map((q) => `/checkpoint${q}`),
          queryString(["size"]).map((q) => `/v1/checkpoint${q}`),
        ),
        fc.constantFrom("emr", "P1", "adm"),
        extraHeaders,
        async (path, as, headers) => {
          expectCoded(await api(as, { path, headers }), path);
        },
      ),
      { numRuns: RUNS },
    );
    for (const [path, status] of [
      ["/v1/receipt/-1", 400],
      ["/v1/receipt/abc", 400],
      ["/v1/receipt/99999999999999999999", 400],
      [`/v1/receipt/${2 ** 40}`, 404],
      ["/tile/0/x000/000/000/000/000/000/000", 400],
    ] as const) {
      const reply = await api("emr", { path });
      expectCoded(reply, path);
      expect(reply.status, path).toBe(status);
    }
    await expectHealthy();
  });

  it("GET /v1/whoami, /v1/log, /v1/alerts and /metrics ignore odd queries, headers, bodies and methods", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/v1/whoami", "/v1/log", "/v1/alerts", "/metrics", "/v1/health", "/v1/ready"),
        queryString(["a", "size"]),
        fc.constantFrom("GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"),
        fc.option(jsonBodies(["a"], fc.constant({ a: 1 })), { nil: undefined }),
        jsonContentType,
        extraHeaders,
        fc.constantFrom("emr", "P1", "A1", "adm", "privacy", "n1"),
        async (path, query, method, body, contentType, headers, as) => {
          const reply = await api(as, {
            method,
            path: `${path}${query}`,
            ...(body === undefined ? {} : { body, contentType }),
            headers,
          });
          expectCoded(reply, `${method} ${path}${query}`);
          if (method === "GET" && body === undefined && query === "" && path !== "/v1/alerts") {
            // Every enrolled identity may read these: a plain GET succeeds whatever the headers.
            expect(reply.status, reply.text).toBe(200);
          }
        },
      ),
      { numRuns: RUNS },
    );
    await expectHealthy();
  });
});

describe("requests Fastify answers before any hook", () => {
  it("answers a malformed URL escape or an over-long path parameter in the one error shape", async () => {
    for (const path of [
      "/v1/receipt/%zz",
      `/v1/receipt/${"9".repeat(101)}`,
      "/tile/0/%zz",
      "/v1/nowhere/%",
    ]) {
      expectCoded(await api("emr", { path }), path, { strictUrl: true });
    }
  });

  // Node refuses headers over 16 KiB in all; server.ts's clientErrorHandler answers in the one shape.
  it("answers oversized headers in the one error shape", async () => {
    const reply = await api("emr", { path: "/v1/whoami", headers: { "x-big": "h".repeat(17_000) } });
    expect(reply.status).toBe(431);
    expectCoded(reply, "17 kB header");
  });

  it("answers a request that is not HTTP in the one error shape (400, not a 500)", async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(
        {
          host: "127.0.0.1",
          port: server.portal!.port,
          ca: server.portalCertificate!.pem,
          servername: "localhost",
        },
        () => socket.end("NOT-A-METHOD / HTTP/1.1\r\nHost: x\r\n\r\n"),
      );
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("end", () => resolve(Buffer.concat(chunks).toString()));
      socket.on("error", reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as { error: { code: string } };
    expect(body.error.code).toBe("BAD_ARGUMENT");
    await expectHealthy();
  });

  it("keeps serving after oversized headers", async () => {
    for (const size of [17_000, 100_000]) {
      const reply = await api("emr", { path: "/v1/whoami", headers: { "x-big": "h".repeat(size) } });
      expect(reply.status).toBe(431);
      expect(reply.text).not.toMatch(STACK_TEXT);
    }
    await expectHealthy();
  });
});

describe("the portal under fuzzing", () => {
  it("POST /v1/login/challenge and /v1/login answer 200 or a coded 4xx to anything", async () => {
    const patient = who("P1");
    const cert = patient.bundle.signingCertificate;
    const challenges: Challenge[] = [];
    const origin = fc.oneof(
      fc.constant(ORIGIN),
      headerValue,
      fc.constantFrom("", "null", "https://evil.example", "x".repeat(600)),
    );
    const loginBody = fc.oneof(
      {
        arbitrary: jsonBodies(
          ["challengeId", "certificate", "signature"],
          fc.constant({ challengeId: "c", certificate: cert, signature: "AA==" }),
        ),
        weight: 3,
      },
      {
        weight: 4,
        arbitrary: fc
          .record({
            challengeId: fc.oneof(fc.constant("real"), fc.string({ maxLength: 70 })),
            certificate: fc.oneof(
              fc.constant(cert),
              truncated(fc.constant(cert)),
              fc.constant(who("emr").bundle.signingCertificate),
              fc.constant(deployment.anchor.caPem),
              fc
                .uint8Array({ maxLength: 800 })
                .map((b) => `-----BEGIN CERTIFICATE-----\n${toBase64(b)}\n-----END CERTIFICATE-----\n`),
              fc.string({ maxLength: 200 }),
            ),
            signature: fc.oneof(
              fc.uint8Array({ maxLength: 90 }).map(toBase64),
              fc.constantFrom("", "A", "AA", "===="),
            ),
          })
          .map((b) => ({
            ...b,
            challengeId: b.challengeId === "real" ? (challenges.pop()?.challengeId ?? "none") : b.challengeId,
          }))
          .map((b) => JSON.stringify(b)),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/v1/login/challenge", "/v1/login"),
        fc.oneof(loginBody, fc.constant(undefined)),
        jsonContentType,
        fc.option(origin, { nil: undefined }),
        extraHeaders,
        async (path, body, contentType, originHeader, headers) => {
          // A fresh real challenge now and then, so /v1/login gets past the lookup.
          if (challenges.length === 0) {
            const c = await portal({
              path: "/v1/login/challenge",
              body: "{}",
              contentType: "application/json",
              headers: { origin: ORIGIN },
            });
            expect(c.status, c.text).toBe(200);
            challenges.push(JSON.parse(c.text) as Challenge);
          }
          const reply = await portal({
            path,
            ...(body === undefined ? { method: "POST" } : { body, contentType }),
            headers: { ...headers, ...(originHeader === undefined ? {} : { origin: originHeader }) },
          });
          expectCoded(reply, `${path} ${String(body).slice(0, 100)}`);
          if (path === "/v1/login") expect(reply.status, reply.text).not.toBe(200);
        },
      ),
      { numRuns: 2 * RUNS },
    );
    await expectHealthy();
  });

  it("consumes the challenge of a login whose signature is not base64, answering 400 (was a 500)", async () => {
    const patient = who("P1");
    const c = JSON.parse(
      (
        await portal({
          path: "/v1/login/challenge",
          body: "{}",
          contentType: "application/json",
          headers: { origin: ORIGIN },
        })
      ).text,
    ) as Challenge;
    const attempt = (signature: string) =>
      portal({
        path: "/v1/login",
        contentType: "application/json",
        headers: { origin: ORIGIN },
        body: JSON.stringify({
          challengeId: c.challengeId,
          certificate: patient.bundle.signingCertificate,
          signature,
        }),
      });
    const bad = await attempt("A");
    expectCoded(bad, "signature A");
    expect(bad.status).toBe(400);
    expect(errorOf(bad).code).toBe("BAD_ENCODING");
    const replay = await attempt(toBase64(patient.sign(loginMessage(c))));
    expect(replay.status).toBe(401);
    expect(errorOf(replay).code).toBe("BAD_CHALLENGE");
  });

  it("refuses every bearer token but a valid one with a coded 401", async () => {
    const token = await login(who("P1"));
    const [head, payload, signature] = token.split(".") as [string, string, string];
    const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const forged = [
      `${b64url({ alg: "none", typ: "JWT" })}.${payload}.`,
      `${b64url({ alg: "HS256", typ: "JWT" })}.${payload}.${signature}`,
      `${head}.${b64url({ sub: "custos://stmary/admin/adm", role: "admin", id: "adm", sbj: "adm", key: "AA==" })}.${signature}`,
      `${head}.${payload}`,
      `${head}..${signature}`,
      `${token}.${signature}`,
    ];
    const authorization = fc.oneof(
      fc.nat({ max: token.length - 1 }).map((n) => `Bearer ${token.slice(0, n)}`),
      fc
        .tuple(fc.nat({ max: token.length - 1 }), fc.constantFrom("A", "_", "-", ".", "0"))
        .map(([i, c]) => `Bearer ${token.slice(0, i)}${c}${token.slice(i + 1)}`),
      fc.stringMatching(/^[A-Za-z0-9._-]{1,600}$/).map((t) => `Bearer ${t}`),
      fc.constantFrom(...forged).map((t) => `Bearer ${t}`),
      fc.constantFrom(
        `bearer ${token}`,
        `Bearer  ${token}`,
        `Basic ${token}`,
        `Bearer\t${token}`,
        "Bearer",
        "Bearer ",
        `Bearer ${"A".repeat(5000)}`,
      ),
      headerValue,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          "/v1/whoami",
          "/v1/log",
          "/v1/trail",
          "/v1/query-history",
          "/v1/records",
          "/checkpoint",
          "/v1/proof/inclusion?index=0&size=1",
        ),
        fc.option(authorization, { nil: undefined }),
        async (path, auth) => {
          const post = path === "/v1/trail" || path === "/v1/query-history" || path === "/v1/records";
          const reply = await portal({
            path,
            ...(post ? { body: "{}", contentType: "application/json" } : {}),
            headers: auth === undefined ? {} : { authorization: auth },
          });
          expectCoded(reply, `${path} ${auth?.slice(0, 80)}`);
          // HTTP drops whitespace around a header value (RFC 9110 5.5), so a padded token is the token.
          if (auth?.replace(/^[ \t]+|[ \t]+$/g, "") !== `Bearer ${token}`) {
            expect(reply.status, `${auth}: ${reply.text}`).toBe(401);
            expect(["BAD_TOKEN", "NOT_AUTHENTICATED", "TOKEN_EXPIRED"]).toContain(errorOf(reply).code);
          }
        },
      ),
      { numRuns: RUNS },
    );
    const good = await portal({ path: "/v1/whoami", headers: { authorization: `Bearer ${token}` } });
    expect(good.status, good.text).toBe(200);
    const cut = await portal({
      path: "/v1/whoami",
      headers: { authorization: `Bearer ${token.slice(0, -5)}` },
    });
    expect(cut.status).toBe(401);
    expect(errorOf(cut).code).toBe("BAD_TOKEN");
    await expectHealthy();
  });
});
