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

// RFC 8410 PKCS#8 prefix for a raw X25519 private key (a private JWK import would also need `x`).
const PKCS8_X25519 = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

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
  return {
    name: "node",
    hmacSha256(key, ...parts) {
      const mac = c.createHmac("sha256", key);
      for (const part of parts) mac.update(part);
      return view(mac.digest());
    },
    x25519PrivateKey: (raw) =>
      c.createPrivateKey({
        key: Buffer.concat([PKCS8_X25519, checkRaw(raw, "private")]),
        format: "der",
        type: "pkcs8",
      }),
    x25519PublicKey: (raw) =>
      c.createPublicKey({
        key: { kty: "OKP", crv: "X25519", x: b64url(checkRaw(raw, "public")) },
        format: "jwk",
      }),
    x25519PublicOf: (privateKey) =>
      fromJwk(c.createPublicKey(privateKey as KeyObject).export({ format: "jwk" }).x),
    x25519Generate() {
      const pair = c.generateKeyPairSync("x25519");
      return {
        privateKey: pair.privateKey,
        publicKey: fromJwk(pair.publicKey.export({ format: "jwk" }).x),
        rawPrivateKey: fromJwk(pair.privateKey.export({ format: "jwk" }).d),
      };
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
