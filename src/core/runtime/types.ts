// What a platform runtime offers (node.ts on Node, browser.ts in the browser; package.json `imports`
// `#platform` picks one by build condition, as jose picks its runtime). Both pass the same published
// vectors (RFC 8032, RFC 9180 appendix A, NIST GCM) in the tests.

import { CustosError } from "../errors.js";

export type AeadCipher = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

/** An X25519 key prepared for repeated use (a KeyObject on Node, the raw bytes elsewhere). */
export type X25519Handle = { readonly __x25519: unique symbol } | object;

/** The primitives HPKE and record encryption are built on. */
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

/** The one seam between Custos and the platform. */
export interface PlatformRuntime {
  readonly name: "node" | "browser";
  sha256(data: Uint8Array): Uint8Array;
  /** HMAC-SHA256 (RFC 2104) over the concatenation of parts. */
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** Ed25519 (RFC 8032) over a 32-byte seed. */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** Never throws: a malformed key or signature verifies as false. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** X25519 and AEAD: node:crypto's on Node, @noble's in the browser. */
  readonly backend: CryptoBackend;
}

export const AEAD_TAG_BYTES = 16;

export function checkX25519Raw(raw: Uint8Array, what: string): Uint8Array {
  if (raw.length !== 32) throw new CustosError("BAD_KEY", `an X25519 ${what} key is 32 bytes`);
  return raw;
}
