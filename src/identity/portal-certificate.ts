// The portal port's TLS certificate. Browsers accept neither Ed25519 certificates nor the deployment
// CA, so the portal presents an ECDSA P-256 certificate: the operator's own (web PKI), or one the node
// makes once, self-signed, for the same DNS names and IP addresses as its node certificate. Users
// check a self-signed one by its SHA-256 SPKI fingerprint (printed at start, the form Chromium's
// `--ignore-certificate-errors-spki-list` takes).
//
//   DIR/portal/cert.pem         the generated certificate (public)
//   keystore "portal-tls-key"   its private key (PKCS #8), sealed under the master key like the CA's

import { createHash, createPrivateKey, createPublicKey, type KeyObject, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { CustosError, randomBytes } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import type { Keystore } from "../crypto/keystore/index.js";
import { certificatePem, EKU_SERVER_AUTH, parseCertificate, x509 } from "./x509.js";

export const PORTAL_KEY_SECRET = "portal-tls-key";
export const PORTAL_CERT_FILE = join("portal", "cert.pem");
const DAY = 86_400_000;
/** Within the 398 days browsers allow a server certificate, should one ever be added to a trust store. */
const VALIDITY_DAYS = 397;
/** A generated certificate this close to its end is replaced at start (and the new fingerprint printed). */
const RENEW_DAYS = 30;
const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface PortalTls {
  /** The certificate chain, leaf first (PEM). */
  readonly cert: string;
  /** The leaf's private key (PKCS #8 PEM); held in memory only. */
  readonly key: string;
  /** base64(SHA-256(leaf SubjectPublicKeyInfo)). */
  readonly fingerprint: string;
  /** Where it came from: made by this node (and whether just now), or the operator's files. */
  readonly source: "generated" | "reused" | "operator";
}

function leafOf(pem: string): x509.X509Certificate {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!match)
    throw new CustosError("BAD_CERTIFICATE", "the portal certificate file holds no PEM certificate");
  return parseCertificate(match[0], "portal certificate");
}

function spkiOf(cert: x509.X509Certificate): Uint8Array {
  return new Uint8Array(cert.publicKey.rawData);
}

/** base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in a PEM (Chromium's SPKI pin form). */
export function spkiFingerprint(certificatePemText: string): string {
  return createHash("sha256")
    .update(spkiOf(leafOf(certificatePemText)))
    .digest("base64");
}

/** The fingerprint of the portal certificate a node generated in its data directory. */
export function portalCertificateFingerprint(dataDir: string): string {
  const path = join(dataDir, PORTAL_CERT_FILE);
  if (!existsSync(path)) {
    throw new CustosError("NOT_FOUND", `no generated portal certificate in ${dataDir}; start the node once`);
  }
  return spkiFingerprint(readFileSync(path, "utf8"));
}

/** The DNS names and IP addresses in a certificate's subjectAltName. */
export function serverNames(certificatePemText: string): string[] {
  const san = leafOf(certificatePemText).getExtension(x509.SubjectAlternativeNameExtension);
  const names: string[] = [];
  for (const name of san?.names.items ?? []) {
    if (name.type === "dns" || name.type === "ip") names.push(name.value);
  }
  return names;
}

function sameSpki(key: KeyObject, cert: x509.X509Certificate): boolean {
  const der = createPublicKey(key).export({ type: "spki", format: "der" });
  return Buffer.from(spkiOf(cert)).equals(der);
}

async function generate(names: readonly string[], now: number): Promise<{ cert: string; pkcs8: Uint8Array }> {
  const keys = (await webcrypto.subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString("hex"),
    name: `CN=${names[0] ?? "localhost"}, O=Custos portal`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALIDITY_DAYS * DAY),
    keys,
    signingAlgorithm: P256,
    extensions: [
      // An end-entity certificate: Firefox refuses a CA certificate used as a server's.
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([EKU_SERVER_AUTH], false),
      new x509.SubjectAlternativeNameExtension(
        names.map(
          (n): x509.JsonGeneralName => (isIP(n) ? { type: "ip", value: n } : { type: "dns", value: n }),
        ),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: certificatePem(certificate), pkcs8 };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const norm = (list: readonly string[]) => [...new Set(list.map((n) => n.toLowerCase()))].sort().join("\n");
  return norm(a) === norm(b);
}

/**
 * The node's own portal certificate: the one kept in the data directory when it is still good for the
 * given names, else a new one (the private key sealed in the keystore). Never logs the key.
 */
export async function ensurePortalCertificate(
  dataDir: string,
  keystore: Keystore,
  names: readonly string[],
  now: () => number = Date.now,
): Promise<PortalTls> {
  if (names.length === 0) {
    throw new CustosError("CONFIG", "the node certificate names no DNS name or IP address for the portal");
  }
  const path = join(dataDir, PORTAL_CERT_FILE);
  if (existsSync(path) && keystore.has(PORTAL_KEY_SECRET)) {
    const pem = readFileSync(path, "utf8");
    const cert = leafOf(pem);
    const secret = keystore.get(PORTAL_KEY_SECRET);
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.from(secret), format: "der", type: "pkcs8" });
    } finally {
      secret.fill(0);
    }
    const fresh = cert.notAfter.getTime() - now() > RENEW_DAYS * DAY && cert.notBefore.getTime() <= now();
    if (fresh && sameSpki(key, cert) && sameNames(serverNames(pem), names)) {
      return {
        cert: pem,
        key: key.export({ type: "pkcs8", format: "pem" }).toString(),
        fingerprint: spkiFingerprint(pem),
        source: "reused",
      };
    }
  }
  const made = await generate(names, now());
  try {
    // The key first: a certificate on disk without its key would be replaced at the next start anyway.
    await keystore.set(PORTAL_KEY_SECRET, made.pkcs8);
    mkdirSync(join(dataDir, "portal"), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, made.cert, { mode: 0o644 });
    const key = createPrivateKey({ key: Buffer.from(made.pkcs8), format: "der", type: "pkcs8" });
    return {
      cert: made.cert,
      key: key.export({ type: "pkcs8", format: "pem" }).toString(),
      fingerprint: spkiFingerprint(made.cert),
      source: "generated",
    };
  } finally {
    made.pkcs8.fill(0);
  }
}

/**
 * An operator's own certificate (chain, leaf first) and unencrypted private key, as PEM text. The key
 * must match the leaf and be one browsers accept (ECDSA or RSA, not Ed25519).
 */
export function operatorPortalCertificate(certPem: string, keyPem: string): PortalTls {
  const leaf = leafOf(certPem);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new CustosError(
      "BAD_KEY",
      "the portal key is not a readable unencrypted PEM private key (PKCS #8, SEC1 or PKCS #1)",
    );
  }
  const type = key.asymmetricKeyType;
  if (type !== "ec" && type !== "rsa" && type !== "rsa-pss") {
    throw new CustosError(
      "BAD_KEY",
      `the portal key is ${type ?? "of an unknown type"}; browsers need an ECDSA (P-256) or RSA certificate`,
    );
  }
  if (!sameSpki(key, leaf)) {
    throw new CustosError("BAD_KEY", "the portal key does not belong to the portal certificate");
  }
  return {
    cert: certPem,
    key: key.export({ type: "pkcs8", format: "pem" }).toString(),
    fingerprint: spkiFingerprint(certPem),
    source: "operator",
  };
}
