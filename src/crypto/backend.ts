// The primitives HPKE and record encryption are built on (X25519, AEAD, HMAC), from the platform seam
// (`#platform`, src/core/runtime/): node:crypto (OpenSSL, fast) on Node, the audited @noble libraries
// in the browser portal. The @noble backend is exported on Node too, so the tests hold the two to the
// same published vectors (RFC 9180 appendix A, NIST GCM) and to each other.

import { runtime } from "#platform";
import type { CryptoBackend } from "../core/index.js";

export type { AeadCipher, CryptoBackend, X25519Handle } from "../core/index.js";
export { nobleBackend } from "../core/index.js";

/** The backend this platform uses: node:crypto on Node, @noble in the browser. */
export const defaultBackend: CryptoBackend = runtime.backend;

/** node:crypto's backend where the runtime is Node's; undefined in a browser. */
export const nodeBackend: CryptoBackend | undefined = runtime.name === "node" ? runtime.backend : undefined;
