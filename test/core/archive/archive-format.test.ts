// The archive format as hostile input (docs/formats.md, "Archives"): a well-formed archive built in
// memory verifies; any byte of it changed, any truncation, any random file is refused with findings,
// never an exception; a body re-signed by the log's key is checked entry by entry.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ArchiveBody,
  encodeArchive,
  frameArchive,
  parseArchiveBody,
  verifyArchive,
} from "../../../src/core/archive/index.js";
import { signCheckpoint } from "../../../src/core/checkpoint/index.js";
import { encodeErasureEntry, encodeKeyEnvelopeEntry } from "../../../src/core/entry/index.js";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  rootFromLeafHashes,
} from "../../../src/core/merkle/index.js";
import { generateSignerKey, signNote } from "../../../src/core/note/index.js";
import { sha256 } from "../../../src/core/platform.js";

const ORIGIN = "archive.test.example/log";
const { signerKey, verifierKey } = generateSignerKey(ORIGIN);
const fingerprint = new Uint8Array(16).fill(7);

/** Six key envelopes for one reader, then an erasure naming the content of the last two. */
function sample(): { body: ArchiveBody; file: Uint8Array } {
  const contents = Array.from({ length: 6 }, (_, i) => new Uint8Array(80).fill(i + 1));
  const envelopes = contents.map((content, i) =>
    encodeKeyEnvelopeEntry(
      {
        epochId: new Uint8Array(16).fill(i),
        patientTag: new Uint8Array(32).fill(9),
        recipient: fingerprint,
        role: "auditor",
        reason: "regrant",
      },
      sha256(content),
    ),
  );
  const erasure = encodeErasureEntry({
    time: 1_700_000_000_000,
    reason: "erasure-request",
    subject: "patient-tag:09",
    contentHashes: contents.slice(4).map((c) => sha256(c)),
    authorizedBy: "privacy-officer",
  });
  const entries = [...envelopes, erasure];
  const leaves = entries.map(leafHash);
  const size = leaves.length;
  const root = rootFromLeafHashes(leaves);
  const anchor = signCheckpoint({ origin: ORIGIN, size, rootHash: root }, signerKey);
  const earlier = signCheckpoint(
    { origin: ORIGIN, size: 3, rootHash: rootFromLeafHashes(leaves.slice(0, 3)) },
    signerKey,
  );
  const body: ArchiveBody = {
    origin: ORIGIN,
    createdAt: 1_700_000_100_000,
    from: 1_600_000_000_000,
    to: 1_700_000_000_000,
    readers: [{ id: "custos://t/auditor/regulator", fingerprint }],
    checkpoint: anchor,
    checkpoints: [{ note: earlier, consistency: consistencyProof(3, size, leaves) }],
    entries: entries.map((entry, index) => ({
      index,
      entry,
      proof: inclusionProof(index, size, leaves),
      content: index < 4 ? contents[index] : undefined,
    })),
  };
  return { body, file: encodeArchive(body, (text) => signNote(text, signerKey)) };
}

describe("archive format", () => {
  const { body, file } = sample();

  it("round-trips and verifies, counting content left out under an erasure", () => {
    const parsed = parseArchiveBody(frameArchive(file).bodyBytes);
    expect(parsed.entries.map((e) => e.index)).toEqual(body.entries.map((e) => e.index));
    const report = verifyArchive(file, { logKey: verifierKey });
    expect(report.findings).toEqual([]);
    expect(report.summary).toMatchObject({ size: 7, envelopes: 6, erasures: 1, erasedContents: 2 });
  });

  it("refuses any single changed byte of the file, without throwing", () => {
    fc.assert(
      fc.property(fc.nat({ max: file.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const changed = Uint8Array.from(file);
        changed[at] = changed[at]! ^ xor;
        const report = verifyArchive(changed, { logKey: verifierKey });
        expect(report.ok).toBe(false);
        expect(report.findings.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses truncations and random files with a finding", () => {
    fc.assert(
      fc.property(fc.nat({ max: file.length - 1 }), (length) => {
        expect(verifyArchive(file.subarray(0, length), { logKey: verifierKey }).ok).toBe(false);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expect(verifyArchive(bytes, { logKey: verifierKey }).ok).toBe(false);
      }),
    );
  });

  it("names each entry the log's own key re-signed wrongly", () => {
    const resign = (b: ArchiveBody) => encodeArchive(b, (text) => signNote(text, signerKey));
    const codes = (b: ArchiveBody) =>
      verifyArchive(resign(b), { logKey: verifierKey }).findings.map((f) => [f.code, f.index]);
    // Erased content put back, content dropped without an erasure, an entry swapped for another.
    expect(
      codes({
        ...body,
        entries: body.entries.map((e) => (e.index === 5 ? { ...e, content: new Uint8Array(80).fill(6) } : e)),
      }),
    ).toEqual([["ERASED_CONTENT_KEPT", 5]]);
    expect(
      codes({
        ...body,
        entries: body.entries.map((e) => (e.index === 1 ? { ...e, content: undefined } : e)),
      }),
    ).toEqual([["CONTENT_MISSING", 1]]);
    expect(
      codes({
        ...body,
        entries: body.entries.map((e) => (e.index === 2 ? { ...e, entry: body.entries[3]!.entry } : e)),
      }),
    ).toEqual([["ENTRY_NOT_IN_LOG", 2]]);
    // An earlier checkpoint of another history.
    const forked = signCheckpoint(
      { origin: ORIGIN, size: 3, rootHash: new Uint8Array(32).fill(1) },
      signerKey,
    );
    expect(
      verifyArchive(
        resign({ ...body, checkpoints: [{ note: forked, consistency: body.checkpoints[0]!.consistency }] }),
        {
          logKey: verifierKey,
        },
      ).findings.map((f) => f.code),
    ).toEqual(["CHECKPOINT_INCONSISTENT"]);
  });
});
