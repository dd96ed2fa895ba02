// Enrollment with keys the holder made itself (docs/identity.md#enrollment-requests): the holder keeps
// its private keys and sends only a request, like a CSR: its role and ID, its Ed25519 signing and X25519
// encryption public keys, signed with the new signing key. The signature proves possession of the
// signing key and binds the encryption key to it (an X25519 key cannot sign; a wrong one harms only its
// holder, who could not open what is sealed to it). The admin submits the request; the node's CA
// certifies both keys, and the holder joins the certificates to its keys into a bundle.

import { createPublicKey, type KeyObject, sign } from "node:crypto";
import { CustosError, ed25519Verify, fromBase64, toBase64, utf8 } from "../core/index.js";
import { ENROLLMENT_REQUEST_FORMAT } from "../core/wire/index.js";
import { type IdentityBundle, makeBundle } from "./bundle.js";
import { freshKeyPair, rawPublic } from "./ca.js";
import { decryptPrivateKey, encryptPrivateKey } from "./pkcs8.js";
import { checkDeployment, checkId, checkRole, identityUri, type Role } from "./roles.js";

export const REQUEST_FORMAT = ENROLLMENT_REQUEST_FORMAT;
export const KEYS_FORMAT = "custos-enrollment-keys";
/** A request is signed at most this long before it is submitted (and at most 5 minutes ahead). */
export const REQUEST_VALIDITY_MS = 30 * 86_400_000;

/** What the holder sends to its admin: public keys and a signature, nothing secret. */
export interface EnrollmentRequest {
  readonly format: typeof REQUEST_FORMAT;
  readonly version: 1;
  readonly deployment: string;
  readonly role: Role;
  readonly id: string;
  /** Raw Ed25519 public key, base64. */
  readonly signingKey: string;
  /** Raw X25519 public key, base64. */
  readonly encryptionKey: string;
  /** When it was made (ms since 1970). */
  readonly createdAt: number;
  /** Ed25519 over requestMessage(), with the signing key above, base64. */
  readonly signature: string;
}

/** What the holder keeps: its two private keys, encrypted under its passphrase like a bundle's. */
export interface EnrollmentKeys {
  readonly format: typeof KEYS_FORMAT;
  readonly version: 1;
  readonly deployment: string;
  readonly role: Role;
  readonly id: string;
  readonly signingKey: string;
  readonly encryptionKey: string;
}

/** The node's answer to a request: the certificates for the holder's keys. */
export interface EnrollmentCertificates {
  readonly uri: string;
  readonly signingCertificate: string;
  readonly encryptionCertificate: string;
  readonly caCertificate: string;
  readonly log?: { readonly origin: string; readonly verifierKey: string };
}

/** The exact bytes the request's signature covers (one field per line, fixed order). */
export function requestMessage(
  request: Omit<EnrollmentRequest, "signature" | "format" | "version">,
): Uint8Array {
  return utf8(
    `custos-enrollment-request-v1\n${request.deployment}\n${request.role}\n${request.id}\n${request.signingKey}\n${request.encryptionKey}\n${request.createdAt}\n`,
  );
}

/** Makes the holder's keys and the signed request for them. */
export function createEnrollmentRequest(
  name: { deployment: string; role: Role; id: string },
  passphrase: string,
  now: number = Date.now(),
  kdfIterations?: number,
): { request: EnrollmentRequest; keys: EnrollmentKeys } {
  checkDeployment(name.deployment);
  checkRole(name.role);
  checkId(name.id);
  const signing = freshKeyPair("Ed25519");
  const encryption = freshKeyPair("X25519");
  const body = {
    deployment: name.deployment,
    role: name.role,
    id: name.id,
    signingKey: toBase64(rawPublic(signing.publicKey)),
    encryptionKey: toBase64(rawPublic(encryption.publicKey)),
    createdAt: now,
  };
  const signature = new Uint8Array(sign(null, requestMessage(body), signing.privateKey));
  const options = kdfIterations ? { iterations: kdfIterations } : {};
  return {
    request: { format: REQUEST_FORMAT, version: 1, ...body, signature: toBase64(signature) },
    keys: {
      format: KEYS_FORMAT,
      version: 1,
      deployment: name.deployment,
      role: name.role,
      id: name.id,
      signingKey: encryptPrivateKey(signing.privateKey, passphrase, options),
      encryptionKey: encryptPrivateKey(encryption.privateKey, passphrase, options),
    },
  };
}

function rawKey(text: string, what: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(text);
  } catch {
    throw new CustosError("BAD_KEY", `the request's ${what} is not canonical base64`);
  }
  if (bytes.length !== 32) throw new CustosError("BAD_KEY", `the request's ${what} is not 32 bytes`);
  return bytes;
}

/** A raw 32-byte public key as a KeyObject (SPKI: the fixed OKP prefix, RFC 8410 section 4). */
function publicKeyObject(raw: Uint8Array, curve: "ed25519" | "x25519"): KeyObject {
  const prefix = curve === "ed25519" ? "302a300506032b6570032100" : "302a300506032b656e032100";
  return createPublicKey({
    key: Buffer.concat([Buffer.from(prefix, "hex"), Buffer.from(raw)]),
    format: "der",
    type: "spki",
  });
}

/**
 * Checks a request for this deployment: its shape, its age, and its signature by the signing key it
 * carries (proof of possession). Returns the two public keys to certify.
 */
export function verifyEnrollmentRequest(
  request: EnrollmentRequest,
  deployment: string,
  now: number,
): { signingKey: KeyObject; encryptionKey: KeyObject } {
  if (request.format !== REQUEST_FORMAT || request.version !== 1)
    throw new CustosError("BAD_ARGUMENT", "not a custos enrollment request (version 1)");
  if (request.deployment !== deployment)
    throw new CustosError(
      "WRONG_DEPLOYMENT",
      `the request is for deployment "${request.deployment}", not "${deployment}"`,
    );
  checkRole(request.role);
  checkId(request.id);
  if (
    !Number.isSafeInteger(request.createdAt) ||
    request.createdAt > now + 5 * 60_000 ||
    request.createdAt < now - REQUEST_VALIDITY_MS
  )
    throw new CustosError("BAD_ARGUMENT", "the request was made more than 30 days ago or in the future");
  const signingRaw = rawKey(request.signingKey, "signing key");
  const encryptionRaw = rawKey(request.encryptionKey, "encryption key");
  let signature: Uint8Array;
  try {
    signature = fromBase64(request.signature);
  } catch {
    throw new CustosError("BAD_SIGNATURE", "the request's signature is not canonical base64");
  }
  if (signature.length !== 64 || !ed25519Verify(signingRaw, requestMessage(request), signature))
    throw new CustosError("BAD_SIGNATURE", "the request is not signed by the signing key it carries");
  return {
    signingKey: publicKeyObject(signingRaw, "ed25519"),
    encryptionKey: publicKeyObject(encryptionRaw, "x25519"),
  };
}

/** Joins the holder's keys and the node's certificates into an identity bundle. */
export function completeBundle(
  keys: EnrollmentKeys,
  certificates: EnrollmentCertificates,
  passphrase: string,
): IdentityBundle {
  if (keys.format !== KEYS_FORMAT || keys.version !== 1)
    throw new CustosError("BAD_ARGUMENT", "not a custos enrollment keys file (version 1)");
  const uri = identityUri({ deployment: keys.deployment, role: keys.role, id: keys.id });
  if (certificates.uri !== uri)
    throw new CustosError("BAD_ARGUMENT", `the certificates are for ${certificates.uri}, not ${uri}`);
  const signingKey = decryptPrivateKey(keys.signingKey, passphrase, "the signing key");
  const encryptionKey = decryptPrivateKey(keys.encryptionKey, passphrase, "the encryption key");
  const certified = (pem: string) => rawPublic(createPublicKey(pem));
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  if (
    !same(certified(certificates.signingCertificate), rawPublic(signingKey)) ||
    !same(certified(certificates.encryptionCertificate), rawPublic(encryptionKey))
  )
    throw new CustosError("BAD_CERTIFICATE", "the certificates are not for the keys in this keys file");
  return makeBundle({
    deployment: keys.deployment,
    uri,
    role: keys.role,
    id: keys.id,
    signingKey,
    encryptionKey,
    signingCertificate: certificates.signingCertificate,
    encryptionCertificate: certificates.encryptionCertificate,
    caCertificate: certificates.caCertificate,
    passphrase,
    ...(certificates.log ? { log: certificates.log } : {}),
  });
}
