// C2SP signed-note: text (UTF-8, every line ending in "\n", no other control characters), a blank
// line, then signature lines "— <name> <base64(key ID || signature)>". Signing is byte-identical
// to Go's sumdb/note; opening follows its rules: unknown signers are listed but ignored, a failing
// signature by a known key rejects the note, and at least one known key must have signed.

import { concatBytes, fromBase64, toBase64, u32be, u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { ed25519Sign, ed25519Verify } from "../platform.js";
import {
  isValidKeyName,
  isWellFormedUnicode,
  KEY_TYPES,
  parseSignerKey,
  parseVerifierKey,
  type VerifierKey,
} from "./keys.js";

const SIGNATURE_PREFIX = "\u2014 ";
export const MAX_NOTE_BYTES = 1 << 20;
export const MAX_SIGNATURES = 100;

export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** Signature bytes after the 4-byte key ID. */
  readonly signature: Uint8Array;
  /** The base64 text of the line. */
  readonly base64: string;
}

export interface ParsedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

export interface OpenedSignature {
  readonly name: string;
  readonly keyId: number;
  readonly verified: boolean;
  /** Cosignature time in seconds since the epoch (c2sp.org/tlog-cosignature), when verified. */
  readonly timestamp?: number;
}

export interface OpenedNote {
  readonly text: string;
  readonly signatures: readonly OpenedSignature[];
}

/** Checks the text part: non-empty, ends in "\n", well-formed, no control characters but "\n". */
export function checkNoteText(text: string): void {
  if (text.length === 0 || !text.endsWith("\n"))
    throw new CustosError("BAD_NOTE", "note text must end with a newline");
  if (!isWellFormedUnicode(text)) throw new CustosError("BAD_NOTE", "note text is not valid UTF-8");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) {
    throw new CustosError("BAD_NOTE", "note text contains a control character other than newline");
  }
}

export function signatureLine(name: string, keyId: number, signature: Uint8Array): string {
  return `${SIGNATURE_PREFIX}${name} ${toBase64(concatBytes(u32be(keyId), signature))}\n`;
}

/** Signs text with one or more signer keys (Go sumdb/note text form); returns the whole note. */
export function signNote(text: string, signerKey: string | readonly string[]): string {
  checkNoteText(text);
  const keys = (typeof signerKey === "string" ? [signerKey] : signerKey).map(parseSignerKey);
  if (keys.length === 0) throw new CustosError("BAD_ARGUMENT", "signNote needs at least one signer key");
  const message = utf8(text);
  const seen = new Set<string>();
  let lines = "";
  for (const key of keys) {
    if (key.type !== KEY_TYPES.ed25519) {
      throw new CustosError(
        "BAD_KEY",
        "a note signer key must be Ed25519 (type 0x01); cosigner keys sign with cosign()",
      );
    }
    const id = `${key.name}\n${key.keyId}`;
    if (seen.has(id)) throw new CustosError("BAD_ARGUMENT", "duplicate signer");
    seen.add(id);
    lines += signatureLine(key.name, key.keyId, ed25519Sign(key.seed, message));
  }
  return `${text}\n${lines}`;
}

/** Splits and parses a note without verifying anything; throws BAD_NOTE if malformed. */
export function parseNote(note: string): ParsedNote {
  if (typeof note !== "string") throw new CustosError("BAD_NOTE", "a note must be text");
  if (utf8(note).length > MAX_NOTE_BYTES) throw new CustosError("BAD_NOTE", "note is larger than 1 MiB");
  if (!isWellFormedUnicode(note)) throw new CustosError("BAD_NOTE", "note is not valid UTF-8");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note))
    throw new CustosError("BAD_NOTE", "note contains a control character");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new CustosError("BAD_NOTE", "note has no signature block (no blank line)");
  const text = note.slice(0, split + 1);
  let block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith("\n")) {
    throw new CustosError("BAD_NOTE", "note signature block is empty or does not end with a newline");
  }
  const signatures: NoteSignature[] = [];
  while (block.length > 0) {
    const end = block.indexOf("\n");
    const line = block.slice(0, end);
    block = block.slice(end + 1);
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new CustosError("BAD_NOTE", "malformed signature line");
    const body = line.slice(SIGNATURE_PREFIX.length);
    const space = body.indexOf(" ");
    const name = space < 0 ? body : body.slice(0, space);
    const base64 = space < 0 ? "" : body.slice(space + 1);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(base64);
    } catch {
      throw new CustosError("BAD_NOTE", "signature is not valid base64");
    }
    if (!isValidKeyName(name) || base64 === "" || bytes.length < 5) {
      throw new CustosError("BAD_NOTE", "malformed signature line");
    }
    if (signatures.length >= MAX_SIGNATURES)
      throw new CustosError("BAD_NOTE", "note has too many signatures");
    const keyId = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
    signatures.push({ name, keyId, signature: bytes.slice(4), base64 });
  }
  return { text, signatures };
}

/** The message a cosigner signs (c2sp.org/tlog-cosignature). */
export function cosignatureMessage(body: string, timestamp: bigint): Uint8Array {
  return utf8(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

function verifyOne(
  key: VerifierKey,
  text: string,
  signature: Uint8Array,
): { ok: boolean; timestamp?: number } {
  if (key.type === KEY_TYPES.ed25519) return { ok: ed25519Verify(key.publicKey, utf8(text), signature) };
  // Cosignature: 8-byte big-endian timestamp, then the Ed25519 signature.
  if (signature.length !== 72) return { ok: false };
  const timestamp = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0);
  const ok = ed25519Verify(key.publicKey, cosignatureMessage(text, timestamp), signature.subarray(8));
  return ok ? { ok, timestamp: Number(timestamp) } : { ok };
}

/**
 * Opens a note against known verifier keys (Ed25519 or cosignature keys, text form). Throws
 * BAD_NOTE if malformed, BAD_SIGNATURE if a known key's signature fails, UNKNOWN_KEY if no known
 * key signed it.
 */
export function openNote(note: string, verifierKeys: readonly string[]): OpenedNote {
  const parsed = parseNote(note);
  checkNoteText(parsed.text);
  const known = verifierKeys.map(parseVerifierKey);
  const seen = new Set<string>();
  const signatures: OpenedSignature[] = [];
  let verifiedCount = 0;
  for (const sig of parsed.signatures) {
    const id = `${sig.name}\n${sig.keyId}`;
    const key = known.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (seen.has(id)) continue;
    seen.add(id);
    if (key === undefined) {
      signatures.push({ name: sig.name, keyId: sig.keyId, verified: false });
      continue;
    }
    const result = verifyOne(key, parsed.text, sig.signature);
    if (!result.ok) {
      throw new CustosError(
        "BAD_SIGNATURE",
        `the signature by ${sig.name} (key ${sig.keyId.toString(16).padStart(8, "0")}) does not verify`,
      );
    }
    verifiedCount++;
    signatures.push({
      name: sig.name,
      keyId: sig.keyId,
      verified: true,
      ...(result.timestamp !== undefined ? { timestamp: result.timestamp } : {}),
    });
  }
  if (verifiedCount === 0)
    throw new CustosError("UNKNOWN_KEY", "the note carries no signature by a known key");
  return { text: parsed.text, signatures };
}

/** A cosignature line over a checkpoint body (c2sp.org/tlog-cosignature), by a type-0x04 key. */
export function cosign(body: string, cosignerKey: string, timeSeconds: number | bigint): string {
  checkNoteText(body);
  const key = parseSignerKey(cosignerKey);
  if (key.type !== KEY_TYPES.cosignatureV1)
    throw new CustosError("BAD_KEY", "a cosigner key must be of type 0x04");
  const timestamp = BigInt(timeSeconds);
  if (timestamp < 0n || timestamp >= 1n << 64n)
    throw new CustosError("BAD_ARGUMENT", "cosignature time out of range");
  const signature = ed25519Sign(key.seed, cosignatureMessage(body, timestamp));
  return signatureLine(key.name, key.keyId, concatBytes(u64be(timestamp), signature));
}

/** Verifies one cosignature line against a cosigner verifier key; never throws. */
export function verifyCosignature(
  body: string,
  line: string,
  cosignerVerifierKey: string,
): { ok: boolean; timestamp?: number } {
  try {
    const key = parseVerifierKey(cosignerVerifierKey);
    if (key.type !== KEY_TYPES.cosignatureV1) return { ok: false };
    const parsed = parseNote(`${body}\n${line.endsWith("\n") ? line : `${line}\n`}`);
    const sig = parsed.signatures[0];
    if (!sig || parsed.signatures.length !== 1 || sig.name !== key.name || sig.keyId !== key.keyId)
      return { ok: false };
    return verifyOne(key, body, sig.signature);
  } catch {
    return { ok: false };
  }
}
