// The one interface every source of a master key implements (passphrase, key file, environment,
// and later a KMS or HSM). A provider turns its source into 32 bytes plus the public parameters the
// keystore must record to derive the same key again; it never logs or reports the key itself.

import { CustosError, fromBase64, fromHex } from "../../core/index.js";

export const MASTER_KEY_BYTES = 32;

/** Public, non-secret parameters recorded in the keystore file (a scrypt salt and cost, a KMS key ID). */
export type MasterKeyParams = Readonly<Record<string, string | number>>;

export interface MasterKey {
  /** 32 bytes, owned by the caller, who zero-fills them once the data key is wrapped or unwrapped. */
  readonly key: Uint8Array;
  readonly params: MasterKeyParams;
}

export interface MasterKeyProvider {
  /** Recorded in the keystore file; opening requires a provider of the same kind. */
  readonly kind: string;
  /** Names the source for messages ("the key file /etc/custos/master.key"): never the key itself. */
  describe(): string;
  /**
   * With `undefined`, makes or fetches the key for a new keystore (create, rotation) and returns the
   * parameters to record; with the recorded parameters, derives the same key again.
   */
  getMasterKey(params: MasterKeyParams | undefined): Promise<MasterKey>;
}

export const MASTER_KEY_HELP =
  "provide the master key with --master-key-file FILE (a file holding 32 random bytes in base64, mode 0600), " +
  "the CUSTOS_MASTER_KEY environment variable (base64 of 32 random bytes, e.g. from `openssl rand -base64 32`), " +
  "or a passphrase in the CUSTOS_MASTER_PASSPHRASE environment variable";

/**
 * Decodes a 32-byte key written as base64 (standard, padded) or 64 hex digits. `where` names the
 * source in the error message; the text itself is never echoed.
 */
export function decodeMasterKey(text: string, where: string): Uint8Array {
  const trimmed = text.trim();
  let key: Uint8Array | undefined;
  try {
    key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? fromHex(trimmed) : fromBase64(trimmed);
  } catch {
    key = undefined;
  }
  if (key === undefined || key.length !== MASTER_KEY_BYTES) {
    key?.fill(0);
    throw new CustosError(
      "BAD_KEY",
      `${where} does not hold a 32-byte master key in base64 or hex (make one with \`openssl rand -base64 32\`)`,
    );
  }
  return key;
}
