// Chooses the master-key provider from configuration, in a fixed, documented order: an explicit key
// file, then a PKCS#11 token (CUSTOS_PKCS11_MODULE), then CUSTOS_MASTER_KEY, then a passphrase. With none, the node refuses to start and says how
// to provide one: there is no default key.

import { CustosError } from "../../core/index.js";
import { EnvProvider, MASTER_KEY_ENV } from "./env-provider.js";
import { KeyFileProvider } from "./key-file-provider.js";
import type { MasterKeyProvider } from "./master-key-provider.js";
import { MASTER_KEY_HELP } from "./master-key-provider.js";
import { PassphraseProvider } from "./passphrase-provider.js";
import { Pkcs11Provider } from "./pkcs11-provider.js";

export const MASTER_PASSPHRASE_ENV = "CUSTOS_MASTER_PASSPHRASE";

export interface MasterKeyConfig {
  /** `--master-key-file FILE`. */
  readonly keyFile?: string;
  /** A passphrase given directly; otherwise CUSTOS_MASTER_PASSPHRASE is read from `env`. */
  readonly passphrase?: string;
  /** Where CUSTOS_MASTER_KEY and CUSTOS_MASTER_PASSPHRASE are looked up; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export function resolveMasterKeyProvider(config: MasterKeyConfig): MasterKeyProvider {
  const env = config.env ?? process.env;
  if (config.keyFile) return new KeyFileProvider(config.keyFile);
  const pkcs11 = pkcs11FromEnv(env);
  if (pkcs11) return pkcs11;
  if (env[MASTER_KEY_ENV]) return new EnvProvider(MASTER_KEY_ENV, env);
  const passphrase = config.passphrase || env[MASTER_PASSPHRASE_ENV];
  if (passphrase) return new PassphraseProvider(passphrase);
  throw new CustosError("KEY_MISSING", `no master key is configured: ${MASTER_KEY_HELP}`);
}

/**
 * A token from CUSTOS_PKCS11_MODULE, CUSTOS_PKCS11_TOKEN, CUSTOS_PKCS11_KEY (the AES key's label) and
 * CUSTOS_PKCS11_PIN_FILE or CUSTOS_PKCS11_PIN; undefined when no module is named. `keyLabel` overrides
 * the key (moving to a new token key).
 */
export function pkcs11FromEnv(env: NodeJS.ProcessEnv, keyLabel?: string): Pkcs11Provider | undefined {
  const module = env.CUSTOS_PKCS11_MODULE;
  if (!module) return undefined;
  const token = env.CUSTOS_PKCS11_TOKEN;
  const key = keyLabel ?? env.CUSTOS_PKCS11_KEY;
  if (!token || !key) {
    throw new CustosError(
      "CONFIG",
      "CUSTOS_PKCS11_MODULE needs CUSTOS_PKCS11_TOKEN (the token label) and CUSTOS_PKCS11_KEY (the key label)",
    );
  }
  return new Pkcs11Provider({
    module,
    token,
    keyLabel: key,
    ...(env.CUSTOS_PKCS11_PIN_FILE ? { pinFile: env.CUSTOS_PKCS11_PIN_FILE } : {}),
    env,
  });
}
