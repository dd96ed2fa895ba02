// Vectors: golang.org/x/mod/sumdb/note (note.go package documentation and note_test.go), the
// PeterNeumann key pair and signed note; C2SP signed-note spec example key.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustosError } from "../../../src/core/errors.js";
import {
  cosign,
  generateCosignerKey,
  generateSignerKey,
  keyId,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyFromSigner,
  verifyCosignature,
} from "../../../src/core/note/index.js";

const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

describe("keys in Go sumdb/note text form", () => {
  it("parses Go's published verifier and signer keys and derives the same verifier", () => {
    const verifier = parseVerifierKey(GO_VKEY);
    expect(verifier.name).toBe("PeterNeumann");
    expect(verifier.keyId).toBe(0xc74f20a3);
    expect(keyId("PeterNeumann", 1, verifier.publicKey)).toBe(0xc74f20a3);
    expect(parseSignerKey(GO_SKEY).keyId).toBe(0xc74f20a3);
    expect(verifierKeyFromSigner(GO_SKEY)).toBe(GO_VKEY);
  });

  it("rejects malformed keys with a message that holds no key material", () => {
    const bad = [
      "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "PeterNeumann+c74f20a3",
      "",
    ];
    for (const text of bad) expect(() => parseVerifierKey(text), text).toThrow(CustosError);
    try {
      parseSignerKey(GO_SKEY.replace("c74f20a3", "c74f20a4"));
      expect.unreachable();
    } catch (error) {
      expect((error as CustosError).code).toBe("BAD_KEY");
      expect((error as Error).message).not.toContain("AYEKFALV");
    }
  });
});

describe("signed notes", () => {
  it("signs byte-identically to Go's note.Sign", () => {
    expect(signNote(GO_TEXT, GO_SKEY)).toBe(GO_NOTE);
  });

  it("opens Go's signed note with its verifier key", () => {
    const opened = openNote(GO_NOTE, [GO_VKEY]);
    expect(opened.text).toBe(GO_TEXT);
    expect(opened.signatures).toEqual([{ name: "PeterNeumann", keyId: 0xc74f20a3, verified: true }]);
  });

  it("lists unknown signers, requires a known one, and rejects a known key's bad signature", () => {
    const other = generateSignerKey("other.example");
    const both = signNote(GO_TEXT, [GO_SKEY, other.signerKey]);
    const opened = openNote(both, [other.verifierKey]);
    expect(opened.signatures.map((s) => [s.name, s.verified])).toEqual([
      ["PeterNeumann", false],
      ["other.example", true],
    ]);
    expect(() => openNote(GO_NOTE, [other.verifierKey])).toThrow(
      expect.objectContaining({ code: "UNKNOWN_KEY" }),
    );
    const forged = GO_NOTE.replace("ZJkuBS9UG", "ZJkuBS9UH");
    expect(() => openNote(forged, [GO_VKEY])).toThrow(expect.objectContaining({ code: "BAD_SIGNATURE" }));
  });

  it("rejects malformed notes", () => {
    const cases = [
      GO_TEXT, // no signature block
      `${GO_TEXT}\n`, // empty signature block
      GO_NOTE.slice(0, -1), // no final newline
      GO_NOTE.replace("\u2014 ", "- "),
      GO_NOTE.replace("PeterNeumann x08", "PeterNeumann  x08"),
      `bad\rtext\n${GO_NOTE.slice(GO_TEXT.length)}`,
    ];
    for (const note of cases)
      expect(() => openNote(note, [GO_VKEY]), JSON.stringify(note)).toThrow(CustosError);
    const many = `${GO_TEXT}\n${Array.from({ length: 101 }, () => GO_NOTE.slice(GO_TEXT.length + 1)).join("")}`;
    expect(() => parseNote(many)).toThrow(/too many/);
  });

  it("round-trips random texts and names, and any single-byte change breaks verification", () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-zA-Z0-9 .,:;!?'"()-]{1,40}$/), { minLength: 1, maxLength: 5 }),
        fc.stringMatching(/^[a-z0-9./-]{1,30}$/),
        fc.nat(),
        (lines, name, position) => {
          const text = `${lines.join("\n")}\n`;
          const { signerKey, verifierKey } = generateSignerKey(name);
          const note = signNote(text, signerKey);
          expect(openNote(note, [verifierKey]).text).toBe(text);
          const bytes = new TextEncoder().encode(note);
          const at = position % bytes.length;
          bytes[at] = bytes[at]! ^ 0x01;
          let mutated: string;
          try {
            mutated = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
          } catch {
            return;
          }
          let verified = false;
          try {
            verified = openNote(mutated, [verifierKey]).signatures.some(
              (s) => s.verified && openNote(mutated, [verifierKey]).text === text,
            );
          } catch (error) {
            expect(error).toBeInstanceOf(CustosError);
          }
          expect(verified).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never throws anything but a CustosError on junk", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (junk) => {
        try {
          openNote(junk, [GO_VKEY]);
        } catch (error) {
          expect(error).toBeInstanceOf(CustosError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("cosignatures (c2sp.org/tlog-cosignature)", () => {
  it("cosigns a checkpoint body with a timestamp that verifies and is reported by openNote", () => {
    const body = "example.com/log\n42\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n";
    const log = generateSignerKey("example.com/log");
    const witness = generateCosignerKey("witness.example/w1");
    const line = cosign(body, witness.signerKey, 1_700_000_000);
    expect(Buffer.from(line.split(" ")[2]!.trim(), "base64")).toHaveLength(4 + 8 + 64);
    expect(verifyCosignature(body, line, witness.verifierKey)).toEqual({
      ok: true,
      timestamp: 1_700_000_000,
    });
    expect(verifyCosignature(body.replace("42", "43"), line, witness.verifierKey).ok).toBe(false);
    const note = signNote(body, log.signerKey) + line;
    const opened = openNote(note, [log.verifierKey, witness.verifierKey]);
    expect(opened.signatures.find((s) => s.name === "witness.example/w1")).toMatchObject({
      verified: true,
      timestamp: 1_700_000_000,
    });
    expect(parseVerifierKey(witness.verifierKey).type).toBe(0x04);
  });
});
