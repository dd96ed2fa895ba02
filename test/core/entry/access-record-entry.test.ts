// The access record header's trail fields: seq numbers a patient's records, prev links each record
// to the leaf hash of the one before it. Both are optional (older records lack them) but never
// ambiguous: prev needs a seq above 0 and is exactly 32 bytes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/core/bytes.js";
import {
  type AccessRecordHeader,
  decodeAccessRecordEntry,
  ENTRY_KINDS,
  encodeAccessRecordEntry,
  encodeEntry,
} from "../../../src/core/entry/index.js";

const base: AccessRecordHeader = {
  epochId: new Uint8Array(16).fill(1),
  patientTag: new Uint8Array(32).fill(2),
  hour: 3_600_000 * 490_000,
  source: "ehr-main",
};
const hash = new Uint8Array(32).fill(9);

describe("access record event key (field 0x07)", () => {
  it("round-trips the event key and refuses one of the wrong length", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (eventKey) => {
        const { header } = decodeAccessRecordEntry(
          encodeAccessRecordEntry({ ...base, seq: 3, prev: hash, eventKey }, hash),
        );
        expect(toHex(header.eventKey!)).toBe(toHex(eventKey));
        expect(header.seq).toBe(3);
      }),
    );
    expect(decodeAccessRecordEntry(encodeAccessRecordEntry(base, hash)).header.eventKey).toBeUndefined();
    expect(() => encodeAccessRecordEntry({ ...base, eventKey: new Uint8Array(31) }, hash)).toThrow(
      /32 bytes/,
    );
    const short = encodeEntry({
      kind: ENTRY_KINDS.accessRecord,
      fields: [
        { tag: 0x01, value: base.epochId },
        { tag: 0x02, value: base.patientTag },
        { tag: 0x03, value: new Uint8Array(8) },
        { tag: 0x04, value: new Uint8Array([0x61]) },
        { tag: 0x07, value: new Uint8Array(16) },
        { tag: 0xf0, value: hash },
      ],
    });
    expect(() => decodeAccessRecordEntry(short)).toThrow(/malformed/);
  });
});

describe("access record trail fields", () => {
  it("round-trips seq and prev", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (seq, prev) => {
          const bytes = encodeAccessRecordEntry({ ...base, seq, prev }, hash);
          const { header } = decodeAccessRecordEntry(bytes);
          expect(header.seq).toBe(seq);
          expect(toHex(header.prev!)).toBe(toHex(prev));
        },
      ),
    );
    const first = decodeAccessRecordEntry(encodeAccessRecordEntry({ ...base, seq: 0 }, hash)).header;
    expect(first.seq).toBe(0);
    expect(first.prev).toBeUndefined();
  });

  it("refuses a link on record 0, a link without a number, and a link of the wrong length", () => {
    const prev = new Uint8Array(32);
    expect(() => encodeAccessRecordEntry({ ...base, seq: 0, prev }, hash)).toThrow(/above 0/);
    expect(() => encodeAccessRecordEntry({ ...base, prev }, hash)).toThrow(/above 0/);
    expect(() => encodeAccessRecordEntry({ ...base, seq: 1, prev: new Uint8Array(31) }, hash)).toThrow(
      /32-byte/,
    );
    // Hand-built entries the encoder would not write are refused when read.
    const fields = (seq: number | undefined, prevBytes: Uint8Array) => [
      { tag: 0x01, value: base.epochId },
      { tag: 0x02, value: base.patientTag },
      { tag: 0x03, value: new Uint8Array(8) },
      { tag: 0x04, value: new TextEncoder().encode("ehr") },
      ...(seq === undefined
        ? []
        : [{ tag: 0x05, value: new Uint8Array(8).fill(0).map((_, i) => (i === 7 ? seq : 0)) }]),
      { tag: 0x06, value: prevBytes },
      { tag: 0xf0, value: hash },
    ];
    for (const [seq, prevBytes] of [
      [0, prev],
      [undefined, prev],
      [1, new Uint8Array(33)],
    ] as const) {
      const bytes = encodeEntry({ kind: ENTRY_KINDS.accessRecord, fields: fields(seq, prevBytes) });
      expect(() => decodeAccessRecordEntry(bytes)).toThrow(/malformed access record/);
    }
    const good = encodeEntry({ kind: ENTRY_KINDS.accessRecord, fields: fields(1, prev) });
    expect(decodeAccessRecordEntry(good).header.seq).toBe(1);
  });
});
