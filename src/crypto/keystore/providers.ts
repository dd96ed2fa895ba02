// Where the master key comes from. Every provider turns its source into 32 bytes plus the public
// parameters the keystore must record to derive the same key again (a scrypt salt and cost, say).
// A KMS or HSM provider implements the same interface: getMasterKey() would ask the service to
// unwrap (or derive) the key, and params would name the key's ID at the service.

import { randomBytes, scrypt } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { fromBase64, fromHex, toBase64 } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";

export type MasterKeyParams = Readonly<Record<string, string | number>>;

export interface MasterKeyProvider {
  readonly kind: string;
  /** A description for messages: never the key itself. */
  describe(): string;
  getMasterKey(params: MasterKeyParams | undefined): Promise<{ key: Uint8Array; params: MasterKeyParams }>;
}

export const MASTER_KEY_HELP =
  "provide the master key with --master-key-file FILE (32 random bytes, base64), the CUSTOS_MASTER_KEY " +
  "environment variable (base64 of 32 random bytes, e.g. from `openssl rand -base64 32`), or a passphrase " +
  "in CUSTOS_MASTER_PASSPHRASE";

function decodeKey(text: string, where: string): Uint8Array {
  const trimmed = text.trim();
  let key: Uint8Array | undefined;
  try {
    key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? fromHex(trimmed) : fromBase64(trimmed);
  } catch {
    key = undefined;
  }
  if (key === undefined || key.length !== 32) {
    throw new CustosError(
      "KEY_MISSING",
      `${where} does not hold a 32-byte key in base64 or hex; ${MASTER_KEY_HELP}`,
    );
  }
  return key;
}

export interface ScryptCost {
  /** CPU/memory cost N (a power of two). Default 2^17. */
  readonly cost?: number;
  readonly blockSize?: number;
  readonly parallelization?: number;
}

/** A passphrase stretched with scrypt (RFC 7914); the salt and cost are stored in the keystore. */
export class PassphraseProvider implements MasterKeyProvider {
  readonly kind = "passphrase";
  readonly #passphrase: string;
  readonly #cost: Required<ScryptCost>;

  constructor(passphrase: string, cost: ScryptCost = {}) {
    if (passphrase.length < 8)
      throw new CustosError("KEY_MISSING", "the passphrase must be at least 8 characters");
    this.#passphrase = passphrase;
    this.#cost = {
      cost: cost.cost ?? 2 ** 17,
      blockSize: cost.blockSize ?? 8,
      parallelization: cost.parallelization ?? 1,
    };
  }

  describe(): string {
    return "a passphrase (scrypt)";
  }

  async getMasterKey(
    params: MasterKeyParams | undefined,
  ): Promise<{ key: Uint8Array; params: MasterKeyParams }> {
    const salt =
      params?.salt !== undefined ? fromBase64(String(params.salt)) : new Uint8Array(randomBytes(16));
    const N = Number(params?.N ?? this.#cost.cost);
    const r = Number(params?.r ?? this.#cost.blockSize);
    const p = Number(params?.p ?? this.#cost.parallelization);
    if (![N, r, p].every((v) => Number.isSafeInteger(v) && v > 0) || N > 2 ** 22 || salt.length < 16) {
      throw new CustosError("STORE_CORRUPT", "the keystore's scrypt parameters are invalid");
    }
    const key = await new Promise<Uint8Array>((resolve, reject) => {
      scrypt(
        this.#passphrase,
        salt,
        32,
        { N, r, p, maxmem: 128 * N * r * p + 64 * 1024 * 1024 },
        (error, derived) => (error ? reject(error) : resolve(new Uint8Array(derived))),
      );
    });
    return { key, params: { salt: toBase64(salt), N, r, p } };
  }
}

/** A file holding the 32-byte key (base64 or hex); refused if group or others can read it. */
export class KeyFileProvider implements MasterKeyProvider {
  readonly kind = "key-file";
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  describe(): string {
    return `the key file ${this.path}`;
  }

  async getMasterKey(): Promise<{ key: Uint8Array; params: MasterKeyParams }> {
    let mode: number;
    let text: string;
    try {
      mode = statSync(this.path).mode;
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      throw new CustosError(
        "KEY_MISSING",
        `cannot read the master key file ${this.path}: ${(error as NodeJS.ErrnoException).code ?? "error"}; ${MASTER_KEY_HELP}`,
      );
    }
    if ((mode & 0o077) !== 0) {
      throw new CustosError(
        "CONFIG",
        `the master key file ${this.path} is readable by other users; run chmod 600 ${this.path}`,
      );
    }
    return { key: decodeKey(text, `the master key file ${this.path}`), params: {} };
  }
}

/** An environment variable holding the key in base64 (for containers and CI). */
export class EnvProvider implements MasterKeyProvider {
  readonly kind = "env";
  readonly #name: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(name = "CUSTOS_MASTER_KEY", env: NodeJS.ProcessEnv = process.env) {
    this.#name = name;
    this.#env = env;
  }

  describe(): string {
    return `the environment variable ${this.#name}`;
  }

  async getMasterKey(): Promise<{ key: Uint8Array; params: MasterKeyParams }> {
    const value = this.#env[this.#name];
    if (!value) throw new CustosError("KEY_MISSING", `${this.#name} is not set; ${MASTER_KEY_HELP}`);
    return { key: decodeKey(value, this.#name), params: {} };
  }
}

/** Writes a new random master key file with mode 0600; refuses to overwrite. */
export function createKeyFile(path: string): void {
  try {
    writeFileSync(path, `${toBase64(new Uint8Array(randomBytes(32)))}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST")
      throw new CustosError("STORE_EXISTS", `${path} already exists`);
    throw error;
  }
}

export interface MasterKeyConfig {
  readonly keyFile?: string;
  readonly passphrase?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Picks the configured provider: a key file, else CUSTOS_MASTER_KEY, else a passphrase. */
export function resolveMasterKeyProvider(config: MasterKeyConfig): MasterKeyProvider {
  const env = config.env ?? process.env;
  if (config.keyFile) return new KeyFileProvider(config.keyFile);
  if (env.CUSTOS_MASTER_KEY) return new EnvProvider("CUSTOS_MASTER_KEY", env);
  const passphrase = config.passphrase ?? env.CUSTOS_MASTER_PASSPHRASE;
  if (passphrase) return new PassphraseProvider(passphrase);
  throw new CustosError("KEY_MISSING", `no master key is configured: ${MASTER_KEY_HELP}`);
}
