// Unlocking a holder's identity bundle for a command (`read`, `keys rewrap`, `keys upgrade`, bulk
// onboarding): the passphrase from --passphrase-file or CUSTOS_BUNDLE_PASSPHRASE, as everywhere else.

import { Identity, readBundle } from "../../identity/index.js";
import { RecordOpener } from "../../records/index.js";
import { bundlePassphrase } from "./identity.js";

export function unlockBundle(path: string, passphraseFile?: string): Identity {
  return Identity.unlock(readBundle(path), bundlePassphrase(passphraseFile));
}

/** A record opener over the identity's X25519 key; the raw key copy is zero-filled at once. */
export function openerOf(identity: Identity): RecordOpener {
  const privateKey = identity.encryptionPrivateKey();
  try {
    return new RecordOpener(privateKey);
  } finally {
    privateKey.fill(0);
  }
}
