import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkBundleValidity,
  parseIdentityBundle,
  signMessage,
  unlockBundle,
} from "../../portal/src/lib/bundle.js";
import { ed25519Verify } from "../../src/core/platform.js";
import { Identity, type IdentityBundle, makeBundle } from "../../src/identity/bundle.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
    return "OK";
  } catch (error) {
    return (error as { code: string }).code;
  }
}

/** Flips one base64 character inside the PEM body (not the armour), keeping it valid base64. */
function tamperPem(pem: string, at: number): string {
  const lines = pem.split("\n");
  const body = lines[1]!;
  const c = body[at]!;
  lines[1] = body.slice(0, at) + (c === "A" ? "B" : "A") + body.slice(at + 1);
  return lines.join("\n");
}

describe("identity bundle in the page (WebCrypto)", () => {
  let deployment: TestDeployment;
  let bundle: IdentityBundle;
  let text: string;

  beforeAll(async () => {
    deployment = await createTestDeployment({ people: [["patient", "P001"]] });
    bundle = deployment.bundles.get("patient/P001")!;
    text = JSON.stringify(bundle, null, 2);
  }, 60_000);
  afterAll(() => deployment?.cleanup());

  it("unlocks a real enrolled bundle: a non-extractable Ed25519 key and the X25519 key node:crypto opens", async () => {
    const parsed = parseIdentityBundle(text);
    expect(parsed.uri).toBe("custos://stmary/patient/P001");
    const keys = await unlockBundle(parsed, PASS);
    expect(keys.signingKey.extractable).toBe(false);
    expect(keys.signingKey.usages).toEqual(["sign"]);
    await expect(globalThis.crypto.subtle.exportKey("pkcs8", keys.signingKey)).rejects.toThrow();
    await expect(globalThis.crypto.subtle.exportKey("jwk", keys.signingKey)).rejects.toThrow();

    const identity = Identity.unlock(bundle, PASS);
    expect(Buffer.from(keys.encryptionPrivateKey)).toEqual(Buffer.from(identity.encryptionPrivateKey()));
    const message = new TextEncoder().encode("a message");
    const signature = await signMessage(keys.signingKey, message);
    expect(ed25519Verify(identity.signingPublicKey(), message, signature)).toBe(true);
  });

  it("refuses a wrong passphrase with BAD_PASSPHRASE", async () => {
    const parsed = parseIdentityBundle(text);
    expect(await codeOf(() => unlockBundle(parsed, "not the passphrase"))).toBe("BAD_PASSPHRASE");
    expect(await codeOf(() => unlockBundle(parsed, ""))).toBe("BAD_PASSPHRASE");
  });

  it("refuses a tampered key: the ciphertext (wrong passphrase or garbage) or its parameters (BAD_BUNDLE)", async () => {
    const parsed = parseIdentityBundle(text);
    const body = parsed.signingKey.split("\n")[1]!;
    // The last line of base64 holds ciphertext: a flipped block garbles the padding or the key.
    const lines = parsed.signingKey.split("\n");
    const last = lines.length - 3;
    const cipherTampered = [...lines];
    const c = lines[last]![4]!;
    cipherTampered[last] = lines[last]!.slice(0, 4) + (c === "A" ? "B" : "A") + lines[last]!.slice(5);
    expect(
      await codeOf(() => unlockBundle({ ...parsed, signingKey: cipherTampered.join("\n") }, PASS)),
    ).toMatch(/^(BAD_PASSPHRASE|BAD_BUNDLE)$/);
    // The first bytes are the DER header and the PBES2 OIDs: any change there is not a bundle key.
    expect(
      await codeOf(() => unlockBundle({ ...parsed, signingKey: tamperPem(parsed.signingKey, 2) }, PASS)),
    ).toBe("BAD_BUNDLE");
    expect(body.length).toBe(64);
    expect(await codeOf(() => unlockBundle({ ...parsed, signingKey: "not a key" }, PASS))).toBe("BAD_BUNDLE");
    // Each key swapped for the other: the types are checked, nothing is imported.
    expect(
      await codeOf(() =>
        unlockBundle({ ...parsed, signingKey: parsed.encryptionKey, encryptionKey: parsed.signingKey }, PASS),
      ),
    ).toMatch(/^(BAD_PASSPHRASE|BAD_BUNDLE)$/);
  });

  it("refuses keys that do not match the bundle's certificates", async () => {
    const parsed = parseIdentityBundle(text);
    const other = makeBundle({
      deployment: "stmary",
      uri: parsed.uri,
      role: "patient",
      id: "P001",
      signingKey: generateKeyPairSync("ed25519").privateKey,
      encryptionKey: generateKeyPairSync("x25519").privateKey,
      signingCertificate: parsed.signingCertificate,
      encryptionCertificate: parsed.encryptionCertificate,
      caCertificate: parsed.caCertificate,
      passphrase: PASS,
      kdfIterations: 1000,
    });
    expect(await codeOf(() => unlockBundle({ ...parsed, signingKey: other.signingKey }, PASS))).toBe(
      "BAD_BUNDLE",
    );
    expect(await codeOf(() => unlockBundle({ ...parsed, encryptionKey: other.encryptionKey }, PASS))).toBe(
      "BAD_BUNDLE",
    );
  });

  it("refuses files that are not bundles, and bundles naming themselves inconsistently", () => {
    expect(() => parseIdentityBundle("not json")).toThrow(expect.objectContaining({ code: "BAD_BUNDLE" }));
    expect(() => parseIdentityBundle("[]")).toThrow(expect.objectContaining({ code: "BAD_BUNDLE" }));
    expect(() => parseIdentityBundle(JSON.stringify({ ...bundle, format: "x" }))).toThrow(
      expect.objectContaining({ code: "BAD_BUNDLE" }),
    );
    expect(() => parseIdentityBundle(JSON.stringify({ ...bundle, id: "P002" }))).toThrow(
      expect.objectContaining({ code: "BAD_BUNDLE" }),
    );
    expect(() => parseIdentityBundle(JSON.stringify({ ...bundle, signingKey: 1 }))).toThrow(
      expect.objectContaining({ code: "BAD_BUNDLE" }),
    );
    expect(() => parseIdentityBundle(JSON.stringify({ ...bundle, log: { origin: 1 } }))).toThrow(
      expect.objectContaining({ code: "BAD_BUNDLE" }),
    );
    expect(() => parseIdentityBundle(" ".repeat(70_000))).toThrow(
      expect.objectContaining({ code: "BAD_BUNDLE" }),
    );
  });

  it("reads the certificates' validity: CERT_EXPIRED after notAfter, CERT_NOT_YET_VALID before notBefore", () => {
    const parsed = parseIdentityBundle(text);
    const { notAfter } = checkBundleValidity(parsed);
    expect(notAfter).toBeGreaterThan(Date.now());
    expect(() => checkBundleValidity(parsed, notAfter + 1000)).toThrow(
      expect.objectContaining({ code: "CERT_EXPIRED" }),
    );
    expect(() => checkBundleValidity(parsed, 0)).toThrow(
      expect.objectContaining({ code: "CERT_NOT_YET_VALID" }),
    );
  });

  it("unlocks the same identity re-encrypted with the default 600,000 iterations and a Unicode passphrase", async () => {
    const identity = Identity.unlock(bundle, PASS);
    const passphrase = "cafe\u0301 au lait, s'il vous plaît"; // NFD: both sides normalize to NFC
    const slow = makeBundle({
      ...bundle,
      signingKey: identity.signingKey,
      encryptionKey: identity.encryptionKey,
      passphrase,
    });
    expect(slow.signingKey).not.toBe(bundle.signingKey);
    const keys = await unlockBundle(parseIdentityBundle(JSON.stringify(slow)), passphrase.normalize("NFC"));
    expect(Buffer.from(keys.encryptionPrivateKey)).toEqual(Buffer.from(identity.encryptionPrivateKey()));
  }, 30_000);
});
