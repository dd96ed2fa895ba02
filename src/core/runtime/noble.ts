// The audited, isomorphic @noble libraries: the browser's runtime, and on Node the second backend the
// tests hold node:crypto's against.

import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { CustosError } from "../errors.js";
import { AEAD_TAG_BYTES, type CryptoBackend, checkX25519Raw } from "./types.js";

export { sha256 as nobleSha256 };

export function nobleHmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const mac = hmac.create(sha256, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

export const nobleEd25519PublicKey = (seed: Uint8Array): Uint8Array => ed25519.getPublicKey(seed);

export const nobleEd25519Sign = (seed: Uint8Array, message: Uint8Array): Uint8Array =>
  ed25519.sign(message, seed);

export function nobleEd25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** @noble/curves, @noble/hashes and @noble/ciphers: pure JavaScript, for the browser. */
export const nobleBackend: CryptoBackend = {
  name: "noble",
  hmacSha256: nobleHmacSha256,
  x25519PrivateKey: (raw) => checkX25519Raw(raw, "private").slice(),
  x25519PublicKey: (raw) => checkX25519Raw(raw, "public").slice(),
  x25519PublicOf: (privateKey) => x25519.getPublicKey(privateKey as Uint8Array),
  x25519Generate() {
    const rawPrivateKey = x25519.utils.randomSecretKey();
    return { publicKey: x25519.getPublicKey(rawPrivateKey), rawPrivateKey };
  },
  x25519Ephemeral() {
    const privateKey = x25519.utils.randomSecretKey();
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  },
  // JavaScript cannot wipe every copy (noble's scalar arithmetic works on bigints), but the bytes can.
  x25519Release: (privateKey) => (privateKey as Uint8Array).fill(0),
  x25519(privateKey, publicKey) {
    try {
      return x25519.getSharedSecret(privateKey as Uint8Array, publicKey as Uint8Array);
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
    if (ct.length < AEAD_TAG_BYTES) throw new CustosError("DECRYPTION_FAILED", "the ciphertext is truncated");
    return cipher === "chacha20-poly1305"
      ? chacha20poly1305(key, nonce, aad).decrypt(ct)
      : gcm(key, nonce, aad).decrypt(ct);
  },
};
