import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from "../../../src/core/checkpoint/index.js";
import { CustosError } from "../../../src/core/errors.js";
import { cosign, generateCosignerKey, generateSignerKey } from "../../../src/core/note/index.js";

describe("checkpoints (c2sp.org/tlog-checkpoint)", () => {
  it("formats the three lines and extensions, and parses them back", () => {
    const root = new Uint8Array(32).fill(7);
    const body = formatCheckpoint({
      origin: "example.com/log",
      size: 1234,
      rootHash: root,
      extensions: ["ext one"],
    });
    expect(body).toBe(`example.com/log\n1234\n${Buffer.from(root).toString("base64")}\next one\n`);
    expect(parseCheckpoint(body)).toEqual({
      origin: "example.com/log",
      size: 1234,
      rootHash: root,
      extensions: ["ext one"],
    });
  });

  it("round-trips random checkpoints", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9./-]{1,40}$/),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (origin, size, rootHash) => {
          expect(parseCheckpoint(formatCheckpoint({ origin, size, rootHash }))).toEqual({
            origin,
            size,
            rootHash,
            extensions: [],
          });
        },
      ),
    );
  });

  it("rejects leading zeros, bad roots, missing lines and junk with BAD_CHECKPOINT", () => {
    const root = Buffer.alloc(32).toString("base64");
    for (const body of [
      `o\n012\n${root}\n`,
      "o\n12\nAAAA\n",
      `o\n12\n${root}`,
      "o\n12\n",
      `\n1\n${root}\n`,
      `o\n-1\n${root}\n`,
      `o\n1\n${root}\n\n`,
    ]) {
      expect(() => parseCheckpoint(body), JSON.stringify(body)).toThrow(CustosError);
    }
    fc.assert(
      fc.property(fc.string(), (junk) => {
        try {
          parseCheckpoint(junk);
        } catch (error) {
          expect((error as CustosError).code).toBe("BAD_CHECKPOINT");
        }
      }),
    );
  });

  it("opens a signed, cosigned checkpoint and names its cosigners", () => {
    const log = generateSignerKey("example.com/log");
    const witness = generateCosignerKey("witness.example");
    const cp = { origin: "example.com/log", size: 5, rootHash: new Uint8Array(32).fill(1) };
    const note =
      signCheckpoint(cp, log.signerKey) + cosign(formatCheckpoint(cp), witness.signerKey, 1_800_000_000);
    const opened = openCheckpoint(note, log.verifierKey, { cosignerKeys: [witness.verifierKey] });
    expect(opened.checkpoint.size).toBe(5);
    expect(opened.cosigners).toEqual(["witness.example"]);
    const other = generateSignerKey("example.com/log");
    expect(() => openCheckpoint(note, other.verifierKey, { cosignerKeys: [witness.verifierKey] })).toThrow(
      expect.objectContaining({ code: "UNKNOWN_KEY" }),
    );
  });
});
