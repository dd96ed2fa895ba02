// AES-256-GCM (NIST SP 800-38D) on node:crypto, with a 12-byte nonce and a 16-byte tag appended to
// the ciphertext. Opening never returns unauthenticated bytes: any failure is DECRYPTION_FAILED.

import { createCipheriv, createDecipheriv } from "node:crypto";
import { CustosError } from "../core/errors.js";

const TAG_BYTES = 16;

function checkSizes(key: Uint8Array, nonce: Uint8Array, bits: 128 | 256): void {
  if (key.length !== bits / 8)
    throw new CustosError("BAD_KEY", `an AES-${bits}-GCM key is ${bits / 8} bytes`);
  if (nonce.length !== 12) throw new CustosError("BAD_ARGUMENT", "an AES-GCM nonce is 12 bytes");
}

export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  bits: 128 | 256 = 256,
): Uint8Array {
  checkSizes(key, nonce, bits);
  const cipher = createCipheriv(bits === 256 ? "aes-256-gcm" : "aes-128-gcm", key, nonce);
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(head.length + tail.length + TAG_BYTES);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(tag, head.length + tail.length);
  return out;
}

export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  bits: 128 | 256 = 256,
): Uint8Array {
  checkSizes(key, nonce, bits);
  if (sealed.length < TAG_BYTES) {
    throw new CustosError("DECRYPTION_FAILED", "the ciphertext is truncated: it was tampered with");
  }
  try {
    const decipher = createDecipheriv(bits === 256 ? "aes-256-gcm" : "aes-128-gcm", key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const head = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    const tail = decipher.final();
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  } catch (error) {
    throw new CustosError(
      "DECRYPTION_FAILED",
      "decryption failed: the data was tampered with or the key is not the right one",
      { cause: error },
    );
  }
}
