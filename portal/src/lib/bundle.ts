// Opens an identity bundle in the page with WebCrypto only. The bundle's keys are PKCS#8
// EncryptedPrivateKeyInfo with PBES2 (RFC 8018 6.2): PBKDF2-HMAC-SHA256 and AES-256-CBC, as
// src/identity/pkcs8.ts writes them. The Ed25519 signing key is imported non-extractable (sign only);
// the raw X25519 key is handed to the caller once, for the record opener, and never stored here.
// The passphrase and every decrypted buffer are dropped (buffers zeroed) before this returns.

import "reflect-metadata";
import { x25519 } from "@noble/curves/ed25519.js";
import { SubjectAlternativeNameExtension, X509Certificate } from "@peculiar/x509";
import { bytesEqual, fromBase64 } from "../../../src/core/bytes.js";
import { isRole, parseIdentityUri } from "../../../src/identity/roles.js";
import { readChildren, readDer, readOid, readSmallInteger, TAG } from "./der.js";
import { PortalError } from "./errors.js";

export const BUNDLE_FORMAT = "custos-identity-bundle";
/** A bundle is a few kilobytes; anything much larger is not one. */
const MAX_BUNDLE_CHARS = 64 * 1024;
/** Files record their own PBKDF2 count; beyond this a hostile file would only freeze the page. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;

const OID = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacSha256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  ed25519: "1.3.101.112",
  x25519: "1.3.101.110",
} as const;

/** The identity bundle file (src/identity/bundle.ts IdentityBundle), as the page reads it. */
export interface PortalBundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: 1;
  readonly deployment: string;
  readonly uri: string;
  readonly role: string;
  readonly id: string;
  /** Ed25519, encrypted PKCS#8 PEM. */
  readonly signingKey: string;
  /** X25519, encrypted PKCS#8 PEM. */
  readonly encryptionKey: string;
  readonly signingCertificate: string;
  readonly encryptionCertificate: string;
  readonly caCertificate: string;
  readonly log?: { readonly origin: string; readonly verifierKey: string };
}

/** The keys of an unlocked bundle. */
export interface UnlockedKeys {
  /** Ed25519, non-extractable, usable only to sign. */
  readonly signingKey: CryptoKey;
  /** The raw 32-byte X25519 private key (RFC 7748), for opening records; zero it when done. */
  readonly encryptionPrivateKey: Uint8Array;
}

const STRING_FIELDS = [
  "deployment",
  "uri",
  "role",
  "id",
  "signingKey",
  "encryptionKey",
  "signingCertificate",
  "encryptionCertificate",
  "caCertificate",
] as const;

const badBundle = (message: string) => new PortalError("BAD_BUNDLE", message);

const arrayView = (bytes: Uint8Array) => bytes as Uint8Array<ArrayBuffer>;

/** Parses the text of a bundle file; throws BAD_BUNDLE saying what is wrong. */
export function parseIdentityBundle(text: string): PortalBundle {
  if (typeof text !== "string" || text.length > MAX_BUNDLE_CHARS) {
    throw badBundle("This file is too large to be a Custos identity bundle.");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badBundle("This file is not a Custos identity bundle (it is not JSON).");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw badBundle("This file is not a Custos identity bundle.");
  }
  const fields = json as Record<string, unknown>;
  if (fields.format !== BUNDLE_FORMAT || fields.version !== 1) {
    throw badBundle("This file is not a Custos identity bundle (version 1).");
  }
  for (const field of STRING_FIELDS) {
    if (typeof fields[field] !== "string") throw badBundle(`The identity bundle has no ${field}.`);
  }
  const log = fields.log as { origin?: unknown; verifierKey?: unknown } | undefined;
  if (
    log !== undefined &&
    (typeof log !== "object" ||
      log === null ||
      typeof log.origin !== "string" ||
      typeof log.verifierKey !== "string")
  ) {
    throw badBundle("The identity bundle's log section is malformed.");
  }
  const role = fields.role as string;
  let name: { deployment: string; role: string; id: string };
  try {
    name = parseIdentityUri(fields.uri as string);
  } catch {
    throw badBundle("The identity bundle does not name a valid custos:// identity.");
  }
  if (!isRole(role) || name.role !== role || name.id !== fields.id || name.deployment !== fields.deployment) {
    throw badBundle("The identity bundle names its identity inconsistently.");
  }
  return {
    format: BUNDLE_FORMAT,
    version: 1,
    deployment: name.deployment,
    uri: fields.uri as string,
    role,
    id: name.id,
    signingKey: fields.signingKey as string,
    encryptionKey: fields.encryptionKey as string,
    signingCertificate: fields.signingCertificate as string,
    encryptionCertificate: fields.encryptionCertificate as string,
    caCertificate: fields.caCertificate as string,
    ...(log ? { log: { origin: log.origin as string, verifierKey: log.verifierKey as string } } : {}),
  };
}

function readCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw badBundle(`The identity bundle's ${what} is not a readable certificate.`);
  }
}

function certificateUris(cert: X509Certificate): string[] {
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  return san?.names.items.filter((n) => n.type === "url").map((n) => n.value) ?? [];
}

/** The raw public key of a certificate carrying an Ed25519 or X25519 key (RFC 8410 SPKI). */
function certificateKey(cert: X509Certificate, oid: string, what: string): Uint8Array {
  try {
    const spki = readDer(new Uint8Array(cert.publicKey.rawData), TAG.sequence);
    const [algorithm, key] = readChildren(spki, [TAG.sequence, 0x03]);
    const [algorithmOid] = readChildren(algorithm!, [TAG.oid]);
    if (readOid(algorithmOid!) !== oid || key!.value.length !== 33 || key!.value[0] !== 0) {
      throw new Error("unexpected key");
    }
    return key!.value.slice(1);
  } catch {
    throw badBundle(`The identity bundle's ${what} does not carry the expected key type.`);
  }
}

/** Validity of the bundle's certificates: throws CERT_EXPIRED / CERT_NOT_YET_VALID; returns the expiry (ms). */
export function checkBundleValidity(bundle: PortalBundle, now = Date.now()): { notAfter: number } {
  let notAfter = Number.POSITIVE_INFINITY;
  for (const [pem, what] of [
    [bundle.signingCertificate, "signing certificate"],
    [bundle.encryptionCertificate, "encryption certificate"],
  ] as const) {
    const cert = readCertificate(pem, what);
    const uris = certificateUris(cert);
    if (uris.length !== 1 || uris[0] !== bundle.uri) {
      throw badBundle(`The identity bundle's ${what} names another identity than the bundle.`);
    }
    if (now < cert.notBefore.getTime()) {
      throw new PortalError(
        "CERT_NOT_YET_VALID",
        `This identity is not valid until ${cert.notBefore.toISOString()}; check this device's clock.`,
      );
    }
    if (now > cert.notAfter.getTime()) {
      throw new PortalError(
        "CERT_EXPIRED",
        `This identity expired on ${cert.notAfter.toISOString()}; ask the deployment's administrator for a new one.`,
      );
    }
    notAfter = Math.min(notAfter, cert.notAfter.getTime());
  }
  return { notAfter };
}

function pemBody(pem: string, label: string, what: string): Uint8Array {
  const match = new RegExp(
    `^\\s*-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\r\\n]+)-----END ${label}-----\\s*$`,
  ).exec(pem);
  if (!match) throw badBundle(`The identity bundle's ${what} is not an encrypted PKCS#8 key.`);
  try {
    return fromBase64(match[1]!.replace(/\r?\n/g, ""));
  } catch {
    throw badBundle(`The identity bundle's ${what} is not valid base64.`);
  }
}

interface Pbes2 {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** EncryptedPrivateKeyInfo (RFC 5958 3) with PBES2 params (RFC 8018 A.2, A.4); nothing else accepted. */
function parseEncryptedKey(der: Uint8Array): Pbes2 {
  const info = readDer(der, TAG.sequence);
  const [algorithm, encrypted] = readChildren(info, [TAG.sequence, TAG.octetString]);
  const [pbes2Oid, pbes2Params] = readChildren(algorithm!, [TAG.oid, TAG.sequence]);
  if (readOid(pbes2Oid!) !== OID.pbes2) throw new Error("not PBES2");
  const [kdf, scheme] = readChildren(pbes2Params!, [TAG.sequence, TAG.sequence]);
  const [kdfOid, kdfParams] = readChildren(kdf!, [TAG.oid, TAG.sequence]);
  if (readOid(kdfOid!) !== OID.pbkdf2) throw new Error("not PBKDF2");
  const [salt, iterations, keyLength, prf] = readChildren(kdfParams!, [
    TAG.octetString,
    TAG.integer,
    TAG.integer,
    TAG.sequence,
  ]);
  const [prfOid, prfNull] = readChildren(prf!, [TAG.oid, TAG.null]);
  if (readOid(prfOid!) !== OID.hmacSha256 || prfNull!.value.length !== 0) throw new Error("not HMAC-SHA256");
  if (readSmallInteger(keyLength!) !== 32) throw new Error("not a 256-bit key");
  const [schemeOid, iv] = readChildren(scheme!, [TAG.oid, TAG.octetString]);
  if (readOid(schemeOid!) !== OID.aes256Cbc || iv!.value.length !== 16) throw new Error("not AES-256-CBC");
  const count = readSmallInteger(iterations!);
  if (count < 1 || count > MAX_PBKDF2_ITERATIONS) throw new Error("PBKDF2 iteration count out of range");
  if (salt!.value.length < 8 || salt!.value.length > 64) throw new Error("PBKDF2 salt length out of range");
  const ciphertext = encrypted!.value;
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0 || ciphertext.length > 4096) {
    throw new Error("ciphertext is not whole AES blocks");
  }
  return { salt: salt!.value, iterations: count, iv: iv!.value, ciphertext };
}

/** The raw private key of an RFC 8410 OneAsymmetricKey for `oid` (a CurvePrivateKey of 32 bytes). */
function rawPrivateKey(pkcs8: Uint8Array, oid: string): Uint8Array {
  const info = readDer(pkcs8, TAG.sequence);
  const children = readChildren(info, [TAG.integer, TAG.sequence, TAG.octetString]);
  const [version, algorithm, privateKey] = children;
  if (readSmallInteger(version!) !== 0) throw new Error("unexpected PKCS#8 version");
  const [algorithmOid] = readChildren(algorithm!, [TAG.oid]);
  if (readOid(algorithmOid!) !== oid) throw new Error("unexpected key algorithm");
  const inner = readDer(privateKey!.value, TAG.octetString);
  if (inner.value.length !== 32) throw new Error("unexpected private key length");
  return inner.value;
}

async function decryptKey(pem: string, passphrase: string, what: string): Promise<Uint8Array> {
  let params: Pbes2;
  try {
    params = parseEncryptedKey(pemBody(pem, "ENCRYPTED PRIVATE KEY", what));
  } catch (error) {
    if (error instanceof PortalError) throw error;
    throw badBundle(`The identity bundle's ${what} is not a PBES2-encrypted PKCS#8 key this portal reads.`);
  }
  const subtle = globalThis.crypto.subtle;
  // src/identity/pkcs8.ts normalizes to NFC before deriving; so must we, or accented passphrases fail.
  const secret = new TextEncoder().encode(passphrase.normalize("NFC"));
  let aesKey: CryptoKey;
  try {
    const base = await subtle.importKey("raw", secret, "PBKDF2", false, ["deriveKey"]);
    aesKey = await subtle.deriveKey(
      { name: "PBKDF2", salt: arrayView(params.salt), iterations: params.iterations, hash: "SHA-256" },
      base,
      { name: "AES-CBC", length: 256 },
      false,
      ["decrypt"],
    );
  } finally {
    secret.fill(0);
  }
  try {
    return new Uint8Array(
      await subtle.decrypt(
        { name: "AES-CBC", iv: arrayView(params.iv) },
        aesKey,
        arrayView(params.ciphertext),
      ),
    );
  } catch {
    // RFC 8018 6.2.2 step 4: bad padding is the usual sign of a wrong passphrase.
    throw wrongPassphrase();
  }
}

const wrongPassphrase = () =>
  new PortalError("BAD_PASSPHRASE", "The passphrase does not open this identity bundle.");

async function importSigningKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  try {
    rawPrivateKey(pkcs8, OID.ed25519);
  } catch {
    // A wrong passphrase that happens to pass the padding check yields garbage here (~1 in 256).
    throw wrongPassphrase();
  }
  try {
    return await globalThis.crypto.subtle.importKey("pkcs8", arrayView(pkcs8), { name: "Ed25519" }, false, [
      "sign",
    ]);
  } catch (error) {
    throw new PortalError(
      "UNSUPPORTED_BROWSER",
      "This browser cannot sign with Ed25519 keys; use a current Chromium, Firefox or Safari.",
      { cause: error },
    );
  }
}

/** Signs `message` with an unlocked identity's signing key (Ed25519, RFC 8032). */
export async function signMessage(key: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.sign({ name: "Ed25519" }, key, arrayView(message)));
}

async function checkSigningKey(key: CryptoKey, certificatePublicKey: Uint8Array): Promise<boolean> {
  const subtle = globalThis.crypto.subtle;
  const probe = new TextEncoder().encode("custos portal key check");
  const publicKey = await subtle.importKey(
    "raw",
    arrayView(certificatePublicKey),
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  return subtle.verify({ name: "Ed25519" }, publicKey, arrayView(await signMessage(key, probe)), probe);
}

/**
 * Unlocks a bundle's keys with its passphrase. Throws BAD_PASSPHRASE, BAD_BUNDLE (malformed, or
 * keys that do not match the certificates) or UNSUPPORTED_BROWSER. Keeps no reference to the
 * passphrase.
 */
export async function unlockBundle(bundle: PortalBundle, passphrase: string): Promise<UnlockedKeys> {
  const signingPublicKey = certificateKey(
    readCertificate(bundle.signingCertificate, "signing certificate"),
    OID.ed25519,
    "signing certificate",
  );
  const encryptionPublicKey = certificateKey(
    readCertificate(bundle.encryptionCertificate, "encryption certificate"),
    OID.x25519,
    "encryption certificate",
  );
  const signingDer = await decryptKey(bundle.signingKey, passphrase, "signing key");
  let signingKey: CryptoKey;
  try {
    signingKey = await importSigningKey(signingDer);
  } finally {
    signingDer.fill(0);
  }
  const encryptionDer = await decryptKey(bundle.encryptionKey, passphrase, "encryption key");
  let encryptionPrivateKey: Uint8Array;
  try {
    encryptionPrivateKey = rawPrivateKey(encryptionDer, OID.x25519).slice();
  } catch {
    throw wrongPassphrase();
  } finally {
    encryptionDer.fill(0);
  }
  if (!(await checkSigningKey(signingKey, signingPublicKey))) {
    encryptionPrivateKey.fill(0);
    throw badBundle("The identity bundle's signing key does not match its signing certificate.");
  }
  if (!bytesEqual(x25519.getPublicKey(encryptionPrivateKey), encryptionPublicKey)) {
    encryptionPrivateKey.fill(0);
    throw badBundle("The identity bundle's encryption key does not match its encryption certificate.");
  }
  return { signingKey, encryptionPrivateKey };
}
