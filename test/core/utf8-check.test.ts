import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstInvalidUtf8 } from "../../src/core/utf8-check.js";

const strict = new TextDecoder("utf-8", { fatal: true });
const valid = (bytes: Uint8Array) => {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

describe("firstInvalidUtf8", () => {
  it("finds the ill-formed sequences of Unicode's table 3-7", () => {
    const at = (...b: number[]) => firstInvalidUtf8(Uint8Array.from(b));
    expect(at(0x61, 0xc0, 0xaf)).toBe(1); // overlong "/"
    expect(at(0xe0, 0x80, 0xaf)).toBe(0); // overlong 3-byte
    expect(at(0xed, 0xa0, 0x80)).toBe(0); // surrogate D800
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(0); // above U+10FFFF
    expect(at(0xf5, 0x80, 0x80, 0x80)).toBe(0);
    expect(at(0x61, 0x62, 0xe2, 0x82)).toBe(2); // truncated
    expect(at(0x80)).toBe(0); // lone continuation
    expect(at(0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0x9f, 0xbf)).toBe(-1); // U+FFFD, U+1F600, U+D7FF
  });

  it("agrees with a fatal TextDecoder on every byte string, and the prefix before it decodes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const offset = firstInvalidUtf8(bytes);
        expect(offset === -1).toBe(valid(bytes));
        if (offset >= 0) expect(valid(bytes.subarray(0, offset))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("agrees on mostly well-formed text with one corruption", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.nat(),
        fc.integer({ min: 0x80, max: 0xff }),
        (text, at, byte) => {
          const bytes = new TextEncoder().encode(text);
          if (bytes.length === 0) return;
          bytes[at % bytes.length] = byte;
          expect(firstInvalidUtf8(bytes) === -1).toBe(valid(bytes));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
