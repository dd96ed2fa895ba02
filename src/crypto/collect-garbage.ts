// node:crypto hands keys to OpenSSL: an ephemeral X25519 key (EVP_PKEY), a cipher context's AES key
// schedule (which begins with the key itself), an HMAC context. OpenSSL clears each when it is freed,
// and it is freed when V8 collects the JavaScript object that owns it: on a quiet node, maybe not for
// hours. So when epoch keys are swept a full collection is asked for, and the copies go with them.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Gc = () => void;
let gc: Gc | undefined | null = null;

function gcFunction(): Gc | undefined {
  if (gc !== null) return gc;
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === "function") {
    gc = exposed as Gc;
    return gc;
  }
  // The flag takes effect for contexts made after it is set: a fresh context gets `gc`, and the
  // flag is turned off again so no other context does.
  setFlagsFromString("--expose-gc");
  try {
    const found = runInNewContext("typeof gc === 'function' ? gc : undefined");
    gc = typeof found === "function" ? (found as Gc) : undefined;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
  return gc;
}

/** Runs a full garbage collection now; false where the runtime offers none. */
export function collectGarbage(): boolean {
  const run = gcFunction();
  if (run === undefined) return false;
  run();
  return true;
}
