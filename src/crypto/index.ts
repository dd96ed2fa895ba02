// The crypto area's public surface: AEAD (./browser.ts, safe in a browser), atomic file writes for
// secrets and state, and the forced garbage collection that drops freed key copies. HPKE (./hpke) and
// the keystore (./keystore) are entered through their own index.ts.

export { writeFileAtomic } from "./atomic-write.js";
export * from "./browser.js";
export { collectGarbage } from "./collect-garbage.js";
