// The backup file format: what is sealed opens only with its passphrase, unchanged; any changed or
// cut-off byte, and any input that is not a backup, is refused with a CustosError, never a crash.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BackupContents, openBackup, sealBackup } from "../../src/backup/index.js";
import { CustosError } from "../../src/core/errors.js";

const PASSPHRASE = "correct horse battery staple";
const CHEAP = { cost: 2 ** 10 }; // scrypt N lowered for speed; the format records it

const contents: BackupContents = {
  kind: "node",
  createdAt: 1_765_000_000_000,
  log: { origin: "e2e.custos.example/log", verifierKey: "e2e.custos.example/log+01234567+AAAA", size: 42 },
  identity: { name: "n1.custos-id", data: new TextEncoder().encode('{"format":"custos-identity-bundle"}') },
  files: [
    { path: "keystore.json", mode: 0o600, data: new TextEncoder().encode('{"sealed":"..."}') },
    { path: "ca/ca.pem", mode: 0o644, data: new TextEncoder().encode("-----BEGIN CERTIFICATE-----\n") },
  ],
};

async function refusal(bytes: Uint8Array, passphrase = PASSPHRASE): Promise<CustosError> {
  try {
    await openBackup(bytes, passphrase);
  } catch (error) {
    expect(error).toBeInstanceOf(CustosError);
    return error as CustosError;
  }
  throw new Error("the backup opened");
}

describe("backup files", () => {
  it("open with their passphrase to exactly what was sealed", async () => {
    const sealed = await sealBackup(contents, PASSPHRASE, CHEAP);
    const opened = await openBackup(sealed, PASSPHRASE);
    expect(opened).toEqual(contents);
  });

  it("refuse a wrong passphrase, and a passphrase too short to seal with", async () => {
    const sealed = await sealBackup(contents, PASSPHRASE, CHEAP);
    expect((await refusal(sealed, "correct horse battery stapler")).code).toBe("BAD_PASSPHRASE");
    await expect(sealBackup(contents, "short", CHEAP)).rejects.toThrow(/at least 12 characters/);
  });

  it("refuse any changed byte, header included", async () => {
    const sealed = await sealBackup(contents, PASSPHRASE, CHEAP);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: sealed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, flip) => {
          const changed = sealed.slice();
          changed[at]! ^= flip;
          await refusal(changed);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuse a file cut off anywhere", async () => {
    const sealed = await sealBackup(contents, PASSPHRASE, CHEAP);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: sealed.length - 1 }), async (length) => {
        await refusal(sealed.subarray(0, length));
      }),
      { numRuns: 40 },
    );
  });

  it("refuse arbitrary bytes, with or without the magic, with a CustosError", async () => {
    const magic = new TextEncoder().encode("CUSTOSBK\x01");
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (tail, withMagic) => {
        const bytes = withMagic ? new Uint8Array([...magic, ...tail]) : tail;
        await refusal(bytes);
      }),
      { numRuns: 200 },
    );
  });
});
