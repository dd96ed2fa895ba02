// A master key passed in an environment variable (containers, CI, a secrets manager that injects
// variables). The variable holds base64 (or hex) of 32 random bytes; the keystore records nothing.

import { CustosError } from "../../core/index.js";
import type { MasterKey, MasterKeyParams, MasterKeyProvider } from "./master-key-provider.js";
import { decodeMasterKey, MASTER_KEY_HELP } from "./master-key-provider.js";

export const MASTER_KEY_ENV = "CUSTOS_MASTER_KEY";

export class EnvProvider implements MasterKeyProvider {
  readonly kind = "env";
  readonly varName: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(varName: string = MASTER_KEY_ENV, env: NodeJS.ProcessEnv = process.env) {
    this.varName = varName;
    this.#env = env;
  }

  describe(): string {
    return `the environment variable ${this.varName}`;
  }

  async getMasterKey(_params?: MasterKeyParams): Promise<MasterKey> {
    const value = this.#env[this.varName];
    if (!value) throw new CustosError("KEY_MISSING", `${this.varName} is not set; ${MASTER_KEY_HELP}`);
    return { key: decodeMasterKey(value, `the environment variable ${this.varName}`), params: {} };
  }
}
