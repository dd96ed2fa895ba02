// The sequencer's fast read of an access record's patient tag and number (accessRecordHead) gives
// exactly what the full entry decoder gives for every access record, and nothing (never a throw) for
// other kinds, truncated or reordered fields and arbitrary bytes.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/bytes.js";
import {
  accessRecordFromEntry,
  decodeEntry,
  ENTRY_KINDS,
  encodeAccessRecordEntry,
} from "../../src/core/entry/index.js";
import { accessRecordHead } from "../../src/ledger/trail-heads.js";

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const header = fc
  .record({
    epochId: bytes(16),
    patientTag: bytes(32),
    hour: fc.integer({ min: 0, max: 500_000 }).map((h) => h * 3_600_000),
    source: fc.string({ minLength: 1, maxLength: 20 }),
    seq: fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
    prev: bytes(32),
    eventKey: fc.option(bytes(32), { nil: undefined }),
  })
  .map(({ seq, prev, eventKey, ...rest }) => ({
    ...rest,
    ...(seq === undefined ? {} : { seq }),
    ...(seq !== undefined && seq > 0 ? { prev } : {}),
    ...(eventKey === undefined ? {} : { eventKey }),
  }));

describe("reading an access record's trail head off its fields", () => {
  it("agrees with the full decoder on every access record", () => {
    fc.assert(
      fc.property(header, bytes(32), (h, contentHash) => {
        const entry = encodeAccessRecordEntry(h, contentHash);
        const decoded = accessRecordFromEntry(decodeEntry(entry)).header;
        const read = accessRecordHead(entry);
        expect(read).toBeDefined();
        expect(read!.seq).toBe(decoded.seq);
        expect(bytesEqual(entry.subarray(read!.tagOffset, read!.tagOffset + 32), decoded.patientTag)).toBe(
          true,
        );
      }),
    );
  });

  it("answers nothing for other kinds, cut or altered entries and arbitrary bytes, never throwing", () => {
    fc.assert(
      fc.property(header, bytes(32), fc.nat(), fc.nat({ max: 255 }), (h, contentHash, at, value) => {
        const entry = encodeAccessRecordEntry(h, contentHash);
        expect(accessRecordHead(entry.subarray(0, at % entry.length))).toBeUndefined();
        const other = entry.slice();
        other[1] = ENTRY_KINDS.keyEnvelope;
        expect(accessRecordHead(other)).toBeUndefined();
        const altered = entry.slice();
        altered[at % altered.length] = value;
        const read = accessRecordHead(altered);
        // Whatever it reads from an altered entry lies within it and is a 32-byte tag field.
        if (read) expect(read.tagOffset + 32).toBeLessThanOrEqual(altered.length);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const read = accessRecordHead(data);
        if (read) expect(read.tagOffset + 32).toBeLessThanOrEqual(data.length);
      }),
    );
  });
});
