// End to end: a real `custos serve` process on loopback, real TLS 1.3 with client certificates, curl
// as a real client. Who may connect, who may do what, refusals recorded for the patient, revocation
// taking effect at once, and the browser login by signed challenge.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../src/core/bytes.js";
import { Identity, type IdentityBundle } from "../../src/identity/bundle.js";
import { type OpenedNotice, openNotice } from "../../src/records/notices.js";
import { loginMessage } from "../../src/service/login.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

// biome-ignore lint/suspicious/noExplicitAny: reply bodies are checked field by field in each test
type Json = any;

let env: TestDeployment;
let submittedUpTo = 0;
let apiPort = 0;
let portalPort = 0;
const bundles = new Map<string, IdentityBundle>();
const root = {
  get dir() {
    return env.root;
  },
};

function pemDir(name: string): string {
  return env.pemDir(name);
}

interface CurlResult {
  status: number;
  http: number;
  body: string;
  stderr: string;
}

/** curl as a real TLS client; `who` picks the client certificate (undefined: none). */
function curl(
  who: string | undefined,
  path: string,
  options: { body?: string; args?: string[]; port?: number } = {},
): CurlResult {
  const args = [
    "-sS",
    "--max-time",
    "20",
    "--cacert",
    join(root.dir, "data", "ca", "ca.pem"),
    "-w",
    "\n%{http_code}",
  ];
  if (who)
    args.push("--cert", join(pemDir(who), "cert.pem"), "--key", join(pemDir(who), "key.pem"), "--pass", PASS);
  if (options.body !== undefined)
    args.push("-H", "content-type: application/json", "--data-binary", options.body);
  args.push(...(options.args ?? []), `https://127.0.0.1:${options.port ?? apiPort}${path}`);
  const result = spawnSync("curl", args, { encoding: "utf8" });
  const lines = result.stdout.split("\n");
  const http = Number(lines.pop());
  return { status: result.status ?? -1, http, body: lines.join("\n"), stderr: result.stderr };
}

function portal(
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json }> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: portalPort,
        path,
        method: body === undefined ? "GET" : "POST",
        // The portal presents the node's self-signed ECDSA certificate (browsers take no Ed25519 one).
        ca: readFileSync(join(env.data, "portal", "cert.pem"), "utf8"),
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["admin", "adm"],
      ["auditor", "A1"],
      ["auditor", "A2"],
    ],
    grants: [
      { auditor: "A1", patients: ["P1", "P2"] },
      { auditor: "A2", patients: ["P2"] },
    ],
  });
  for (const [who, bundle] of env.bundles) bundles.set(who, bundle);
  await env.start(["--portal-origin", "https://portal.stmary.example"]);
  apiPort = env.apiPort;
  portalPort = env.portalPort;
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

describe("mutual TLS", () => {
  it("lets an enrolled identity in and tells it who it is", () => {
    const r = curl("emr", "/v1/whoami");
    expect(r.http).toBe(200);
    expect(JSON.parse(r.body)).toEqual({
      identity: "custos://stmary/ehr-source/emr",
      role: "ehr-source",
      id: "emr",
    });
  });

  it("refuses at the handshake a client without a certificate", () => {
    const r = curl(undefined, "/v1/whoami");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/certificate required|alert/i);
  });

  it("refuses at the handshake a self-signed client certificate and one from another CA", () => {
    const dir = join(root.dir, "pem", "self");
    spawnSync("mkdir", ["-p", dir]);
    const made = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ed25519",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=P1/OU=patient/O=stmary",
        "-addext",
        "subjectAltName=URI:custos://stmary/patient/P1",
      ],
      { encoding: "utf8" },
    );
    expect(made.status).toBe(0);
    writeFileSync(join(dir, "pass"), "");
    const r = spawnSync(
      "curl",
      [
        "-sS",
        "--cacert",
        join(root.dir, "data", "ca", "ca.pem"),
        "--cert",
        join(dir, "cert.pem"),
        "--key",
        join(dir, "key.pem"),
        `https://127.0.0.1:${apiPort}/v1/whoami`,
      ],
      { encoding: "utf8" },
    );
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain("identity");

    // A certificate from another CA, naming the same identity.
    const ca = (f: string) => join(dir, f);
    const steps = [
      [
        "req",
        "-x509",
        "-newkey",
        "ed25519",
        "-nodes",
        "-keyout",
        ca("ca-key.pem"),
        "-out",
        ca("ca.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=Rogue CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
      ],
      [
        "req",
        "-new",
        "-newkey",
        "ed25519",
        "-nodes",
        "-keyout",
        ca("leaf-key.pem"),
        "-out",
        ca("leaf.csr"),
        "-subj",
        "/CN=P1/OU=patient/O=stmary",
      ],
      [
        "x509",
        "-req",
        "-in",
        ca("leaf.csr"),
        "-CA",
        ca("ca.pem"),
        "-CAkey",
        ca("ca-key.pem"),
        "-CAcreateserial",
        "-out",
        ca("leaf.pem"),
        "-days",
        "1",
      ],
    ];
    for (const step of steps) expect(spawnSync("openssl", step).status).toBe(0);
    const foreign = spawnSync(
      "curl",
      [
        "-sS",
        "--cacert",
        join(root.dir, "data", "ca", "ca.pem"),
        "--cert",
        ca("leaf.pem"),
        "--key",
        ca("leaf-key.pem"),
        `https://127.0.0.1:${apiPort}/v1/whoami`,
      ],
      { encoding: "utf8" },
    );
    expect(foreign.status).not.toBe(0);
    expect(foreign.stdout).not.toContain("identity");
    // The server is unharmed.
    expect(curl("emr", "/v1/whoami").http).toBe(200);
  });

  it("speaks TLS 1.3 only unless told otherwise", () => {
    const r = curl("emr", "/v1/whoami", { args: ["--tls-max", "1.2"] });
    expect(r.status).not.toBe(0);
  });

  it("answers malformed and oversized requests with a stable error code and no stack trace", () => {
    const bad = curl("emr", "/v1/records", { body: "{not json" });
    expect(bad.http).toBe(400);
    expect(JSON.parse(bad.body).error).toEqual({
      code: "BAD_ARGUMENT",
      message: "the request body is not valid JSON",
    });
    const invalid = curl("emr", "/v1/records", {
      body: JSON.stringify([
        { time: "2026-11-23T08:00:00Z", patientId: "P1", userId: "u", action: "query" },
        { patientId: "P1" },
      ]),
    });
    expect(invalid.http).toBe(400);
    expect(JSON.parse(invalid.body).error.code).toBe("INVALID_RECORD");
    expect(JSON.parse(invalid.body).error.message).toMatch(/^record 2: /);
    const wrongType = curl("A1", "/v1/trail", { body: JSON.stringify({ patientId: 42 }) });
    expect(wrongType.http).toBe(400);
    expect(JSON.parse(wrongType.body).error.message).toMatch(/patientId/);
    const bigFile = join(root.dir, "big.json");
    writeFileSync(bigFile, `"${"x".repeat(9 * 1024 * 1024)}"`);
    const big = curl("emr", "/v1/records", { body: `@${bigFile}` });
    expect(big.http).toBe(413);
    expect(JSON.parse(big.body).error.code).toBe("TOO_LARGE");
    const unknown = curl("emr", "/v1/nothing-here");
    expect(unknown.http).toBe(404);
    expect(unknown.body).not.toMatch(/at .*\.js/);
  });
});

describe("authorization over the API", () => {
  it("lets the EHR source submit in its own name only, and no one else submit at all", () => {
    const record = { time: "2026-11-23T08:00:00Z", patientId: "P1", userId: "dr-a", action: "query" };
    const ok = curl("emr", "/v1/records", { body: JSON.stringify([record, { ...record, patientId: "P2" }]) });
    expect(ok.http).toBe(200);
    expect(JSON.parse(ok.body).records).toHaveLength(2);
    submittedUpTo = JSON.parse(ok.body).records[1].index + 1;
    const foreign = curl("emr", "/v1/records", {
      body: JSON.stringify({ ...record, sourceSystem: "other-hospital" }),
    });
    expect(foreign.http).toBe(403);
    // A FHIR event observed by a device the source speaks for is accepted; one observed by a "device"
    // that is an enrolled identity (here the audit company A1) is not.
    const observed = (device: string) => ({
      resourceType: "AuditEvent",
      action: "R",
      recorded: "2026-11-23T08:05:00Z",
      agent: [{ who: { identifier: { value: "dr-a" } }, requestor: true }],
      source: { observer: { reference: `Device/${device}` } },
      entity: [{ what: { reference: "Patient/P1" }, role: { code: "1" } }],
    });
    const device = curl("emr", "/v1/records", { body: JSON.stringify(observed("ct-scanner-2")) });
    expect(device.http, device.body).toBe(200);
    const enrolled = curl("emr", "/v1/records", { body: JSON.stringify(observed("A1")) });
    expect(enrolled.http).toBe(403);
    expect(JSON.parse(enrolled.body).error.message).toMatch(/observing device is an enrolled identity/);
    submittedUpTo = JSON.parse(device.body).records[0].index + 1;
    const asAuditor = curl("A1", "/v1/records", { body: JSON.stringify(record) });
    expect(JSON.parse(asAuditor.body).error.code).toBe("NOT_AUTHORIZED");
  });

  it("serves a trail to the granted audit company, refuses the other, and the patient sees the refusal", async () => {
    // Trails hold only what a signed checkpoint covers: wait for one over the records just submitted.
    for (let i = 0; i < 50 && JSON.parse(curl("A1", "/v1/log").body).size < submittedUpTo; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const granted = curl("A1", "/v1/trail", { body: JSON.stringify({ patientId: "P1" }) });
    expect(granted.http).toBe(200);
    expect(JSON.parse(granted.body).items.length).toBeGreaterThan(0);
    const refused = curl("A2", "/v1/trail", { body: JSON.stringify({ patientId: "P1" }) });
    expect(refused.http).toBe(403);
    expect(JSON.parse(refused.body).error.code).toBe("NOT_AUTHORIZED");
    const admin = curl("adm", "/v1/trail", { body: JSON.stringify({ patientId: "P1" }) });
    expect(admin.http).toBe(403);

    // Only what a signed checkpoint covers is served: wait for one over the refusals just recorded.
    let history = curl("P1", "/v1/query-history", { body: "{}" });
    for (let i = 0; i < 40 && (history.http !== 200 || JSON.parse(history.body).items.length < 3); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      history = curl("P1", "/v1/query-history", { body: "{}" });
    }

    expect(history.http).toBe(200);
    const p1 = Identity.unlock(bundles.get("patient/P1")!, PASS);
    const notices = JSON.parse(history.body).items.map(
      (item: { index: number; entry: string; content: string }) =>
        openNotice(
          { index: item.index, entry: fromBase64(item.entry), content: fromBase64(item.content) },
          p1.encryptionPrivateKey(),
        ),
    );
    const seen = notices.map((n: OpenedNotice) =>
      `${n.kind} ${n.body.requester} ${n.body.reason ?? ""}`.trim(),
    );
    expect(seen).toContain("query custos://stmary/auditor/A1");
    expect(seen).toContain("refusal custos://stmary/auditor/A2 NOT_AUTHORIZED");
    expect(seen).toContain("refusal custos://stmary/admin/adm NOT_AUTHORIZED");
    // Another patient cannot read P1's history: their own request is about their own tag only.
    const p2 = curl("P2", "/v1/trail", { body: JSON.stringify({ patientId: "P1" }) });
    expect(p2.http).toBe(403);
  });
});

describe("signed-challenge login (the portal port)", () => {
  async function login(who: string, origin = "https://portal.stmary.example") {
    const bundle = bundles.get(who)!;
    const identity = Identity.unlock(bundle, PASS);
    const challenge = await portal("/v1/login/challenge", { body: {}, headers: { origin } });
    expect(challenge.status).toBe(200);
    const signature = toBase64(identity.sign(loginMessage(challenge.json)));
    const body = {
      challengeId: challenge.json.challengeId,
      certificate: bundle.signingCertificate,
      signature,
    };
    return {
      challenge: challenge.json,
      body,
      response: await portal("/v1/login", { body, headers: { origin } }),
    };
  }

  it("issues a short-lived token for a valid signature, and the token works once logged in", async () => {
    const { response } = await login("patient/P1");
    expect(response.status).toBe(200);
    expect(response.json.expiresAt - Date.now()).toBeLessThanOrEqual(300_000);
    const me = await portal("/v1/whoami", { headers: { authorization: `Bearer ${response.json.token}` } });
    expect(me).toMatchObject({ status: 200, json: { identity: "custos://stmary/patient/P1" } });
    const tampered = `${response.json.token.slice(0, -3)}AAA`;
    const bad = await portal("/v1/whoami", { headers: { authorization: `Bearer ${tampered}` } });
    expect(bad).toMatchObject({ status: 401, json: { error: { code: "BAD_TOKEN" } } });
    const none = await portal("/v1/whoami");
    expect(none).toMatchObject({ status: 401, json: { error: { code: "NOT_AUTHENTICATED" } } });
  });

  it("refuses a replayed challenge, another origin, and a signature by the wrong key", async () => {
    const { body, response } = await login("patient/P2");
    expect(response.status).toBe(200);
    const replay = await portal("/v1/login", { body, headers: { origin: "https://portal.stmary.example" } });
    expect(replay).toMatchObject({ status: 401, json: { error: { code: "BAD_CHALLENGE" } } });

    const challenge = await portal("/v1/login/challenge", {
      body: {},
      headers: { origin: "https://portal.stmary.example" },
    });
    const p2 = Identity.unlock(bundles.get("patient/P2")!, PASS);
    const signature = toBase64(p2.sign(loginMessage(challenge.json)));
    const elsewhere = await portal("/v1/login", {
      body: {
        challengeId: challenge.json.challengeId,
        certificate: bundles.get("patient/P2")!.signingCertificate,
        signature,
      },
      headers: { origin: "https://evil.example" },
    });
    expect(elsewhere).toMatchObject({ status: 401, json: { error: { code: "BAD_CHALLENGE" } } });

    const again = await portal("/v1/login/challenge", {
      body: {},
      headers: { origin: "https://portal.stmary.example" },
    });
    const wrongKey = toBase64(p2.sign(loginMessage(again.json)));
    const asP1 = await portal("/v1/login", {
      body: {
        challengeId: again.json.challengeId,
        certificate: bundles.get("patient/P1")!.signingCertificate,
        signature: wrongKey,
      },
      headers: { origin: "https://portal.stmary.example" },
    });
    expect(asP1).toMatchObject({ status: 400, json: { error: { code: "BAD_SIGNATURE" } } });

    const noOrigin = await portal("/v1/login/challenge", { body: {} });
    expect(noOrigin).toMatchObject({ status: 401, json: { error: { code: "BAD_CHALLENGE" } } });
    // Only this portal's own origins (here the one given with --portal-origin) get a challenge: a
    // look-alike site relaying the login cannot have a user sign for it.
    const lookAlike = await portal("/v1/login/challenge", {
      body: {},
      headers: { origin: "https://portal.stmary.example.evil.example" },
    });
    expect(lookAlike).toMatchObject({ status: 401, json: { error: { code: "BAD_CHALLENGE" } } });
  });
});

describe("revocation", () => {
  it("takes effect at once: the revoked identity is refused at the handshake and at login", async () => {
    expect(curl("A2", "/v1/whoami").http).toBe(200);
    const revoked = curl("adm", "/v1/revocations", { body: JSON.stringify({ role: "auditor", id: "A2" }) });
    expect(revoked.http).toBe(200);
    const after = curl("A2", "/v1/whoami");
    expect(after.http === 200).toBe(false);
    expect(after.status).not.toBe(0); // the connection is closed during the handshake
    expect(curl("A1", "/v1/whoami").http).toBe(200);
    const origin = "https://portal.stmary.example";
    const challenge = await portal("/v1/login/challenge", { body: {}, headers: { origin } });
    const a2 = Identity.unlock(bundles.get("auditor/A2")!, PASS);
    const refusedLogin = await portal("/v1/login", {
      body: {
        challengeId: challenge.json.challengeId,
        certificate: bundles.get("auditor/A2")!.signingCertificate,
        signature: toBase64(a2.sign(loginMessage(challenge.json))),
      },
      headers: { origin },
    });
    expect(refusedLogin).toMatchObject({ status: 401, json: { error: { code: "CERT_REVOKED" } } });
    const notAdmin = curl("A1", "/v1/revocations", { body: JSON.stringify({ role: "patient", id: "P1" }) });
    expect(notAdmin.http).toBe(403);
  });
});
