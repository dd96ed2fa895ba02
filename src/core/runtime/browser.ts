// The browser's runtime (package.json `imports` `#platform`, condition `browser`): @noble for hashes,
// signatures, X25519 and AEAD. No `node:` module is reachable from here.

import {
  nobleBackend,
  nobleEd25519PublicKey,
  nobleEd25519Sign,
  nobleEd25519Verify,
  nobleHmacSha256,
  nobleSha256,
} from "./noble.js";
import type { PlatformRuntime } from "./types.js";

export const runtime: PlatformRuntime = {
  name: "browser",
  sha256: (data) => nobleSha256(data),
  hmacSha256: nobleHmacSha256,
  ed25519PublicKey: nobleEd25519PublicKey,
  ed25519Sign: nobleEd25519Sign,
  ed25519Verify: nobleEd25519Verify,
  backend: nobleBackend,
};
