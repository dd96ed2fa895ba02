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
import { CustosError } from "../core/errors.js";

export type AeadCipher = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

/** An X25519 key prepared for repeated use (a KeyObject on Node, the raw bytes elsewhere). */
export type X25519Handle = { readonly __x25519: unique symbol } | object;

export interface CryptoBackend {
  readonly name: "node" | "noble";
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  x25519PrivateKey(raw: Uint8Array): X25519Handle;
  x25519PublicKey(raw: Uint8Array): X25519Handle;
  /** The raw public key of a prepared private key. */
  x25519PublicOf(privateKey: X25519Handle): Uint8Array;
  x25519Generate(): { privateKey: X25519Handle; publicKey: Uint8Array; rawPrivateKey: Uint8Array };
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
    return { privateKey: rawPrivateKey, publicKey: nobleX25519.getPublicKey(rawPrivateKey), rawPrivateKey };
  },
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

// A private JWK must carry `x`; node:crypto derives the public key from `d` and ignores it.
const JWK_X_PLACEHOLDER = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

function nodeBackendOf(c: NodeCrypto): CryptoBackend {
  // Raw X25519 keys move in and out of node:crypto as JWK (RFC 8037): measured here, JWK export is
  // far cheaper than DER export, which dominated the cost of an HPKE seal.
  const b64url = (bytes: Uint8Array) =>
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
  const fromJwk = (text: string | undefined) => {
    const bytes = Buffer.from(text ?? "", "base64url");
    return checkRaw(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), "JWK");
  };
  const view = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  // A raw private key in by JWK: about 45 us, where a PKCS#8 DER import costs about 400 us through
  // OpenSSL 3's decoders. node:crypto builds the key from `d` alone and derives the public key from
  // it; `x` is required by the JWK form but not used, so a placeholder goes there and the public key
  // is always read back from the key object (checked against RFC 7748's vectors in the tests).
  const x25519FromRaw = (raw: Uint8Array) =>
    c.createPrivateKey({
      key: { kty: "OKP", crv: "X25519", d: b64url(checkRaw(raw, "private")), x: JWK_X_PLACEHOLDER },
      format: "jwk",
    });
  const publicOf = (privateKey: KeyObject) =>
    fromJwk(c.createPublicKey(privateKey).export({ format: "jwk" }).x);
  return {
    name: "node",
    hmacSha256(key, ...parts) {
      const mac = c.createHmac("sha256", key);
      for (const part of parts) mac.update(part);
      return view(mac.digest());
    },
    x25519PrivateKey: (raw) => x25519FromRaw(raw),
    x25519PublicKey: (raw) =>
      c.createPublicKey({
        key: { kty: "OKP", crv: "X25519", x: b64url(checkRaw(raw, "public")) },
        format: "jwk",
      }),
    x25519PublicOf: (privateKey) => publicOf(privateKey as KeyObject),
    x25519Generate() {
      // Any 32 random bytes are an X25519 private key (RFC 7748 section 5 clamps them). Not
      // generateKeyPairSync: on Node 20 the garbage collector can free that call's key-generation job
      // while a JWK export of the same key holds the key's lock, and the process deadlocks (seen
      // under sustained HPKE sealing, see docs/postgres.md "Scale").
      const rawPrivateKey = view(c.randomBytes(32));
      const privateKey = x25519FromRaw(rawPrivateKey);
      return { privateKey, publicKey: publicOf(privateKey), rawPrivateKey };
    },
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
      return view(Buffer.concat([d.update(body), d.final()]));
    },
  };
}

const nodeCrypto = loadNodeCrypto();

/** node:crypto's backend, where it exists (Node); undefined in a browser. */
export const nodeBackend: CryptoBackend | undefined = nodeCrypto ? nodeBackendOf(nodeCrypto) : undefined;

/** The backend this platform uses: node:crypto on Node, @noble in the browser. */
export const defaultBackend: CryptoBackend = nodeBackend ?? nobleBackend;
