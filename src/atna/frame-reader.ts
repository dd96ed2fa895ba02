// Splits a syslog TLS stream into frames: RFC 5425 4.3 octet counting (`MSG-LEN SP SYSLOG-MSG`), and,
// tolerated, RFC 6587 3.4.2 non-transparent framing (a message starting with "<", ended by LF).
// Frames come out whole or not at all; a frame over the size limit is skipped (its length is known)
// and reported, never partly returned. A stream whose framing is lost cannot be resynchronised
// safely, so that is an error the caller answers by closing the connection.

import { CustosError } from "../core/index.js";

export type Frame =
  | { readonly kind: "message"; readonly bytes: Uint8Array }
  | { readonly kind: "oversize"; readonly length: number };

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const LESS_THAN = 0x3c;
const ZERO = 0x30;
const NINE = 0x39;
/** MSG-LEN digits allowed: enough for any frame limit up to 1 GB. */
const MAX_LENGTH_DIGITS = 9;

export class FrameReader {
  readonly #maxFrame: number;
  #buffer = new Uint8Array(0);
  /** Bytes of an oversize octet-counted frame still to be thrown away. */
  #skipping = 0;

  /** `maxFrame`: the largest SYSLOG-MSG accepted (RFC 5425 4.3.1: at least 2048, should 8192). */
  constructor(maxFrame: number) {
    if (!Number.isSafeInteger(maxFrame) || maxFrame < 2048)
      throw new CustosError("CONFIG", "the syslog frame limit must be at least 2048 bytes (RFC 5425 4.3.1)");
    this.#maxFrame = maxFrame;
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buffer.length;
  }

  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#skipping > 0) {
      const dropped = Math.min(this.#skipping, data.length);
      this.#skipping -= dropped;
      data = data.subarray(dropped);
    }
    if (data.length === 0) return;
    const joined = new Uint8Array(this.#buffer.length + data.length);
    joined.set(this.#buffer);
    joined.set(data, this.#buffer.length);
    this.#buffer = joined;
  }

  /**
   * The next complete frame, or undefined until more bytes arrive. Throws BAD_ENCODING when the stream
   * does not follow either framing (the connection must then be closed).
   */
  next(): Frame | undefined {
    if (this.#skipping > 0) return undefined;
    let start = 0;
    // Stray line ends between frames (some senders end octet-counted frames with LF) are skipped.
    while (start < this.#buffer.length && (this.#buffer[start] === LF || this.#buffer[start] === CR)) start++;
    if (start > 0) this.#buffer = this.#buffer.subarray(start);
    const buffer = this.#buffer;
    if (buffer.length === 0) return undefined;
    const first = buffer[0]!;
    if (first === LESS_THAN) return this.#nonTransparent();
    if (first <= ZERO || first > NINE)
      throw new CustosError("BAD_ENCODING", "the stream is not syslog framing (RFC 5425 4.3 octet counting)");
    let at = 0;
    let length = 0;
    while (at < buffer.length && buffer[at]! >= ZERO && buffer[at]! <= NINE) {
      if (at === MAX_LENGTH_DIGITS)
        throw new CustosError("BAD_ENCODING", "a syslog frame length has too many digits");
      length = length * 10 + (buffer[at]! - ZERO);
      at++;
    }
    if (at === buffer.length) return undefined;
    if (buffer[at] !== SPACE)
      throw new CustosError("BAD_ENCODING", "a syslog frame length is not followed by a space");
    const body = at + 1;
    if (length > this.#maxFrame) {
      const held = buffer.length - body;
      this.#skipping = Math.max(0, length - held);
      this.#buffer = buffer.subarray(Math.min(buffer.length, body + length)).slice();
      return { kind: "oversize", length };
    }
    if (buffer.length - body < length) return undefined;
    const bytes = buffer.slice(body, body + length);
    this.#buffer = buffer.subarray(body + length);
    return { kind: "message", bytes };
  }

  #nonTransparent(): Frame | undefined {
    const buffer = this.#buffer;
    const end = buffer.indexOf(LF);
    if (end < 0) {
      if (buffer.length > this.#maxFrame)
        throw new CustosError("BAD_ENCODING", "a line-framed syslog message exceeds the frame limit");
      return undefined;
    }
    const stop = end > 0 && buffer[end - 1] === CR ? end - 1 : end;
    if (stop > this.#maxFrame) {
      this.#buffer = buffer.subarray(end + 1);
      return { kind: "oversize", length: stop };
    }
    const bytes = buffer.slice(0, stop);
    this.#buffer = buffer.subarray(end + 1);
    return { kind: "message", bytes };
  }
}
