// Chooses the master-key provider from configuration, in a fixed, documented order: an explicit key
// file, then CUSTOS_MASTER_KEY, then a passphrase. With none, the node refuses to start and says how
// to provide one: there is no default key.

import { CustosError } from "../../core/errors.js";
import { EnvProvider, MASTER_KEY_ENV } from "./env-provider.js";
import { KeyFileProvider } from "./key-file-provider.js";
import type { MasterKeyProvider } from "./master-key-provider.js";
import { MASTER_KEY_HELP } from "./master-key-provider.js";
import { PassphraseProvider } from "./passphrase-provider.js";

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
  if (env[MASTER_KEY_ENV]) return new EnvProvider(MASTER_KEY_ENV, env);
  const passphrase = config.passphrase || env[MASTER_PASSPHRASE_ENV];
  if (passphrase) return new PassphraseProvider(passphrase);
  throw new CustosError("KEY_MISSING", `no master key is configured: ${MASTER_KEY_HELP}`);
}
