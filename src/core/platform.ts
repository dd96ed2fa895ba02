// The platform's primitives for core and everything above it: SHA-256, HMAC-SHA256 and Ed25519 from
// the one seam, `#platform` (package.json `imports`: node:crypto under the `node` condition, @noble
// under `browser`, see runtime/), plus randomness from WebCrypto's CSPRNG, which both platforms have.
// No run-time sniffing: the build (or Node's resolver) picks the runtime.

import { runtime } from "#platform";
import { concatBytes, secretBytes } from "./bytes.js";

export const sha256: (data: Uint8Array) => Uint8Array = runtime.sha256;

/** SHA-256 over the concatenation of parts. */
export function sha256Parts(...parts: Uint8Array[]): Uint8Array {
  return sha256(parts.length === 1 ? parts[0]! : concatBytes(...parts));
}

/** HMAC-SHA256 (RFC 2104) over the concatenation of parts. */
export const hmacSha256: (key: Uint8Array, ...parts: Uint8Array[]) => Uint8Array = runtime.hmacSha256;

/** Ed25519 (RFC 8032) over a 32-byte seed. */
export const ed25519PublicKey: (seed: Uint8Array) => Uint8Array = runtime.ed25519PublicKey;

export const ed25519Sign: (seed: Uint8Array, message: Uint8Array) => Uint8Array = runtime.ed25519Sign;

/** Never throws: a malformed key or signature verifies as false. */
export const ed25519Verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean =
  runtime.ed25519Verify;

// Small random values (nonces, epoch IDs) are cut from a pool filled by the platform's CSPRNG, so
// a record costs one slice instead of one call into the generator. Each byte is handed out once.
const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let poolOffset = 0;

export function randomBytes(length: number): Uint8Array {
  if (length > 256) {
    const out = new Uint8Array(length);
    globalThis.crypto.getRandomValues(out);
    return out;
  }
  if (poolOffset + length > pool.length) {
    pool = new Uint8Array(POOL_SIZE);
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + length);
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
  return out;
}

/** Random bytes for a secret key: straight from the CSPRNG into secretBytes (off the V8 heap). */
export function randomSecret(length: number): Uint8Array {
  const out = secretBytes(length);
  globalThis.crypto.getRandomValues(out);
  return out;
}
