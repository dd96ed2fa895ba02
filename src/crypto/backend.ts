// The primitives HPKE and record encryption are built on, from one of two vetted sources: node:crypto
// (OpenSSL, fast) on Node, and the audited @noble libraries in the browser portal, where node:crypto
// does not exist. Node is detected at run time (process.getBuiltinModule, Node >= 20.16), so this
// module has no `node:` import and bundles for the browser unchanged. Both backends pass the same
// published vectors (RFC 9180 appendix A, NIST GCM) in the tests.

import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { secretBytes } from "../core/bytes.js";
import { CustosError } from "../core/errors.js";

export type AeadCipher = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

/** An X25519 key prepared for repeated use (a KeyObject on Node, the raw bytes elsewhere). */
export type X25519Handle = { readonly __x25519: unique symbol } | object;

export interface CryptoBackend {
  readonly name: "node" | "noble";
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** Prepares a raw private key; the caller still owns (and wipes) `raw`. */
  x25519PrivateKey(raw: Uint8Array): X25519Handle;
  x25519PublicKey(raw: Uint8Array): X25519Handle;
  /** The raw public key of a prepared private key. */
  x25519PublicOf(privateKey: X25519Handle): Uint8Array;
  /** A long-term key pair whose raw private half the caller stores (and wipes when done). */
  x25519Generate(): { publicKey: Uint8Array; rawPrivateKey: Uint8Array };
  /**
   * A one-use key pair (an HPKE sender's ephemeral key): the private half never leaves the backend
   * as bytes where the backend can avoid it (inside OpenSSL on Node). Pass it to x25519Release after use.
   */
  x25519Ephemeral(): { privateKey: X25519Handle; publicKey: Uint8Array };
  /** Wipes what can be wiped of a private key handle no longer needed. */
  x25519Release(privateKey: X25519Handle): void;
  /** The raw X25519 shared secret; throws on an invalid public key. */
  x25519(privateKey: X25519Handle, publicKey: X25519Handle): Uint8Array;
  /** Ciphertext with the 16-byte tag appended. */
  aeadSeal(
    cipher: AeadCipher,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    pt: Uint8Array,
  ): Uint8Array;
  /** Throws on any authentication failure; never returns unauthenticated bytes. */
  aeadOpen(
    cipher: AeadCipher,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ct: Uint8Array,
  ): Uint8Array;
}

const TAG_BYTES = 16;

function checkRaw(raw: Uint8Array, what: string): Uint8Array {
  if (raw.length !== 32) throw new CustosError("BAD_KEY", `an X25519 ${what} key is 32 bytes`);
  return raw;
}

/** @noble/curves, @noble/hashes and @noble/ciphers: pure JavaScript, for the browser. */
export const nobleBackend: CryptoBackend = {
  name: "noble",
  hmacSha256(key, ...parts) {
    const mac = hmac.create(sha256, key);
    for (const part of parts) mac.update(part);
    return mac.digest();
  },
  x25519PrivateKey: (raw) => checkRaw(raw, "private").slice(),
  x25519PublicKey: (raw) => checkRaw(raw, "public").slice(),
  x25519PublicOf: (privateKey) => nobleX25519.getPublicKey(privateKey as Uint8Array),
  x25519Generate() {
    const rawPrivateKey = nobleX25519.utils.randomSecretKey();
    return { publicKey: nobleX25519.getPublicKey(rawPrivateKey), rawPrivateKey };
  },
  x25519Ephemeral() {
    const privateKey = nobleX25519.utils.randomSecretKey();
    return { privateKey, publicKey: nobleX25519.getPublicKey(privateKey) };
  },
  // JavaScript cannot wipe every copy (noble's scalar arithmetic works on bigints), but the bytes can.
  x25519Release: (privateKey) => (privateKey as Uint8Array).fill(0),
  x25519(privateKey, publicKey) {
    try {
      return nobleX25519.getSharedSecret(privateKey as Uint8Array, publicKey as Uint8Array);
    } catch (error) {
      throw new CustosError("DECRYPTION_FAILED", "X25519 failed: the public key is invalid", {
        cause: error,
      });
    }
  },
  aeadSeal(cipher, key, nonce, aad, pt) {
    return cipher === "chacha20-poly1305"
      ? chacha20poly1305(key, nonce, aad).encrypt(pt)
      : gcm(key, nonce, aad).encrypt(pt);
  },
  aeadOpen(cipher, key, nonce, aad, ct) {
    if (ct.length < TAG_BYTES) throw new CustosError("DECRYPTION_FAILED", "the ciphertext is truncated");
    return cipher === "chacha20-poly1305"
      ? chacha20poly1305(key, nonce, aad).decrypt(ct)
      : gcm(key, nonce, aad).decrypt(ct);
  },
};

type NodeCrypto = typeof import("node:crypto");
type KeyObject = import("node:crypto").KeyObject;

function loadNodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule !== "function") return undefined;
  return proc.getBuiltinModule("node:crypto") as NodeCrypto | undefined;
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

function nodeBackendOf(c: NodeCrypto): CryptoBackend {
  const generateWithJwkPublic = c.generateKeyPairSync as unknown as GenerateWithJwkPublic;
  const view = (b: Buffer | ArrayBuffer) =>
    b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  // Private keys never pass through a string (JWK, base64) or Node's pooled Buffers: a raw key goes
  // in as PKCS#8 DER built in unpooled memory that is zero-filled at once (OpenSSL keeps its own
  // copy in the key object and clears it when the object is collected). Public keys go in as JWK,
  // far cheaper than DER through OpenSSL 3's decoders.
  const x25519FromRaw = (raw: Uint8Array): KeyObject => {
    checkRaw(raw, "private");
    const der = Buffer.allocUnsafeSlow(48);
    try {
      der.set(PKCS8_X25519_PREFIX, 0);
      der.set(raw, 16);
      return c.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    } finally {
      der.fill(0);
    }
  };
  const publicFromRaw = (raw: Uint8Array): KeyObject =>
    c.createPublicKey({
      key: {
        kty: "OKP",
        crv: "X25519",
        x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url"),
      },
      format: "jwk",
    });
  const publicBytesOfJwk = (x: string | undefined): Uint8Array => {
    const bytes = Buffer.from(x ?? "", "base64url");
    return checkRaw(new Uint8Array(bytes), "public");
  };
  const basePoint = c.createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: X25519_BASE_POINT_JWK },
    format: "jwk",
  });
  // Read the public half by one scalar multiplication, never by an export of the key object: on
  // Node 20 an export of a key made by generateKeyPairSync deadlocks the process once the garbage
  // collector frees the key-generation job while the export holds the key's lock (seen under
  // sustained HPKE sealing, see docs/postgres.md "Scale"; a regression test makes 30,000 keys).
  const publicOf = (privateKey: KeyObject): Uint8Array =>
    view(c.diffieHellman({ privateKey, publicKey: basePoint }));
  return {
    name: "node",
    hmacSha256(key, ...parts) {
      const mac = c.createHmac("sha256", key);
      for (const part of parts) mac.update(part);
      return view(mac.digest());
    },
    x25519PrivateKey: (raw) => x25519FromRaw(raw),
    x25519PublicKey: (raw) => publicFromRaw(checkRaw(raw, "public")),
    x25519PublicOf: (privateKey) => publicOf(privateKey as KeyObject),
    x25519Generate() {
      // Any 32 random bytes are an X25519 private key (RFC 7748 5 clamps them); unpooled memory.
      const rawPrivateKey = c.randomFillSync(secretBytes(32));
      return { publicKey: publicOf(x25519FromRaw(rawPrivateKey)), rawPrivateKey };
    },
    x25519Ephemeral() {
      // Made and used inside OpenSSL: the private half is never exported. The public half comes out
      // of the key-generation job itself (as JWK, the cheapest encoding measured): a separate export
      // of a generated key is what deadlocks Node 20 (see publicOf above).
      const pair = generateWithJwkPublic("x25519", { publicKeyEncoding: { format: "jwk" } });
      return { privateKey: pair.privateKey, publicKey: publicBytesOfJwk(pair.publicKey.x) };
    },
    x25519Release: () => undefined,
    x25519(privateKey, publicKey) {
      try {
        return view(
          c.diffieHellman({ privateKey: privateKey as KeyObject, publicKey: publicKey as KeyObject }),
        );
      } catch (error) {
        throw new CustosError("DECRYPTION_FAILED", "X25519 failed: the public key is invalid", {
          cause: error,
        });
      }
    },
    aeadSeal(cipher, key, nonce, aad, pt) {
      const cp = c.createCipheriv(cipher as "aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
      cp.setAAD(aad, { plaintextLength: pt.length });
      return view(Buffer.concat([cp.update(pt), cp.final(), cp.getAuthTag()]));
    },
    aeadOpen(cipher, key, nonce, aad, ct) {
      if (ct.length < TAG_BYTES) throw new CustosError("DECRYPTION_FAILED", "the ciphertext is truncated");
      const body = ct.subarray(0, ct.length - TAG_BYTES);
      const d = c.createDecipheriv(cipher as "aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
      d.setAAD(aad, { plaintextLength: body.length });
      d.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
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
}

const nodeCrypto = loadNodeCrypto();

/** node:crypto's backend, where it exists (Node); undefined in a browser. */
export const nodeBackend: CryptoBackend | undefined = nodeCrypto ? nodeBackendOf(nodeCrypto) : undefined;

/** The backend this platform uses: node:crypto on Node, @noble in the browser. */
export const defaultBackend: CryptoBackend = nodeBackend ?? nobleBackend;
