// Node secrets sealed under a master key (docs/keystore.md): the keystore and its master-key providers.

export { EnvProvider, MASTER_KEY_ENV } from "./env-provider.js";
export { createKeyFile, KeyFileProvider } from "./key-file-provider.js";
export { Keystore, MAX_SECRET_BYTES } from "./keystore.js";
export { KEYSTORE_VERSION, SECRET_NAME_PATTERN } from "./keystore-file.js";
export {
  MASTER_KEY_BYTES,
  MASTER_KEY_HELP,
  type MasterKey,
  type MasterKeyParams,
  type MasterKeyProvider,
} from "./master-key-provider.js";
export {
  DEFAULT_SCRYPT_COST,
  MIN_PASSPHRASE_LENGTH,
  PassphraseProvider,
  type ScryptCost,
} from "./passphrase-provider.js";
export {
  MASTER_PASSPHRASE_ENV,
  type MasterKeyConfig,
  pkcs11FromEnv,
  resolveMasterKeyProvider,
} from "./resolve-provider.js";
