import { execFileSync, spawnSync } from "node:child_process";
import { diffieHellman, sign, verify } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosError } from "../../src/core/errors.js";
import { EnvProvider, Keystore } from "../../src/crypto/keystore/index.js";
import { Identity, parseBundle, readBundle, writeBundle } from "../../src/identity/bundle.js";
import { DeploymentCa, freshKeyPair } from "../../src/identity/ca.js";
import { TrustAnchor } from "../../src/identity/trust.js";
import { tempDir } from "../helpers/temp.js";

const env = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") };
const PASS = "correct horse battery staple";
const FAST = 1000;

let root: { dir: string; cleanup: () => void };
let ca: DeploymentCa;
// The real time: OpenSSL checks the CRL's nextUpdate against the system clock (a fixed date here
// made the CRL expire a week after it was written).
const clock = Date.now();

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CustosError) return error.code;
    throw error;
  }
  return "OK";
}

function openssl(args: string[]): { status: number; output: string } {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

beforeAll(async () => {
  root = tempDir("custos-ca-");
  const keystore = await Keystore.create(
    join(root.dir, "keystore.json"),
    new EnvProvider("CUSTOS_MASTER_KEY", env),
  );
  ca = await DeploymentCa.init(root.dir, keystore, "stmary", () => clock);
});
afterAll(() => root.cleanup());

describe("the deployment CA", () => {
  it("makes fresh key pairs whose halves belong together, different every time", () => {
    const a = freshKeyPair("Ed25519");
    const b = freshKeyPair("Ed25519");
    expect(a.privateKey.asymmetricKeyType).toBe("ed25519");
    const message = Buffer.from("registry entry");
    expect(verify(null, message, a.publicKey, sign(null, message, a.privateKey))).toBe(true);
    expect(verify(null, message, b.publicKey, sign(null, message, a.privateKey))).toBe(false);
    const x = freshKeyPair("X25519");
    const y = freshKeyPair("X25519");
    expect(x.privateKey.asymmetricKeyType).toBe("x25519");
    const xy = diffieHellman({ privateKey: x.privateKey, publicKey: y.publicKey });
    expect(xy.equals(diffieHellman({ privateKey: y.privateKey, publicKey: x.publicKey }))).toBe(true);
    expect(xy.equals(Buffer.alloc(32))).toBe(false);
  });

  it("issues identity certificates that OpenSSL accepts, and a CRL that makes OpenSSL reject a revoked one", async () => {
    const issued = await ca.issue({ role: "patient", id: "P001", passphrase: PASS, kdfIterations: FAST });
    const caFile = join(root.dir, "ca", "ca.pem");
    const leaf = join(root.dir, "p1.pem");
    const enc = join(root.dir, "p1-enc.pem");
    writeFileSync(leaf, issued.bundle.signingCertificate);
    writeFileSync(enc, issued.bundle.encryptionCertificate);
    expect(openssl(["verify", "-CAfile", caFile, leaf])).toMatchObject({ status: 0 });
    expect(openssl(["verify", "-CAfile", caFile, enc])).toMatchObject({ status: 0 });
    const text = execFileSync("openssl", ["x509", "-in", leaf, "-noout", "-text"], { encoding: "utf8" });
    expect(text).toContain("URI:custos://stmary/patient/P001");
    expect(text).toContain("OU = patient");
    expect(text).toContain("TLS Web Client Authentication");
    const encText = execFileSync("openssl", ["x509", "-in", enc, "-noout", "-text"], { encoding: "utf8" });
    expect(encText).toContain("X25519");
    expect(encText).toContain("Key Agreement");

    const crlFile = join(root.dir, "ca", "crl.pem");
    const withCrl = ["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile];
    expect(openssl([...withCrl, leaf])).toMatchObject({ status: 0 });
    expect(await ca.revoke(issued.serials)).toHaveLength(2);
    const refused = openssl([...withCrl, leaf]);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain("certificate revoked");
    // The CRL itself is a well-formed X.509 v2 CRL naming the serial.
    const crlText = execFileSync("openssl", ["crl", "-in", crlFile, "-noout", "-text"], { encoding: "utf8" });
    expect(crlText.toLowerCase()).toContain(issued.serials[0]!.replace(/^0+/, "").slice(0, 8));
  });

  it("issues node TLS certificates naming DNS and IP hosts for servers", async () => {
    const issued = await ca.issue({
      role: "node",
      id: "node1",
      passphrase: PASS,
      hosts: ["audit.stmary.example", "127.0.0.1"],
      kdfIterations: FAST,
    });
    const file = join(root.dir, "node.pem");
    writeFileSync(file, issued.bundle.signingCertificate);
    const text = execFileSync("openssl", ["x509", "-in", file, "-noout", "-text"], { encoding: "utf8" });
    expect(text).toContain("DNS:audit.stmary.example");
    expect(text).toContain("IP Address:127.0.0.1");
    expect(text).toContain("TLS Web Server Authentication");
    expect(
      openssl(["verify", "-CAfile", join(root.dir, "ca", "ca.pem"), "-purpose", "sslserver", file]),
    ).toMatchObject({
      status: 0,
    });
  });
});

describe("identity bundles", () => {
  it("round-trip through a file; the keys open only with the passphrase, and OpenSSL reads them", async () => {
    const issued = await ca.issue({
      role: "auditor",
      id: "audit-co-1",
      passphrase: PASS,
      kdfIterations: FAST,
    });
    const path = join(root.dir, "auditor.custos-id");
    writeBundle(path, issued.bundle);
    const bundle = readBundle(path);
    const identity = Identity.unlock(bundle, PASS);
    expect(identity.uri).toBe("custos://stmary/auditor/audit-co-1");
    expect(Buffer.from(identity.signingPublicKey())).toEqual(Buffer.from(issued.signingPublicKey));
    expect(() => Identity.unlock(bundle, "not the passphrase")).toThrow(
      expect.objectContaining({ code: "BAD_PASSPHRASE" }),
    );
    const keyFile = join(root.dir, "auditor-key.pem");
    writeFileSync(keyFile, bundle.signingKey);
    const read = openssl(["pkey", "-in", keyFile, "-passin", `pass:${PASS}`, "-noout", "-text"]);
    expect(read.status).toBe(0);
    expect(read.output).toContain("ED25519 Private-Key");
    expect(openssl(["pkey", "-in", keyFile, "-passin", "pass:wrong-passphrase", "-noout"]).status).not.toBe(
      0,
    );
    expect(() => writeBundle(path, issued.bundle)).toThrow(expect.objectContaining({ code: "STORE_EXISTS" }));
  });

  it("refuses files that are not bundles, with a clear message", () => {
    expect(() => parseBundle("{")).toThrow(/not JSON/);
    expect(() => parseBundle(JSON.stringify({ format: "x" }))).toThrow(/not a Custos identity bundle/);
    const good = JSON.parse(readFileSync(join(root.dir, "auditor.custos-id"), "utf8"));
    expect(() => parseBundle(JSON.stringify({ ...good, id: "someone-else" }))).toThrow(/inconsistently/);
  });
});

describe("checking certificates against the CA", () => {
  it("gives each kind of bad certificate its own error code", async () => {
    const anchor = await ca.trustAnchor();
    const good = await ca.issue({ role: "ehr-source", id: "emr-1", passphrase: PASS, kdfIterations: FAST });
    const principal = await anchor.verify(good.bundle.signingCertificate, "signing", clock);
    expect(principal).toMatchObject({ role: "ehr-source", id: "emr-1", deployment: "stmary" });
    expect(await codeOf(anchor.verify(good.bundle.signingCertificate, "signing", clock - 10 * 60_000))).toBe(
      "CERT_NOT_YET_VALID",
    );
    expect(
      await codeOf(anchor.verify(good.bundle.signingCertificate, "signing", clock + 400 * 86_400_000)),
    ).toBe("CERT_EXPIRED");
    expect(await codeOf(anchor.verify(good.bundle.encryptionCertificate, "signing", clock))).toBe("BAD_KEY");
    expect(
      await codeOf(
        anchor.verify("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "signing", clock),
      ),
    ).toBe("BAD_CERTIFICATE");

    // Another deployment's CA: same shape, different key.
    const other = tempDir("custos-ca-other-");
    try {
      const ks = await Keystore.create(
        join(other.dir, "keystore.json"),
        new EnvProvider("CUSTOS_MASTER_KEY", env),
      );
      const otherCa = await DeploymentCa.init(other.dir, ks, "stmary", () => clock);
      const foreign = await otherCa.issue({
        role: "patient",
        id: "P001",
        passphrase: PASS,
        kdfIterations: FAST,
      });
      expect(await codeOf(anchor.verify(foreign.bundle.signingCertificate, "signing", clock))).toBe(
        "UNKNOWN_CA",
      );
      const renamed = tempDir("custos-ca-renamed-");
      const ks2 = await Keystore.create(
        join(renamed.dir, "keystore.json"),
        new EnvProvider("CUSTOS_MASTER_KEY", env),
      );
      await DeploymentCa.init(renamed.dir, ks2, "elsewhere", () => clock);
      renamed.cleanup();
    } finally {
      other.cleanup();
    }

    await ca.revoke(good.serials);
    const fresh = await ca.trustAnchor();
    expect(await codeOf(fresh.verify(good.bundle.signingCertificate, "signing", clock))).toBe("CERT_REVOKED");
    // A CRL not signed by the CA is refused outright.
    const crl = readFileSync(join(root.dir, "ca", "crl.pem"), "utf8");
    const tampered = crl.replace(/[A-Za-z](?=[A-Za-z0-9+/=]*\n-----END)/, (c) => (c === "A" ? "B" : "A"));
    expect(await codeOf(TrustAnchor.load(ca.caPem, tampered))).toMatch(/UNKNOWN_CA|BAD_CERTIFICATE/);
  });
});
