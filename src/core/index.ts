// The browser-safe public surface ("custos/core"): Merkle proofs (RFC 9162), signed notes and
// checkpoints (C2SP), the entry codec, the record schema and FHIR mapping, bytes helpers and the
// error table. The platform's primitives come from `#platform` (package.json `imports`): a bundler's
// `browser` condition picks @noble (runtime/browser.ts), Node's picks node:crypto (runtime/node.ts).

export * from "./archive/index.js";
export { BoundedCache } from "./bounded-cache.js";
export {
  bytesEqual,
  concatBytes,
  concatSecret,
  constantTimeEqual,
  fromBase64,
  fromHex,
  fromUtf8,
  secretBytes,
  toBase64,
  toHex,
  utf8,
} from "./bytes.js";
export * from "./checkpoint/index.js";
export * from "./entry/index.js";
export {
  CustosError,
  ERROR_CODES,
  ERROR_TABLE,
  type ErrorCode,
  type ErrorDescription,
  errorStatus,
  errorTitle,
  isCustosError,
  isErrorCode,
  REPLY_ERROR_CODES,
} from "./errors.js";
export * from "./merkle/index.js";
export * from "./note/index.js";
export { ed25519Verify, hmacSha256, randomBytes, randomSecret, sha256 } from "./platform.js";
export * from "./record/index.js";
export { nobleBackend } from "./runtime/noble.js";
export type { AeadCipher, CryptoBackend, X25519Handle } from "./runtime/types.js";
export * from "./trail-map/index.js";
export { firstInvalidUtf8 } from "./utf8-check.js";
