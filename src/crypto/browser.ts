// The part of the crypto area that runs in a browser as is: AEAD over the platform's backend
// (node:crypto on Node, @noble in the browser). HPKE has its own surface in ./hpke/index.ts.
// src/crypto/index.ts re-exports it with the rest of the area.

export { aesGcmOpen, aesGcmSeal } from "./aead.js";
