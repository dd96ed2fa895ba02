// Signer and verifier keys in the text form of Go's golang.org/x/mod/sumdb/note (C2SP signed-note):
//   verifier: <name>+<8 hex key ID>+<base64(type || public key)>
//   signer:   PRIVATE+KEY+<name>+<8 hex key ID>+<base64(type || seed)>
// so keys move between Custos, Go's tools and public witnesses unchanged. Error messages never
// contain key material.

import { concatBytes, fromBase64, toBase64, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { ed25519PublicKey, randomBytes, sha256 } from "../platform.js";

/** c2sp.org/signed-note signature types. */
export const KEY_TYPES = { ed25519: 0x01, cosignatureV1: 0x04 } as const;
export type KeyType = (typeof KEY_TYPES)[keyof typeof KEY_TYPES];

export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: KeyType;
  readonly publicKey: Uint8Array;
  /** The key's text form, as given. */
  readonly text: string;
}

export interface SignerKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: KeyType;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** c2sp.org/signed-note: non-empty, valid UTF-8, no Unicode whitespace, no "+". */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s\u0085+]/u.test(name) && isWellFormedUnicode(name);
}

/** No lone surrogates: the string round-trips through UTF-8 unchanged. */
export function isWellFormedUnicode(text: string): boolean {
  return new TextDecoder().decode(utf8(text)) === text;
}

/** First 4 bytes, big-endian, of SHA-256(name || "\n" || type || public key). */
export function keyId(name: string, type: number, publicKey: Uint8Array): number {
  const digest = sha256(concatBytes(utf8(name), utf8("\n"), new Uint8Array([type]), publicKey));
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0);
}

export function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, "0");
}

function splitOnce(text: string): [string, string] | undefined {
  const at = text.indexOf("+");
  return at < 0 ? undefined : [text.slice(0, at), text.slice(at + 1)];
}

function parseHexId(text: string): number | undefined {
  return /^[0-9a-f]{8}$/.test(text) ? Number.parseInt(text, 16) : undefined;
}

function decodeKeyBytes(text: string): Uint8Array | undefined {
  try {
    return fromBase64(text);
  } catch {
    return undefined;
  }
}

function knownType(type: number | undefined): type is KeyType {
  return type === KEY_TYPES.ed25519 || type === KEY_TYPES.cosignatureV1;
}

export function parseVerifierKey(text: string): VerifierKey {
  const bad = (why: string) => new CustosError("BAD_KEY", `malformed verifier key: ${why}`);
  const first = splitOnce(text);
  if (!first) throw bad("expected name+keyid+key");
  const [name, rest] = first;
  const second = splitOnce(rest);
  if (!second) throw bad("expected name+keyid+key");
  const [hex, key64] = second;
  if (!isValidKeyName(name)) throw bad("invalid key name");
  const id = parseHexId(hex);
  if (id === undefined) throw bad("the key ID is not 8 lowercase hex digits");
  const bytes = decodeKeyBytes(key64);
  if (!bytes || bytes.length === 0) throw bad("the key is not valid base64");
  const type = bytes[0];
  if (!knownType(type)) throw bad(`unknown key type ${type}`);
  const publicKey = bytes.slice(1);
  if (publicKey.length !== 32) throw bad("an Ed25519 public key is 32 bytes");
  if (keyId(name, type, publicKey) !== id) throw bad("the key ID does not match the key");
  return { name, keyId: id, type, publicKey, text };
}

export function parseSignerKey(text: string): SignerKey {
  const bad = (why: string) => new CustosError("BAD_KEY", `malformed signer key: ${why}`);
  if (!text.startsWith("PRIVATE+KEY+")) throw bad("expected PRIVATE+KEY+name+keyid+key");
  const parts = splitOnce(text.slice("PRIVATE+KEY+".length));
  if (!parts) throw bad("expected PRIVATE+KEY+name+keyid+key");
  const [name, rest] = parts;
  const second = splitOnce(rest);
  if (!second) throw bad("expected PRIVATE+KEY+name+keyid+key");
  const [hex, key64] = second;
  if (!isValidKeyName(name)) throw bad("invalid key name");
  const id = parseHexId(hex);
  if (id === undefined) throw bad("the key ID is not 8 lowercase hex digits");
  const bytes = decodeKeyBytes(key64);
  if (!bytes || bytes.length === 0) throw bad("the key is not valid base64");
  const type = bytes[0];
  if (!knownType(type)) throw bad("unknown key type");
  const seed = bytes.slice(1);
  if (seed.length !== 32) throw bad("an Ed25519 seed is 32 bytes");
  const publicKey = ed25519PublicKey(seed);
  if (keyId(name, type, publicKey) !== id) throw bad("the key ID does not match the key");
  return { name, keyId: id, type, seed, publicKey };
}

export function formatVerifierKey(name: string, type: KeyType, publicKey: Uint8Array): string {
  return `${name}+${keyIdHex(keyId(name, type, publicKey))}+${toBase64(concatBytes(new Uint8Array([type]), publicKey))}`;
}

export function formatSignerKey(name: string, type: KeyType, seed: Uint8Array): string {
  const publicKey = ed25519PublicKey(seed);
  return `PRIVATE+KEY+${name}+${keyIdHex(keyId(name, type, publicKey))}+${toBase64(concatBytes(new Uint8Array([type]), seed))}`;
}

function generate(name: string, type: KeyType): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name))
    throw new CustosError("BAD_KEY", "a key name must be non-empty, without spaces or '+'");
  const seed = randomBytes(32);
  return {
    signerKey: formatSignerKey(name, type, seed),
    verifierKey: formatVerifierKey(name, type, ed25519PublicKey(seed)),
  };
}

/** A new Ed25519 note-signing key pair (type 0x01), e.g. for a log named by its origin. */
export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  return generate(name, KEY_TYPES.ed25519);
}

/** A new witness cosigning key pair (c2sp.org/tlog-cosignature, type 0x04). */
export function generateCosignerKey(name: string): { signerKey: string; verifierKey: string } {
  return generate(name, KEY_TYPES.cosignatureV1);
}

export function verifierKeyFromSigner(signerKey: string): string {
  const key = parseSignerKey(signerKey);
  return formatVerifierKey(key.name, key.type, key.publicKey);
}
