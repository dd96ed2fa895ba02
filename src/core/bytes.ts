// Byte helpers shared by every layer. Uint8Array only (never Buffer) so that core runs in the browser.

import { CustosError } from "./errors.js";

const textEncoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** Decodes UTF-8, refusing (BAD_ENCODING) invalid sequences rather than substituting U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new CustosError("BAD_ENCODING", "text is not valid UTF-8");
  }
}

/**
 * A zeroed buffer for a secret (a key, a DH output), held in an ArrayBuffer's backing store outside
 * the garbage-collected heap: V8 keeps small typed arrays on its heap and moves them as it collects,
 * leaving copies that a later zero-fill cannot reach; this memory stays where it is until freed.
 */
export function secretBytes(length: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(length));
}

/** concatBytes into secretBytes, for concatenations that hold a secret (zero-fill them after use). */
export function concatSecret(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = secretBytes(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Equality for public values (hashes, roots). Use constantTimeEqual for secrets. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Compares without an early exit, so timing does not reveal where two secrets differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// On Node the codecs below use Buffer's native base64/hex (a 1,000-record page is ~500 KB of base64,
// several milliseconds in a JavaScript loop); the browser uses the portable loops. Both accept and
// produce exactly the same text (strict, canonical), which the tests check against each other.
interface NodeBufferClass {
  from(buffer: ArrayBufferLike, byteOffset?: number, length?: number): NodeBufferView;
}
interface NodeBufferView {
  toString(encoding: "base64" | "hex"): string;
  write(text: string, encoding: "base64" | "hex"): number;
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferClass }).Buffer;

function nodeView(bytes: Uint8Array): NodeBufferView {
  return NodeBuffer!.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  return NodeBuffer === undefined ? toHexPortable(bytes) : nodeView(bytes).toString("hex");
}

function toHexPortable(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += HEX[byte >> 4]! + HEX[byte & 15]!;
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
    throw new CustosError("BAD_ENCODING", "not a hex string");
  const out = new Uint8Array(hex.length / 2);
  if (NodeBuffer !== undefined && out.length > 0) {
    nodeView(out).write(hex, "hex");
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_LOOKUP[B64.charCodeAt(i)] = i;

/** Standard padded base64 (RFC 4648 section 4), as C2SP notes use. */
export function toBase64(bytes: Uint8Array): string {
  return NodeBuffer === undefined ? toBase64Portable(bytes) : nodeView(bytes).toString("base64");
}

function toBase64Portable(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + "=";
  }
  return out;
}

/**
 * Strict standard padded base64: rejects missing or extra padding, whitespace, the URL alphabet
 * and non-zero trailing bits, so every byte string has exactly one accepted text form.
 */
export function fromBase64(text: string): Uint8Array {
  if (NodeBuffer === undefined || text.length === 0 || text.length % 4 !== 0) return fromBase64Portable(text);
  // Node's decoder is lenient; the text is accepted only if it is exactly the encoding of what it
  // decoded to, which is the portable decoder's rule (about 3 times faster than checking a pattern
  // first). Anything else goes to the portable decoder, for its error messages. Decoded into an
  // array of its own, never a pooled Buffer.
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  const view = nodeView(out);
  if (view.write(text, "base64") !== out.length || view.toString("base64") !== text)
    return fromBase64Portable(text);
  return out;
}

function fromBase64Portable(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new CustosError("BAD_ENCODING", "base64 length is not a multiple of 4");
  let padding = 0;
  if (text.endsWith("==")) padding = 2;
  else if (text.endsWith("=")) padding = 1;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const values = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) {
      const code = text.charCodeAt(i + j);
      if (last && j >= 4 - padding) {
        if (code !== 61) throw new CustosError("BAD_ENCODING", "bad base64 padding");
        continue;
      }
      const v = code < 128 ? B64_LOOKUP[code]! : -1;
      if (v < 0) throw new CustosError("BAD_ENCODING", "invalid base64 character");
      values[j] = v;
    }
    const n = (values[0]! << 18) | (values[1]! << 12) | (values[2]! << 6) | values[3]!;
    if (last && padding === 2 && (n & 0xffff) !== 0)
      throw new CustosError("BAD_ENCODING", "non-canonical base64");
    if (last && padding === 1 && (n & 0xff) !== 0)
      throw new CustosError("BAD_ENCODING", "non-canonical base64");
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

/** The browser's codecs, for tests that hold them to the Node ones. */
export const portableCodecs = {
  toHex: toHexPortable,
  toBase64: toBase64Portable,
  fromBase64: fromBase64Portable,
};

export function u64be(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}
