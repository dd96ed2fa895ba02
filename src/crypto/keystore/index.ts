export { Keystore } from "./keystore.js";
export {
  createKeyFile,
  EnvProvider,
  KeyFileProvider,
  MASTER_KEY_HELP,
  type MasterKeyConfig,
  type MasterKeyParams,
  type MasterKeyProvider,
  PassphraseProvider,
  resolveMasterKeyProvider,
  type ScryptCost,
} from "./providers.js";
