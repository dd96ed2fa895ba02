// AES-GCM (NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag appended to the ciphertext, on the
// platform's crypto backend (node:crypto on Node, @noble/ciphers in the browser portal). Opening never
// returns unauthenticated bytes: any failure is DECRYPTION_FAILED.

import { CustosError } from "../core/index.js";
import { type CryptoBackend, defaultBackend } from "./backend.js";

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
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  checkSizes(key, nonce, bits);
  return backend.aeadSeal(bits === 256 ? "aes-256-gcm" : "aes-128-gcm", key, nonce, aad, plaintext);
}

export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  bits: 128 | 256 = 256,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  checkSizes(key, nonce, bits);
  if (sealed.length < TAG_BYTES) {
    throw new CustosError("DECRYPTION_FAILED", "the ciphertext is truncated: it was tampered with");
  }
  try {
    return backend.aeadOpen(bits === 256 ? "aes-256-gcm" : "aes-128-gcm", key, nonce, aad, sealed);
  } catch (error) {
    throw new CustosError(
      "DECRYPTION_FAILED",
      "decryption failed: the data was tampered with or the key is not the right one",
      { cause: error },
    );
  }
}
