// The byte codecs: on Node they use Buffer's native base64 and hex, in the browser portable loops.
// Both must accept and produce exactly the same text (strict, canonical base64 of RFC 4648 section 4),
// so a checkpoint or proof reads the same in the portal as on the server.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64, fromHex, portableCodecs, toBase64, toHex } from "../../src/core/bytes.js";
import { CustosError } from "../../src/core/errors.js";

const attempt = (decode: (text: string) => Uint8Array, text: string): string => {
  try {
    return `ok:${Buffer.from(decode(text)).toString("hex")}`;
  } catch (error) {
    expect(error).toBeInstanceOf(CustosError);
    return `error:${(error as Error).message}`;
  }
};

describe("byte codecs", () => {
  it("match RFC 4648 section 10 test vectors", () => {
    const vectors = ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"];
    ["", "f", "fo", "foo", "foob", "fooba", "foobar"].forEach((text, i) => {
      const bytes = new TextEncoder().encode(text);
      expect(toBase64(bytes)).toBe(vectors[i]);
      expect(portableCodecs.toBase64(bytes)).toBe(vectors[i]);
      expect(fromBase64(vectors[i]!)).toEqual(bytes);
    });
  });

  it("encode like the portable codecs, and round-trip, for any bytes (including views into a larger buffer)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(8), (data, offset) => {
        const backing = new Uint8Array(offset + data.length + 3).fill(0xee);
        backing.set(data, offset);
        const view = backing.subarray(offset, offset + data.length);
        expect(toBase64(view)).toBe(portableCodecs.toBase64(data));
        expect(toHex(view)).toBe(portableCodecs.toHex(data));
        expect(fromBase64(toBase64(view))).toEqual(data);
        expect(fromHex(toHex(view))).toEqual(data);
        expect(fromBase64(toBase64(view))).not.toBeInstanceOf(Buffer);
      }),
    );
  });

  it("accept and refuse exactly the texts the portable decoder does, with the same errors", () => {
    const alphabet = "AQgwEIZz09+/=-_ \n";
    const texts = fc.oneof(
      fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 12 }),
      fc.uint8Array({ maxLength: 20 }).map((b) => portableCodecs.toBase64(b)),
      // A valid text with one character changed: padding, trailing bits, alphabet.
      fc
        .tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.nat(), fc.constantFrom(...alphabet))
        .map(([b, at, c]) => {
          const text = portableCodecs.toBase64(b);
          const i = at % text.length;
          return text.slice(0, i) + c + text.slice(i + 1);
        }),
    );
    fc.assert(
      fc.property(texts, (text) => {
        expect(attempt(fromBase64, text)).toBe(attempt(portableCodecs.fromBase64, text));
      }),
      { numRuns: 2000 },
    );
    for (const bad of ["Zh==", "Zm9=", "Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v\n", "Zm-v"]) {
      expect(() => fromBase64(bad)).toThrow(CustosError);
    }
  });

  it("refuse malformed hex", () => {
    for (const bad of ["0", "0g", "zz", " 00"]) expect(() => fromHex(bad)).toThrow(CustosError);
    expect(fromHex("00ffA0")).toEqual(new Uint8Array([0, 255, 160]));
  });
});
