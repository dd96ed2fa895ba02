// The keystore's on-disk JSON format (docs/keystore.md): parsing that treats the file as hostile,
// a deterministic serialization, and the byte strings that bind every ciphertext to its place
// (associated data) and the whole file to its data key (the integrity MAC input).

import { CustosError, fromBase64, utf8 } from "../../core/index.js";
import type { MasterKeyParams } from "./master-key-provider.js";

export const KEYSTORE_FORMAT = "custos-keystore";
export const KEYSTORE_VERSION = 2;

/** Secret names: lower-case words with digits, dots, dashes and underscores, up to 64 characters. */
export const SECRET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const MAX_ENTRIES = 10_000;
export const MAX_KEYSTORE_BYTES = 64 * 2 ** 20;

const ID_PATTERN = /^[0-9a-f]{32}$/;
const KIND_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const PARAM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_PARAMS = 16;
const MAX_PARAM_LENGTH = 4096;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** An AES-256-GCM result: a 12-byte nonce and the ciphertext with its 16-byte tag appended, both base64. */
export interface SealedBox {
  readonly nonce: string;
  readonly ciphertext: string;
}

export interface KeystoreDocument {
  readonly format: typeof KEYSTORE_FORMAT;
  readonly version: typeof KEYSTORE_VERSION;
  /** 128 random bits, hex: binds every ciphertext to this file. */
  readonly id: string;
  readonly provider: { readonly kind: string; readonly params: MasterKeyParams };
  /** The data-encryption key, sealed under the master key. */
  readonly dek: SealedBox;
  /** Each secret sealed under the data key, by name. */
  readonly entries: ReadonlyMap<string, SealedBox>;
  /** HMAC-SHA256 over the rest of the file under a key derived from the data key, base64. */
  readonly mac: string;
}

function corrupt(path: string, what: string): CustosError {
  return new CustosError("STORE_CORRUPT", `the keystore ${path} is damaged or was edited: ${what}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasExactly(value: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

function base64Length(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  try {
    return fromBase64(text).length;
  } catch {
    return undefined;
  }
}

function parseSealed(path: string, value: unknown, where: string): SealedBox {
  if (!isPlainObject(value) || !hasExactly(value, ["nonce", "ciphertext"])) {
    throw corrupt(path, `${where} is not { nonce, ciphertext }`);
  }
  if (base64Length(value.nonce) !== NONCE_BYTES) throw corrupt(path, `${where} has a bad nonce`);
  const length = base64Length(value.ciphertext);
  if (length === undefined || length < TAG_BYTES) throw corrupt(path, `${where} has a bad ciphertext`);
  return { nonce: value.nonce as string, ciphertext: value.ciphertext as string };
}

function parseParams(path: string, value: unknown): MasterKeyParams {
  if (!isPlainObject(value)) throw corrupt(path, "provider.params is not an object");
  const entries = Object.entries(value);
  if (entries.length > MAX_PARAMS) throw corrupt(path, "provider.params has too many fields");
  const params: Record<string, string | number> = {};
  for (const [key, item] of entries) {
    const ok =
      PARAM_NAME_PATTERN.test(key) &&
      ((typeof item === "string" && item.length <= MAX_PARAM_LENGTH) ||
        (typeof item === "number" && Number.isFinite(item)));
    if (!ok) throw corrupt(path, "provider.params holds a field that is not a short string or a number");
    params[key] = item as string | number;
  }
  return params;
}

export function parseKeystore(path: string, text: string): KeystoreDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw corrupt(path, "it is not valid JSON");
  }
  if (!isPlainObject(json) || json.format !== KEYSTORE_FORMAT) {
    throw new CustosError("STORE_CORRUPT", `${path} is not a Custos keystore`);
  }
  if (json.version !== KEYSTORE_VERSION) {
    throw new CustosError(
      "STORE_CORRUPT",
      `the keystore ${path} has format version ${JSON.stringify(json.version)}; this build reads version ${KEYSTORE_VERSION}`,
    );
  }
  if (!hasExactly(json, ["format", "version", "id", "provider", "dek", "entries", "mac"])) {
    throw corrupt(path, "its top-level fields are not format, version, id, provider, dek, entries, mac");
  }
  if (typeof json.id !== "string" || !ID_PATTERN.test(json.id))
    throw corrupt(path, "its id is not 32 hex digits");
  const provider = json.provider;
  if (!isPlainObject(provider) || !hasExactly(provider, ["kind", "params"])) {
    throw corrupt(path, "provider is not { kind, params }");
  }
  if (typeof provider.kind !== "string" || !KIND_PATTERN.test(provider.kind)) {
    throw corrupt(path, "provider.kind is not a provider name");
  }
  const params = parseParams(path, provider.params);
  const dek = parseSealed(path, json.dek, "dek");
  if (!isPlainObject(json.entries)) throw corrupt(path, "entries is not an object");
  const names = Object.keys(json.entries);
  if (names.length > MAX_ENTRIES) throw corrupt(path, "it holds too many entries");
  const entries = new Map<string, SealedBox>();
  for (const name of names) {
    if (!SECRET_NAME_PATTERN.test(name)) throw corrupt(path, "an entry has an invalid name");
    entries.set(name, parseSealed(path, json.entries[name], `entry "${name}"`));
  }
  if (base64Length(json.mac) !== 32) throw corrupt(path, "its mac is not 32 bytes of base64");
  return {
    format: KEYSTORE_FORMAT,
    version: KEYSTORE_VERSION,
    id: json.id,
    provider: { kind: provider.kind, params },
    dek,
    entries,
    mac: json.mac as string,
  };
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedParams(params: MasterKeyParams): [string, string | number][] {
  return Object.entries(params).sort(([a], [b]) => byCodeUnit(a, b));
}

export function sortedEntries(entries: ReadonlyMap<string, SealedBox>): [string, SealedBox][] {
  return [...entries].sort(([a], [b]) => byCodeUnit(a, b));
}

/** Pretty JSON with a fixed field order and entries sorted by name, so equal content gives equal bytes. */
export function serializeKeystore(doc: KeystoreDocument): string {
  const entries: Record<string, SealedBox> = {};
  for (const [name, box] of sortedEntries(doc.entries))
    entries[name] = { nonce: box.nonce, ciphertext: box.ciphertext };
  const json = {
    format: doc.format,
    version: doc.version,
    id: doc.id,
    provider: { kind: doc.provider.kind, params: Object.fromEntries(sortedParams(doc.provider.params)) },
    dek: { nonce: doc.dek.nonce, ciphertext: doc.dek.ciphertext },
    entries,
    mac: doc.mac,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

// Field separators below are newlines: ids are hex, kinds and names exclude "\n", and params are
// JSON-encoded, so no two different inputs give the same bytes.

/** Associated data of the wrapped data key: binds it to this file and to how the master key is made. */
export function dataKeyAad(id: string, kind: string, params: MasterKeyParams): Uint8Array {
  return utf8(
    `${KEYSTORE_FORMAT}/v${KEYSTORE_VERSION}/dek\n${id}\n${kind}\n${JSON.stringify(sortedParams(params))}`,
  );
}

/** Associated data of one secret: binds it to this file and its name, so entries cannot be swapped or moved. */
export function entryAad(id: string, name: string): Uint8Array {
  return utf8(`${KEYSTORE_FORMAT}/v${KEYSTORE_VERSION}/entry\n${id}\n${name}`);
}

/** What the integrity MAC covers: every field but the MAC, in a canonical form. */
export function macInput(doc: Omit<KeystoreDocument, "mac">): Uint8Array {
  return utf8(
    JSON.stringify([
      `${KEYSTORE_FORMAT}/v${KEYSTORE_VERSION}/mac`,
      doc.id,
      doc.provider.kind,
      sortedParams(doc.provider.params),
      [doc.dek.nonce, doc.dek.ciphertext],
      sortedEntries(doc.entries).map(([name, box]) => [name, box.nonce, box.ciphertext]),
    ]),
  );
}
