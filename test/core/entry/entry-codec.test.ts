import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CONTENT_HASH_TAG,
  contentHashOf,
  decodeDataEntry,
  decodeEntry,
  encodeDataEntry,
  encodeEntry,
  MAX_ENTRY_BYTES,
} from "../../../src/core/entry/index.js";
import { CustosError } from "../../../src/core/errors.js";

const fieldsArbitrary = fc
  .uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 12 })
  .chain((tags) =>
    fc.tuple(
      ...tags
        .sort((a, b) => a - b)
        .map((tag) => fc.uint8Array({ maxLength: 64 }).map((value) => ({ tag, value }))),
    ),
  );
const entryArbitrary = fc.record({ kind: fc.integer({ min: 1, max: 255 }), fields: fieldsArbitrary });

describe("entry encoding", () => {
  it("round-trips every well-formed entry byte for byte", () => {
    fc.assert(
      fc.property(entryArbitrary, (entry) => {
        const bytes = encodeEntry(entry);
        const decoded = decodeEntry(bytes);
        expect(decoded.kind).toBe(entry.kind);
        expect(decoded.fields.map((f) => [f.tag, [...f.value]])).toEqual(
          entry.fields.map((f) => [f.tag, [...f.value]]),
        );
        expect(encodeEntry(decoded)).toEqual(bytes);
      }),
    );
  });

  it("never throws anything but a CustosError on arbitrary bytes, and accepts only canonical encodings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const decoded = decodeEntry(bytes);
          expect(encodeEntry(decoded)).toEqual(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(CustosError);
          expect((error as CustosError).code).toBe("BAD_ENCODING");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects unordered or repeated tags, truncation, kind 0 and unknown versions", () => {
    const good = encodeEntry({
      kind: 1,
      fields: [
        { tag: 1, value: new Uint8Array([1]) },
        { tag: 2, value: new Uint8Array() },
      ],
    });
    const swapped = good.slice();
    swapped[2] = 2;
    swapped[8] = 1;
    for (const bad of [
      good.subarray(0, good.length - 1),
      swapped,
      new Uint8Array([1, 0]),
      new Uint8Array([2, 1]),
      new Uint8Array([1]),
    ]) {
      expect(() => decodeEntry(bad)).toThrow(CustosError);
    }
    expect(() =>
      encodeEntry({
        kind: 1,
        fields: [
          { tag: 3, value: new Uint8Array() },
          { tag: 3, value: new Uint8Array() },
        ],
      }),
    ).toThrow(/strictly increase/);
    expect(() =>
      encodeEntry({ kind: 1, fields: [{ tag: 1, value: new Uint8Array(MAX_ENTRY_BYTES) }] }),
    ).toThrow(/limit/);
  });

  it("round-trips data entries and finds a committed content hash", () => {
    const payload = new TextEncoder().encode("hello");
    expect(decodeDataEntry(encodeDataEntry(payload))).toEqual(payload);
    const hash = new Uint8Array(32).fill(9);
    expect(
      contentHashOf(decodeEntry(encodeEntry({ kind: 2, fields: [{ tag: CONTENT_HASH_TAG, value: hash }] }))),
    ).toEqual(hash);
    expect(() =>
      contentHashOf(
        decodeEntry(encodeEntry({ kind: 2, fields: [{ tag: CONTENT_HASH_TAG, value: hash.subarray(1) }] })),
      ),
    ).toThrow(CustosError);
  });
});
