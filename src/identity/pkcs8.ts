// Private keys at rest in an identity bundle: PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018):
// PBKDF2-HMAC-SHA256 (600,000 iterations, 16-byte salt) and AES-256-CBC. That is what OpenSSL, Node
// and WebCrypto all read, so the CLI, the SDK and the browser portal open the same file. Decryption
// is node:crypto's own (createPrivateKey with a passphrase).

import { createCipheriv, createPrivateKey, type KeyObject, pbkdf2Sync, randomBytes } from "node:crypto";
import { CustosError } from "../core/index.js";
import { derInteger, derNull, derOctetString, derOid, derSequence } from "./der.js";

const OID_PBES2 = "1.2.840.113549.1.5.13";
const OID_PBKDF2 = "1.2.840.113549.1.5.12";
const OID_HMAC_SHA256 = "1.2.840.113549.2.9";
const OID_AES256_CBC = "2.16.840.1.101.3.4.1.42";

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export const PBKDF2_ITERATIONS = 600_000;

export interface EncryptOptions {
  /** Only for tests that create many bundles; files always record their own count. */
  readonly iterations?: number;
}

export function encryptPrivateKey(key: KeyObject, passphrase: string, options: EncryptOptions = {}): string {
  if (passphrase.length < 8) {
    throw new CustosError("BAD_PASSPHRASE", "a bundle passphrase must be at least 8 characters");
  }
  const iterations = options.iterations ?? PBKDF2_ITERATIONS;
  const plain = key.export({ type: "pkcs8", format: "der" });
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const derived = pbkdf2Sync(passphrase.normalize("NFC"), salt, iterations, 32, "sha256");
  const cipher = createCipheriv("aes-256-cbc", derived, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  derived.fill(0);
  const der = derSequence(
    derSequence(
      derOid(OID_PBES2),
      derSequence(
        derSequence(
          derOid(OID_PBKDF2),
          derSequence(
            derOctetString(salt),
            derInteger(iterations),
            derInteger(32),
            derSequence(derOid(OID_HMAC_SHA256), derNull()),
          ),
        ),
        derSequence(derOid(OID_AES256_CBC), derOctetString(iv)),
      ),
    ),
    derOctetString(encrypted),
  );
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${b64.trimEnd()}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
}

export function decryptPrivateKey(pem: string, passphrase: string, what: string): KeyObject {
  if (!pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
    throw new CustosError("BAD_KEY", `${what} is not an encrypted PKCS#8 key`);
  }
  try {
    return createPrivateKey({ key: pem, format: "pem", passphrase: passphrase.normalize("NFC") });
  } catch {
    // A wrong passphrase yields a bad-decrypt or a garbled key; both mean the same to the user.
    throw new CustosError("BAD_PASSPHRASE", `the passphrase does not open ${what}`);
  }
}
