// Node secrets (log signing key, blind-index key, ...) sealed in one JSON file by envelope
// encryption: each secret is AES-256-GCM under a random data-encryption key (DEK); the DEK is
// AES-256-GCM under the master key. Rotating the master key re-wraps only the DEK. Associated data
// binds every ciphertext to the file's ID and the secret's name, so entries cannot be swapped or
// moved between files. Writes are atomic. Secrets never reach an error message or a log.

import { existsSync, readFileSync } from "node:fs";
import { fromBase64, toBase64, toHex, utf8 } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import { randomBytes } from "../../core/platform.js";
import { aesGcmOpen, aesGcmSeal } from "../aead.js";
import { writeFileAtomic } from "../atomic-file.js";
import type { MasterKeyParams, MasterKeyProvider } from "./providers.js";

interface Sealed {
  nonce: string;
  ciphertext: string;
}

interface KeystoreFile {
  format: "custos-keystore";
  version: 1;
  id: string;
  provider: { kind: string; params: MasterKeyParams };
  dek: Sealed;
  secrets: Record<string, Sealed>;
}

const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function seal(key: Uint8Array, aad: string, plaintext: Uint8Array): Sealed {
  const nonce = randomBytes(12);
  return { nonce: toBase64(nonce), ciphertext: toBase64(aesGcmSeal(key, nonce, utf8(aad), plaintext)) };
}

function open(key: Uint8Array, aad: string, sealed: Sealed): Uint8Array {
  return aesGcmOpen(key, fromBase64(sealed.nonce), utf8(aad), fromBase64(sealed.ciphertext));
}

function dekAad(file: KeystoreFile): string {
  return `custos-keystore/v1/dek\n${file.id}\n${file.provider.kind}\n${JSON.stringify(file.provider.params)}`;
}

function secretAad(id: string, name: string): string {
  return `custos-keystore/v1/secret\n${id}\n${name}`;
}

function parseFile(path: string, text: string): KeystoreFile {
  let json: KeystoreFile;
  try {
    json = JSON.parse(text) as KeystoreFile;
  } catch {
    throw new CustosError("STORE_CORRUPT", `the keystore ${path} is not valid JSON`);
  }
  const sealedOk = (s: unknown): s is Sealed =>
    typeof s === "object" &&
    s !== null &&
    typeof (s as Sealed).nonce === "string" &&
    typeof (s as Sealed).ciphertext === "string";
  if (
    json?.format !== "custos-keystore" ||
    json.version !== 1 ||
    typeof json.id !== "string" ||
    typeof json.provider?.kind !== "string" ||
    typeof json.provider.params !== "object" ||
    !sealedOk(json.dek) ||
    typeof json.secrets !== "object" ||
    !Object.values(json.secrets).every(sealedOk)
  ) {
    throw new CustosError("STORE_CORRUPT", `the keystore ${path} is not a Custos keystore (version 1)`);
  }
  return json;
}

export class Keystore {
  readonly path: string;
  #file: KeystoreFile;
  readonly #dek: Uint8Array;

  private constructor(path: string, file: KeystoreFile, dek: Uint8Array) {
    this.path = path;
    this.#file = file;
    this.#dek = dek;
  }

  static async create(path: string, provider: MasterKeyProvider): Promise<Keystore> {
    if (existsSync(path)) throw new CustosError("STORE_EXISTS", `a keystore already exists at ${path}`);
    const { key, params } = await provider.getMasterKey(undefined);
    const dek = randomBytes(32);
    const file: KeystoreFile = {
      format: "custos-keystore",
      version: 1,
      id: toHex(randomBytes(16)),
      provider: { kind: provider.kind, params },
      dek: { nonce: "", ciphertext: "" },
      secrets: {},
    };
    file.dek = seal(key, dekAad(file), dek);
    key.fill(0);
    const keystore = new Keystore(path, file, dek);
    keystore.#write();
    return keystore;
  }

  static async open(path: string, provider: MasterKeyProvider): Promise<Keystore> {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        throw new CustosError("KEY_MISSING", `no keystore at ${path}`);
      throw new CustosError("STORE_CORRUPT", `cannot read the keystore ${path}`);
    }
    const file = parseFile(path, text);
    if (file.provider.kind !== provider.kind) {
      throw new CustosError(
        "KEYSTORE_LOCKED",
        `the keystore ${path} is sealed with a ${file.provider.kind} master key, but ${provider.describe()} was given`,
      );
    }
    const { key } = await provider.getMasterKey(file.provider.params);
    let dek: Uint8Array;
    try {
      dek = open(key, dekAad(file), file.dek);
    } catch {
      throw new CustosError(
        "KEYSTORE_LOCKED",
        `the master key from ${provider.describe()} does not open the keystore ${path}`,
      );
    } finally {
      key.fill(0);
    }
    return new Keystore(path, file, dek);
  }

  names(): string[] {
    return Object.keys(this.#file.secrets).sort();
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#file.secrets, name);
  }

  get(name: string): Uint8Array {
    const sealed = this.#file.secrets[name];
    if (sealed === undefined || !this.has(name)) {
      throw new CustosError("KEY_MISSING", `the keystore ${this.path} holds no secret named "${name}"`);
    }
    try {
      return open(this.#dek, secretAad(this.#file.id, name), sealed);
    } catch {
      throw new CustosError("STORE_CORRUPT", `the secret "${name}" in ${this.path} was tampered with`);
    }
  }

  async set(name: string, secret: Uint8Array): Promise<void> {
    if (!NAME_PATTERN.test(name))
      throw new CustosError("BAD_ARGUMENT", `"${name}" is not a valid secret name`);
    this.#file = {
      ...this.#file,
      secrets: { ...this.#file.secrets, [name]: seal(this.#dek, secretAad(this.#file.id, name), secret) },
    };
    this.#write();
  }

  async delete(name: string): Promise<void> {
    if (!this.has(name)) return;
    const secrets = { ...this.#file.secrets };
    delete secrets[name];
    this.#file = { ...this.#file, secrets };
    this.#write();
  }

  /** Re-wraps the data-encryption key under a new master key; the secrets' ciphertexts stay as they are. */
  async rotateMasterKey(provider: MasterKeyProvider): Promise<void> {
    const { key, params } = await provider.getMasterKey(undefined);
    const file: KeystoreFile = { ...this.#file, provider: { kind: provider.kind, params } };
    file.dek = seal(key, dekAad(file), this.#dek);
    key.fill(0);
    this.#file = file;
    this.#write();
  }

  #write(): void {
    writeFileAtomic(this.path, `${JSON.stringify(this.#file, null, 2)}\n`, 0o600);
  }
}
