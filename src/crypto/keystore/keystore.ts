// Node secrets (log signing key, blind-index key, ...) sealed in one JSON file by envelope
// encryption: each secret is AES-256-GCM under a random data-encryption key (DEK), and the DEK is
// AES-256-GCM under the master key, so rotating the master key re-wraps the DEK alone. Associated
// data binds each secret to the file's ID and its name; an HMAC under a key derived from the DEK
// covers the whole file, so an added, removed, swapped or rolled-back entry is reported at open.
// Secrets never reach an error message or a log; key buffers owned here are zero-filled on close.

import { hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { CustosError, fromBase64, hmacSha256, toBase64, toHex } from "../../core/index.js";
import { aesGcmOpen, aesGcmSeal } from "../aead.js";
import { writeFileAtomic } from "../atomic-write.js";
import {
  dataKeyAad,
  entryAad,
  KEYSTORE_FORMAT,
  KEYSTORE_VERSION,
  type KeystoreDocument,
  MAX_ENTRIES,
  MAX_KEYSTORE_BYTES,
  macInput,
  parseKeystore,
  SECRET_NAME_PATTERN,
  type SealedBox,
  serializeKeystore,
  sortedEntries,
} from "./keystore-file.js";
import type { MasterKeyProvider } from "./master-key-provider.js";
import { MASTER_KEY_BYTES } from "./master-key-provider.js";

export const MAX_SECRET_BYTES = 16 * 2 ** 20;
const DEK_BYTES = 32;

interface SubKeys {
  readonly entries: Uint8Array;
  readonly mac: Uint8Array;
}

// RFC 5869: one DEK, two keys with separate jobs (sealing entries, authenticating the file).
function deriveSubKeys(dek: Uint8Array): SubKeys {
  const derive = (purpose: string) =>
    new Uint8Array(
      hkdfSync("sha256", dek, new Uint8Array(0), `${KEYSTORE_FORMAT}/v${KEYSTORE_VERSION}/${purpose}`, 32),
    );
  return { entries: derive("entries"), mac: derive("mac") };
}

function seal(key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): SealedBox {
  const nonce = new Uint8Array(randomBytes(12));
  return { nonce: toBase64(nonce), ciphertext: toBase64(aesGcmSeal(key, nonce, aad, plaintext)) };
}

/** Returns the plaintext, or undefined when the box does not authenticate. */
function tryOpen(key: Uint8Array, aad: Uint8Array, box: SealedBox): Uint8Array | undefined {
  try {
    return aesGcmOpen(key, fromBase64(box.nonce), aad, fromBase64(box.ciphertext));
  } catch {
    return undefined;
  }
}

function computeMac(macKey: Uint8Array, doc: Omit<KeystoreDocument, "mac">): string {
  return toBase64(hmacSha256(macKey, macInput(doc)));
}

function macMatches(macKey: Uint8Array, doc: KeystoreDocument): boolean {
  const expected = fromBase64(computeMac(macKey, doc));
  const actual = fromBase64(doc.mac);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function readKeystoreText(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CustosError("STORE_NOT_FOUND", `no keystore at ${path}`);
    throw new CustosError("STORE_CORRUPT", `cannot read the keystore ${path} (${code ?? "error"})`, {
      cause: error,
    });
  }
  if (bytes.length > MAX_KEYSTORE_BYTES)
    throw new CustosError("STORE_CORRUPT", `the keystore ${path} is too large`);
  return bytes.toString("utf8");
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}

function describeName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name);
}

export class Keystore {
  readonly path: string;
  #doc: KeystoreDocument;
  #dek: Uint8Array;
  #keys: SubKeys;
  #closed = false;

  private constructor(path: string, doc: KeystoreDocument, dek: Uint8Array, keys: SubKeys) {
    this.path = path;
    this.#doc = doc;
    this.#dek = dek;
    this.#keys = keys;
  }

  /** Makes a new, empty keystore sealed under the provider's master key; refuses to overwrite a file. */
  static async create(path: string, provider: MasterKeyProvider): Promise<Keystore> {
    const { key, params } = await provider.getMasterKey(undefined);
    const dek = new Uint8Array(randomBytes(DEK_BYTES));
    try {
      if (key.length !== MASTER_KEY_BYTES) {
        throw new CustosError("BAD_KEY", `${provider.describe()} did not give a 32-byte master key`);
      }
      const id = toHex(new Uint8Array(randomBytes(16)));
      const provided = { kind: provider.kind, params: { ...params } };
      const keys = deriveSubKeys(dek);
      const unsigned = {
        format: KEYSTORE_FORMAT,
        version: KEYSTORE_VERSION,
        id,
        provider: provided,
        dek: seal(key, dataKeyAad(id, provided.kind, provided.params), dek),
        entries: new Map<string, SealedBox>(),
      } as const;
      const doc: KeystoreDocument = { ...unsigned, mac: computeMac(keys.mac, unsigned) };
      writeFileAtomic(path, serializeKeystore(doc), { exclusive: true, mode: 0o600 });
      return new Keystore(path, doc, dek, keys);
    } catch (error) {
      dek.fill(0);
      throw error;
    } finally {
      key.fill(0);
    }
  }

  /** Unlocks an existing keystore; checks the whole file's integrity before returning. */
  static async open(path: string, provider: MasterKeyProvider): Promise<Keystore> {
    const doc = parseKeystore(path, readKeystoreText(path));
    if (doc.provider.kind !== provider.kind) {
      throw new CustosError(
        "KEYSTORE_LOCKED",
        `the keystore ${path} is sealed with ${article(doc.provider.kind)} ${doc.provider.kind} master key, but ${provider.describe()} was given: the master key does not open this keystore`,
      );
    }
    const { key } = await provider.getMasterKey(doc.provider.params);
    let dek: Uint8Array | undefined;
    try {
      dek = tryOpen(key, dataKeyAad(doc.id, doc.provider.kind, doc.provider.params), doc.dek);
    } finally {
      key.fill(0);
    }
    if (dek === undefined) {
      throw new CustosError(
        "KEYSTORE_LOCKED",
        `the master key does not open this keystore (${path}): ${provider.describe()} is not the one it is sealed under, or the file's provider parameters were altered`,
      );
    }
    if (dek.length !== DEK_BYTES) {
      dek.fill(0);
      throw new CustosError("STORE_CORRUPT", `the keystore ${path} holds a data key of the wrong size`);
    }
    const keys = deriveSubKeys(dek);
    if (!macMatches(keys.mac, doc)) {
      const failing = sortedEntries(doc.entries)
        .filter(([name, box]) => {
          const plaintext = tryOpen(keys.entries, entryAad(doc.id, name), box);
          plaintext?.fill(0);
          return plaintext === undefined;
        })
        .map(([name]) => describeName(name));
      dek.fill(0);
      keys.entries.fill(0);
      keys.mac.fill(0);
      throw new CustosError(
        "STORE_CORRUPT",
        failing.length > 0
          ? `the keystore ${path} was tampered with: the entries ${failing.join(", ")} do not authenticate (edited, swapped or copied from another keystore)`
          : `the keystore ${path} was tampered with: its integrity check fails (an entry was added, removed or replaced by an older copy)`,
      );
    }
    return new Keystore(path, doc, dek, keys);
  }

  /** The kind of master key the file is sealed under now ("passphrase", "key-file", "env", ...). */
  get providerKind(): string {
    return this.#doc.provider.kind;
  }

  /** The names of the secrets held, sorted; never their values. */
  names(): string[] {
    this.#checkOpen();
    return sortedEntries(this.#doc.entries).map(([name]) => name);
  }

  has(name: string): boolean {
    this.#checkOpen();
    return this.#doc.entries.has(name);
  }

  /** A fresh copy of the secret, owned by the caller (who should zero-fill it when done). */
  get(name: string): Uint8Array {
    this.#checkOpen();
    const box = this.#doc.entries.get(name);
    if (box === undefined) {
      throw new CustosError(
        "KEY_MISSING",
        `the keystore ${this.path} holds no secret named ${describeName(name)}`,
      );
    }
    const secret = tryOpen(this.#keys.entries, entryAad(this.#doc.id, name), box);
    if (secret === undefined) {
      throw new CustosError(
        "STORE_CORRUPT",
        `the secret ${describeName(name)} in ${this.path} does not authenticate`,
      );
    }
    return secret;
  }

  /** Adds or replaces a secret and writes the file atomically. The caller keeps ownership of `secret`. */
  async set(name: string, secret: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (typeof name !== "string" || !SECRET_NAME_PATTERN.test(name)) {
      throw new CustosError(
        "BAD_ARGUMENT",
        `${describeName(String(name))} is not a valid secret name (lower-case letters, digits, ".", "_", "-"; at most 64)`,
      );
    }
    if (!(secret instanceof Uint8Array) || secret.length > MAX_SECRET_BYTES) {
      throw new CustosError("BAD_ARGUMENT", `the secret ${describeName(name)} must be bytes, at most 16 MiB`);
    }
    if (!this.#doc.entries.has(name) && this.#doc.entries.size >= MAX_ENTRIES) {
      throw new CustosError("BAD_ARGUMENT", `the keystore ${this.path} is full (${MAX_ENTRIES} secrets)`);
    }
    const entries = new Map(this.#doc.entries);
    entries.set(name, seal(this.#keys.entries, entryAad(this.#doc.id, name), secret));
    this.#commit({ ...this.#doc, entries });
  }

  /** Removes a secret; returns whether it was there. */
  async delete(name: string): Promise<boolean> {
    this.#checkOpen();
    if (!this.#doc.entries.has(name)) return false;
    const entries = new Map(this.#doc.entries);
    entries.delete(name);
    this.#commit({ ...this.#doc, entries });
    return true;
  }

  /**
   * Re-wraps the data key under a new master key. The secrets' ciphertexts stay byte for byte the
   * same and nothing else (no log) is touched; the old master key no longer opens the file.
   */
  async rotateMasterKey(newProvider: MasterKeyProvider): Promise<void> {
    this.#checkOpen();
    const { key, params } = await newProvider.getMasterKey(undefined);
    try {
      this.#checkOpen();
      if (key.length !== MASTER_KEY_BYTES) {
        throw new CustosError("BAD_KEY", `${newProvider.describe()} did not give a 32-byte master key`);
      }
      const provider = { kind: newProvider.kind, params: { ...params } };
      const dek = seal(key, dataKeyAad(this.#doc.id, provider.kind, provider.params), this.#dek);
      this.#commit({ ...this.#doc, provider, dek });
    } finally {
      key.fill(0);
    }
  }

  /** Zero-fills the keys held in memory; the keystore cannot be used afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dek.fill(0);
    this.#keys.entries.fill(0);
    this.#keys.mac.fill(0);
  }

  #checkOpen(): void {
    if (this.#closed) throw new CustosError("KEYSTORE_LOCKED", `the keystore ${this.path} was closed`);
  }

  // Optimistic concurrency: refuse to overwrite changes another process made since this one read
  // the file, rather than silently losing them. The in-memory state changes only once the write lands.
  #commit(unsigned: Omit<KeystoreDocument, "mac">): void {
    const onDisk = parseKeystore(this.path, readKeystoreText(this.path));
    if (onDisk.mac !== this.#doc.mac) {
      throw new CustosError(
        "STORE_BUSY",
        `the keystore ${this.path} was changed by another process since it was opened; open it again and retry`,
      );
    }
    const doc: KeystoreDocument = { ...unsigned, mac: computeMac(this.#keys.mac, unsigned) };
    writeFileAtomic(this.path, serializeKeystore(doc), { mode: 0o600 });
    this.#doc = doc;
  }
}
