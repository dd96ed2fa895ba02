// Node's runtime (package.json `imports` `#platform`, every condition but `browser`): node:crypto
// (OpenSSL) for hashes, HMAC, Ed25519, X25519 and AEAD, several times faster than pure JavaScript.
// The one module under src/core that imports `node:`; the browser bundle never reaches it.

import type { KeyObject } from "node:crypto";
import * as nodeCrypto from "node:crypto";
import { secretBytes } from "../bytes.js";
import { CustosError } from "../errors.js";
import { AEAD_TAG_BYTES, type CryptoBackend, checkX25519Raw, type PlatformRuntime } from "./types.js";

function view(bytes: Buffer | ArrayBuffer): Uint8Array {
  return bytes instanceof ArrayBuffer
    ? new Uint8Array(bytes)
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// crypto.hash (Node >= 20.12) is a one-shot digest, about 1.4x faster than createHash for small inputs.
type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: "buffer") => Buffer;
const oneShotHash = (nodeCrypto as { hash?: OneShotHash }).hash;

const sha256: (data: Uint8Array) => Uint8Array = oneShotHash
  ? (data) => view(oneShotHash("sha256", data, "buffer"))
  : (data) => view(nodeCrypto.createHash("sha256").update(data).digest());

function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const mac = nodeCrypto.createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return view(mac.digest());
}

// RFC 8410 DER prefixes that turn a raw Ed25519 seed / public key into PKCS#8 / SPKI for node:crypto.
const PKCS8_ED25519_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const SPKI_ED25519_PREFIX = new Uint8Array([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return nodeCrypto.createPrivateKey({
    key: concat2(PKCS8_ED25519_PREFIX, seed) as Buffer,
    format: "der",
    type: "pkcs8",
  });
}

function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  const spki = nodeCrypto.createPublicKey(ed25519PrivateKey(seed)).export({ format: "der", type: "spki" });
  return view(spki).slice(SPKI_ED25519_PREFIX.length);
}

function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return view(nodeCrypto.sign(null, message, ed25519PrivateKey(seed)));
}

function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = nodeCrypto.createPublicKey({
      key: concat2(SPKI_ED25519_PREFIX, publicKey) as Buffer,
      format: "der",
      type: "spki",
    });
    return nodeCrypto.verify(null, message, key, signature);
  } catch {
    return false;
  }
}

// RFC 5208/8410: PKCS#8 for an X25519 private key is this 16-byte prefix and the 32 raw bytes.
const PKCS8_X25519_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
// RFC 7748 5: the base point u = 9. X25519(k, 9) is k's public key, computed inside OpenSSL.
const X25519_BASE_POINT_JWK = "CQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/** generateKeyPairSync with only the public half encoded (JWK), which @types/node does not list. */
type GenerateWithJwkPublic = (
  type: "x25519",
  options: { publicKeyEncoding: { format: "jwk" } },
) => { privateKey: KeyObject; publicKey: { x?: string } };
const generateWithJwkPublic = nodeCrypto.generateKeyPairSync as unknown as GenerateWithJwkPublic;

// Private keys never pass through a string (JWK, base64) or Node's pooled Buffers: a raw key goes
// in as PKCS#8 DER built in unpooled memory that is zero-filled at once (OpenSSL keeps its own
// copy in the key object and clears it when the object is collected). Public keys go in as JWK,
// far cheaper than DER through OpenSSL 3's decoders.
function x25519FromRaw(raw: Uint8Array): KeyObject {
  checkX25519Raw(raw, "private");
  const der = Buffer.allocUnsafeSlow(48);
  try {
    der.set(PKCS8_X25519_PREFIX, 0);
    der.set(raw, 16);
    return nodeCrypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } finally {
    der.fill(0);
  }
}

function x25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return nodeCrypto.createPublicKey({
    key: {
      kty: "OKP",
      crv: "X25519",
      x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url"),
    },
    format: "jwk",
  });
}

function publicBytesOfJwk(x: string | undefined): Uint8Array {
  return checkX25519Raw(new Uint8Array(Buffer.from(x ?? "", "base64url")), "public");
}

const basePoint = nodeCrypto.createPublicKey({
  key: { kty: "OKP", crv: "X25519", x: X25519_BASE_POINT_JWK },
  format: "jwk",
});

// Read the public half by one scalar multiplication, never by an export of the key object: on
// Node 20 an export of a key made by generateKeyPairSync deadlocks the process once the garbage
// collector frees the key-generation job while the export holds the key's lock (seen under
// sustained HPKE sealing, see docs/postgres.md "Scale"; a regression test makes 30,000 keys).
const x25519PublicOf = (privateKey: KeyObject): Uint8Array =>
  view(nodeCrypto.diffieHellman({ privateKey, publicKey: basePoint }));

const backend: CryptoBackend = {
  name: "node",
  hmacSha256,
  x25519PrivateKey: (raw) => x25519FromRaw(raw),
  x25519PublicKey: (raw) => x25519PublicFromRaw(checkX25519Raw(raw, "public")),
  x25519PublicOf: (privateKey) => x25519PublicOf(privateKey as KeyObject),
  x25519Generate() {
    // Any 32 random bytes are an X25519 private key (RFC 7748 5 clamps them); unpooled memory.
    const rawPrivateKey = nodeCrypto.randomFillSync(secretBytes(32));
    return { publicKey: x25519PublicOf(x25519FromRaw(rawPrivateKey)), rawPrivateKey };
  },
  x25519Ephemeral() {
    // Made and used inside OpenSSL: the private half is never exported. The public half comes out
    // of the key-generation job itself (as JWK, the cheapest encoding measured): a separate export
    // of a generated key is what deadlocks Node 20 (see x25519PublicOf above).
    const pair = generateWithJwkPublic("x25519", { publicKeyEncoding: { format: "jwk" } });
    return { privateKey: pair.privateKey, publicKey: publicBytesOfJwk(pair.publicKey.x) };
  },
  x25519Release: () => undefined,
  x25519(privateKey, publicKey) {
    try {
      return view(
        nodeCrypto.diffieHellman({ privateKey: privateKey as KeyObject, publicKey: publicKey as KeyObject }),
      );
    } catch (error) {
      throw new CustosError("DECRYPTION_FAILED", "X25519 failed: the public key is invalid", {
        cause: error,
      });
    }
  },
  aeadSeal(cipher, key, nonce, aad, pt) {
    const cp = nodeCrypto.createCipheriv(cipher as "aes-256-gcm", key, nonce, {
      authTagLength: AEAD_TAG_BYTES,
    });
    cp.setAAD(aad, { plaintextLength: pt.length });
    return view(Buffer.concat([cp.update(pt), cp.final(), cp.getAuthTag()]));
  },
  aeadOpen(cipher, key, nonce, aad, ct) {
    if (ct.length < AEAD_TAG_BYTES) throw new CustosError("DECRYPTION_FAILED", "the ciphertext is truncated");
    const body = ct.subarray(0, ct.length - AEAD_TAG_BYTES);
    const d = nodeCrypto.createDecipheriv(cipher as "aes-256-gcm", key, nonce, {
      authTagLength: AEAD_TAG_BYTES,
    });
    d.setAAD(aad, { plaintextLength: body.length });
    d.setAuthTag(ct.subarray(ct.length - AEAD_TAG_BYTES));
    // update's output is unpooled (allocated by the native layer); GCM's final adds no bytes. No
    // Buffer.concat: it would copy the plaintext into Node's shared pool, never wiped.
    const plaintext = d.update(body);
    try {
      d.final();
    } catch (error) {
      plaintext.fill(0);
      throw error;
    }
    return view(plaintext);
  },
};

export const runtime: PlatformRuntime = {
  name: "node",
  sha256,
  hmacSha256,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  backend,
};
