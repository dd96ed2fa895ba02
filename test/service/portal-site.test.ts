// End to end: the portal port of a real `custos serve` over real TLS. Its ECDSA P-256 certificate
// (self-signed and kept across restarts, or the operator's), the fingerprint it prints, the static site
// with its headers, path traversal refused, /portal/config.json, and refused requests readable by the
// audit companies granted the patient through POST /v1/audit/notices.

import "reflect-metadata";
import { createHash, generateKeyPairSync, webcrypto, type X509Certificate } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64 } from "../../src/core/bytes.js";
import { generateCosignerKey } from "../../src/core/note/index.js";
import type { Identity } from "../../src/identity/bundle.js";
import { portalCertificateFingerprint, spkiFingerprint } from "../../src/identity/portal-certificate.js";
import { openNotice } from "../../src/records/notices.js";
import { PORTAL_CSP } from "../../src/service/portal-site.js";
import { createTestDeployment, type TestDeployment } from "../helpers/deployment.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

let env: TestDeployment;
let site: string;
let witnessKey: string;
const SECRET = "this file lies outside the site";
const SCRIPT = "console.log('portal');\n";

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly peer: X509Certificate | undefined;
}

function fetchTls(
  port: number,
  path: string,
  options: { ca: string; method?: string; body?: string; as?: Identity } = { ca: "" },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? (options.body === undefined ? "GET" : "POST"),
        ca: options.ca,
        agent: false,
        minVersion: "TLSv1.3",
        headers: options.body === undefined ? {} : { "content-type": "application/json" },
        ...(options.as
          ? {
              key: options.as.signingKey.export({ type: "pkcs8", format: "pem" }).toString(),
              cert: options.as.bundle.signingCertificate,
            }
          : {}),
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate();
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
            peer,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

function generatedPem(): string {
  return readFileSync(join(env.data, "portal", "cert.pem"), "utf8");
}

function portal(path: string, ca = generatedPem()): Promise<Reply> {
  return fetchTls(env.portalPort, path, { ca });
}

function api(who: string, path: string, body?: unknown): Promise<Reply> {
  return fetchTls(env.apiPort, path, {
    ca: env.bundles.get("node/n1")!.caCertificate,
    as: env.identity(who),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function printedFingerprint(): string | undefined {
  return /portal certificate SHA-256 SPKI \(base64\): (\S+)/.exec(env.output)?.[1];
}

function expectStrictHeaders(reply: Reply, what: string): void {
  expect(reply.headers["content-security-policy"], what).toBe(PORTAL_CSP);
  expect(reply.headers["x-content-type-options"], what).toBe("nosniff");
  expect(reply.headers["referrer-policy"], what).toBe("no-referrer");
  expect(reply.headers["strict-transport-security"], what).toMatch(/^max-age=\d+/);
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["admin", "adm"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["auditor", "A1"],
      ["auditor", "A2"],
      ["custodian", "privacy"],
    ],
    grants: [
      { auditor: "A1", patients: ["P1"] },
      { auditor: "A2", patients: ["P2"] },
    ],
  });
  site = join(env.root, "site");
  mkdirSync(join(site, "assets", "fonts"), { recursive: true });
  writeFileSync(
    join(site, "index.html"),
    '<!doctype html><script type="module" src="./assets/index-Ab12Cd34.js"></script>\n',
  );
  writeFileSync(join(site, "assets", "index-Ab12Cd34.js"), SCRIPT);
  writeFileSync(join(site, "assets", "index-Zy98Xw76.css"), "body{margin:0}\n");
  writeFileSync(join(site, "assets", "fonts", "inter-Qq11Rr22.woff2"), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  writeFileSync(join(site, "assets", "notes.txt"), "plain\n");
  writeFileSync(join(site, "assets", ".hidden"), SECRET);
  writeFileSync(join(env.root, "secret.txt"), SECRET);
  symlinkSync(join(env.root, "secret.txt"), join(site, "assets", "outside.js"));
  witnessKey = generateCosignerKey("witness.example/w1").verifierKey;
  // A witness nobody runs: the node keeps serving, and the page is told the policy all the same.
  await env.start(["--portal-site", site, "--witness", `https://127.0.0.1:9=${witnessKey}`]);
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

describe("the portal's certificate", () => {
  it("is a self-signed ECDSA P-256 certificate for the node's names, trusted as the only anchor", async () => {
    const reply = await portal("/");
    expect(reply.status).toBe(200);
    const peer = reply.peer!;
    expect(peer.publicKey.asymmetricKeyType).toBe("ec");
    expect(peer.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(peer.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(peer.subjectAltName).toContain("DNS:localhost");
    expect(peer.ca).toBe(false);
    expect(peer.issuer).toBe(peer.subject);
    expect(peer.verify(peer.publicKey)).toBe(true);
    // The deployment CA does not vouch for it: a client trusting only the CA refuses the connection.
    await expect(portal("/", env.bundles.get("node/n1")!.caCertificate)).rejects.toThrow();
  });

  it("prints the SHA-256 SPKI fingerprint the certificate really has", async () => {
    const peer = (await portal("/")).peer!;
    const spki = peer.publicKey.export({ type: "spki", format: "der" });
    const expected = createHash("sha256").update(spki).digest("base64");
    expect(printedFingerprint()).toBe(expected);
    expect(portalCertificateFingerprint(env.data)).toBe(expected);
    expect(spkiFingerprint(generatedPem())).toBe(expected);
  });

  it("keeps its private key sealed in the keystore, never in a file of its own", () => {
    expect(readdirSync(join(env.data, "portal"))).toEqual(["cert.pem"]);
    const keystore = readFileSync(join(env.data, "keystore.json"), "utf8");
    expect(keystore).toContain("portal-tls-key");
    for (const name of readdirSync(env.data, { recursive: true }) as string[]) {
      const path = join(env.data, name);
      if (statSync(path).isFile()) expect(readFileSync(path, "latin1"), name).not.toContain("PRIVATE KEY");
    }
  });

  it("leaves the API port on the deployment CA's Ed25519 certificate", async () => {
    const reply = await api("ehr-source/emr", "/v1/health");
    expect(reply.status).toBe(200);
    expect(reply.peer!.publicKey.asymmetricKeyType).toBe("ed25519");
    expect(reply.headers["content-security-policy"]).toBeUndefined();
  });
});

describe("the static site", () => {
  it("serves index.html uncached and hashed assets for good, with their content types", async () => {
    const index = await portal("/");
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.headers["cache-control"]).toBe("no-store");
    expect(index.text).toContain("index-Ab12Cd34.js");
    expectStrictHeaders(index, "/");

    const cases: [string, string, string][] = [
      ["/assets/index-Ab12Cd34.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"],
      ["/assets/index-Zy98Xw76.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable"],
      ["/assets/fonts/inter-Qq11Rr22.woff2", "font/woff2", "public, max-age=31536000, immutable"],
      ["/assets/notes.txt", "text/plain; charset=utf-8", "no-cache"],
    ];
    for (const [path, type, cache] of cases) {
      const reply = await portal(path);
      expect(reply.status, path).toBe(200);
      expect(reply.headers["content-type"], path).toBe(type);
      expect(reply.headers["cache-control"], path).toBe(cache);
      expectStrictHeaders(reply, path);
    }
    expect((await portal("/assets/index-Ab12Cd34.js")).text).toBe(SCRIPT);
  });

  it("puts the strict headers on API replies and errors of the portal port too", async () => {
    for (const path of ["/v1/health", "/portal/config.json", "/nowhere", "/v1/whoami"]) {
      expectStrictHeaders(await portal(path), path);
    }
  });

  it("refuses every path that leads outside assets/, or to a hidden file or a directory", async () => {
    const attempts = [
      "/assets/../secret.txt",
      "/assets/../../secret.txt",
      "/assets/%2e%2e/secret.txt",
      "/assets/%2E%2E%2Fsecret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/..%5csecret.txt",
      "/assets/fonts/../../../secret.txt",
      "/assets/%252e%252e/secret.txt",
      "/assets/.hidden",
      "/assets/outside.js",
      "/assets/fonts",
      "/assets/fonts/",
      "/assets/",
      "/assets/index-Ab12Cd34.js%00.txt",
      "/assets//etc/passwd",
      "/assets/%2fetc%2fpasswd",
      "/../secret.txt",
      "/index.html/../../secret.txt",
      `/assets/${"a/".repeat(40)}x.js`,
    ];
    for (const path of attempts) {
      const reply = await portal(path);
      // 404 under assets/; elsewhere no route matches, and without a login that is a 401 first.
      expect([400, 401, 404], `${path}: ${reply.status}`).toContain(reply.status);
      if (path.startsWith("/assets/")) expect(reply.status, path).not.toBe(200);
      expect(reply.text, path).not.toContain(SECRET);
      expectStrictHeaders(reply, path);
    }
  });
});

describe("GET /portal/config.json", () => {
  it("tells the page the deployment, the node, the log's key and the witness policy, with no login", async () => {
    const reply = await portal("/portal/config.json");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toMatch(/^application\/json/);
    const log = env.bundles.get("patient/P1")!.log!;
    expect(JSON.parse(reply.text)).toEqual({
      deployment: "stmary",
      node: "custos://stmary/node/n1",
      log: { origin: log.origin, verifierKey: log.verifierKey },
      witnesses: { keys: [witnessKey], quorum: 1 },
      // No DIR/portal.json: the deployment's own words (hospital, zone, contact) are not set.
      site: {},
    });
  });
});

describe("refused requests, for the audit companies granted the patient", () => {
  it("are readable by the granted company through /v1/audit/notices, and not by another", async () => {
    // A2 is granted P2 only: its request for P1's trail is refused and recorded for P1.
    const refused = await api("auditor/A2", "/v1/trail", { patientId: "P1" });
    expect(refused.status).toBe(403);

    const a1 = env.identity("auditor/A1");
    const opened = async () => {
      const reply = await api("auditor/A1", "/v1/audit/notices", {});
      expect(reply.status, reply.text).toBe(200);
      const body = JSON.parse(reply.text) as {
        checkpoint: string;
        consistency: unknown;
        items: { index: number; entry: string; content: string; proof: string[] }[];
      };
      return {
        body,
        notices: body.items.map((item) =>
          openNotice(
            { index: item.index, entry: fromBase64(item.entry), content: fromBase64(item.content) },
            a1.encryptionPrivateKey(),
          ),
        ),
      };
    };
    // Only what a signed checkpoint covers is served: wait for one over the refusal.
    let seen = await opened();
    for (let i = 0; i < 40 && seen.notices.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      seen = await opened();
    }
    expect(seen.body.checkpoint).toMatch(/^e2e\.custos\.example\/log\n\d+\n/);
    expect(seen.body.consistency).toBeNull();
    expect(seen.notices.length).toBe(1);
    expect(seen.notices[0]).toMatchObject({
      kind: "refusal",
      body: { requester: "custos://stmary/auditor/A2", operation: "read-trail", reason: "NOT_AUTHORIZED" },
    });
    expect(seen.body.items[0]!.proof.length).toBeGreaterThan(0);

    // A2 (not granted P1) gets no notice about P1; its own refusal does not reach it either.
    const other = await api("auditor/A2", "/v1/audit/notices", {});
    expect(other.status).toBe(200);
    const items = (JSON.parse(other.text) as { items: { index: number }[] }).items;
    expect(items.map((i) => i.index)).not.toContain(seen.body.items[0]!.index);
    expect(items).toEqual([]);

    // Not for patients, sources or admins; a consistency proof from the size a company trusted.
    for (const who of ["patient/P1", "ehr-source/emr", "admin/adm"]) {
      const reply = await api(who, "/v1/audit/notices", {});
      expect(reply.status, who).toBe(403);
      expect(JSON.parse(reply.text).error.code).toBe("NOT_AUTHORIZED");
    }
    const size = Number(seen.body.checkpoint.split("\n")[1]);
    const again = JSON.parse((await api("auditor/A1", "/v1/audit/notices", { trustedSize: 1 })).text);
    expect(again.consistency).toMatchObject({ from: 1 });
    expect(again.consistency.to).toBeGreaterThanOrEqual(size);
  });
});

describe("restarts and the operator's settings", () => {
  it("reuses the generated certificate across restarts", async () => {
    const before = generatedPem();
    const fingerprint = printedFingerprint();
    await env.stop();
    await env.start(["--portal-site", site]);
    expect(generatedPem()).toBe(before);
    expect(printedFingerprint()).toBe(fingerprint);
    const reply = await portal("/");
    expect(reply.status).toBe(200);
    // No witnesses: the page demands no cosignature.
    const config = JSON.parse((await portal("/portal/config.json")).text);
    expect(config.witnesses).toEqual({ keys: [], quorum: 0 });
  });

  it("answers 503 with a page saying to build when the site is missing", async () => {
    await env.stop();
    const empty = join(env.root, "no-site");
    mkdirSync(empty);
    await env.start(["--portal-site", empty]);
    const reply = await portal("/");
    expect(reply.status).toBe(503);
    expect(reply.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(reply.text).toContain("npm run build");
    expect(reply.text.trim().split("\n")).toHaveLength(1);
    expectStrictHeaders(reply, "/ without a site");
  });

  it("presents the operator's certificate with --portal-cert and --portal-key", async () => {
    await env.stop();
    const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "0badc0de",
      name: "CN=portal.hospital.example",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: "portal.hospital.example" },
          { type: "ip", value: "127.0.0.1" },
        ]),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
    const certFile = join(env.root, "operator-cert.pem");
    const keyFile = join(env.root, "operator-key.pem");
    writeFileSync(certFile, cert.toString("pem"));
    writeFileSync(keyFile, `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`, {
      mode: 0o600,
    });

    await env.start(["--portal-site", site, "--portal-cert", certFile, "--portal-key", keyFile]);
    const reply = await portal("/", cert.toString("pem"));
    expect(reply.status).toBe(200);
    expect(reply.peer!.subject).toContain("portal.hospital.example");
    expect(printedFingerprint()).toBe(spkiFingerprint(cert.toString("pem")));
    expect(printedFingerprint()).not.toBe(portalCertificateFingerprint(env.data));
    await env.stop();

    // A key that is not the certificate's, or one browsers do not take, stops the node at start.
    const stray = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    writeFileSync(keyFile, stray.export({ type: "pkcs8", format: "pem" }));
    await expect(env.start(["--portal-cert", certFile, "--portal-key", keyFile])).rejects.toThrow(
      /does not belong to the portal certificate/,
    );
    writeFileSync(
      keyFile,
      generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }),
    );
    await expect(env.start(["--portal-cert", certFile, "--portal-key", keyFile])).rejects.toThrow(
      /browsers need an ECDSA/,
    );
    await expect(env.start(["--portal-cert", certFile])).rejects.toThrow(/go together/);
  });

  it("refuses a quorum larger than the witnesses given", async () => {
    await expect(
      env.start(["--witness", `https://127.0.0.1:9=${witnessKey}`, "--quorum", "2"]),
    ).rejects.toThrow(/--quorum 2 is more than the 1 witness/);
  });
});
