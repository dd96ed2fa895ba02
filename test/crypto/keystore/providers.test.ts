import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createKeyFile,
  DEFAULT_SCRYPT_COST,
  EnvProvider,
  KeyFileProvider,
  PassphraseProvider,
} from "../../../src/crypto/keystore/index.js";
import { tempDir } from "../../helpers/temp.js";

let root: { dir: string; cleanup: () => void };
beforeEach(() => {
  root = tempDir("custos-providers-");
});
afterEach(() => root.cleanup());

const FAST = { cost: 2 ** 10 };
const randomKey = () => new Uint8Array(crypto.getRandomValues(new Uint8Array(32)));

describe("PassphraseProvider", () => {
  it("records scrypt N = 2^17, r = 8, p = 1 and a random 16-byte salt by default", async () => {
    expect(DEFAULT_SCRYPT_COST).toEqual({ cost: 2 ** 17, blockSize: 8, parallelization: 1 });
    const { key, params } = await new PassphraseProvider("correct horse battery").getMasterKey(undefined);
    expect(key).toHaveLength(32);
    expect(params).toMatchObject({ kdf: "scrypt", N: 2 ** 17, r: 8, p: 1 });
    expect(Buffer.from(String(params.salt), "base64")).toHaveLength(16);
  });

  it("derives the same key again from the recorded parameters, and another key from another salt", async () => {
    const provider = new PassphraseProvider("correct horse battery", FAST);
    const first = await provider.getMasterKey(undefined);
    const again = await provider.getMasterKey(first.params);
    const fresh = await provider.getMasterKey(undefined);
    expect(again.key).toEqual(first.key);
    expect(again.params).toEqual(first.params);
    expect(fresh.params.salt).not.toBe(first.params.salt);
    expect(fresh.key).not.toEqual(first.key);
  });

  it("uses the cost recorded in the file, not its own, when opening", async () => {
    const { key, params } = await new PassphraseProvider("correct horse battery", FAST).getMasterKey(
      undefined,
    );
    const other = new PassphraseProvider("correct horse battery", { cost: 2 ** 11 });
    expect((await other.getMasterKey(params)).key).toEqual(key);
  });

  it("normalizes the passphrase (NFC) so composed and decomposed accents give the same key", async () => {
    const composed = new PassphraseProvider("mot de passe d\u00e9j\u00e0 vu", FAST);
    const decomposed = new PassphraseProvider("mot de passe de\u0301ja\u0300 vu", FAST);
    const { key, params } = await composed.getMasterKey(undefined);
    expect((await decomposed.getMasterKey(params)).key).toEqual(key);
  });

  it("refuses a short new passphrase but still opens with one given for an existing file", async () => {
    await expect(new PassphraseProvider("short", FAST).getMasterKey(undefined)).rejects.toMatchObject({
      code: "CONFIG",
      message: expect.stringContaining("at least 8 characters"),
    });
    const params = (await new PassphraseProvider("long enough", FAST).getMasterKey(undefined)).params;
    await expect(new PassphraseProvider("short", FAST).getMasterKey(params)).resolves.toHaveProperty("key");
  });

  it("rejects recorded parameters that are out of bounds before running scrypt", async () => {
    const provider = new PassphraseProvider("correct horse battery", FAST);
    const { params } = await provider.getMasterKey(undefined);
    for (const bad of [
      { ...params, N: 2 ** 30 },
      { ...params, N: 1000 },
      { ...params, r: 0 },
      { ...params, p: 1e6 },
      { ...params, salt: Buffer.alloc(8).toString("base64") },
      { ...params, salt: "not base64!" },
      { ...params, kdf: "argon2id" },
      { ...params, N: "1024" },
    ]) {
      await expect(provider.getMasterKey(bad)).rejects.toMatchObject({ code: "STORE_CORRUPT" });
    }
  });

  it("refuses an invalid configured cost", () => {
    expect(() => new PassphraseProvider("correct horse battery", { cost: 1000 })).toThrow(
      expect.objectContaining({ code: "BAD_ARGUMENT" }),
    );
    expect(() => new PassphraseProvider("")).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });
});

describe("KeyFileProvider", () => {
  it("creates a key file of 32 random bytes in base64 with mode 0600, and reads it back", async () => {
    const path = join(root.dir, "master.key");
    createKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const { key, params } = await new KeyFileProvider(path).getMasterKey(undefined);
    expect(key).toEqual(new Uint8Array(Buffer.from(text.trim(), "base64")));
    expect(params).toEqual({});
    const other = join(root.dir, "other.key");
    createKeyFile(other);
    expect(readFileSync(other, "utf8")).not.toBe(text);
  });

  it("refuses to overwrite an existing key file", () => {
    const path = join(root.dir, "master.key");
    createKeyFile(path);
    const before = readFileSync(path, "utf8");
    expect(() => createKeyFile(path)).toThrow(expect.objectContaining({ code: "STORE_EXISTS" }));
    expect(readFileSync(path, "utf8")).toBe(before);
  });

  it("reads a key written in hex", async () => {
    const key = randomKey();
    const path = join(root.dir, "hex.key");
    writeFileSync(path, `${Buffer.from(key).toString("hex")}\n`, { mode: 0o600 });
    expect((await new KeyFileProvider(path).getMasterKey(undefined)).key).toEqual(key);
  });

  it.each([0o640, 0o604, 0o620, 0o644, 0o660, 0o700 | 0o004])(
    "refuses a key file with mode %o and says to chmod 600 it",
    async (mode) => {
      const path = join(root.dir, "loose.key");
      createKeyFile(path);
      chmodSync(path, mode);
      await expect(new KeyFileProvider(path).getMasterKey(undefined)).rejects.toMatchObject({
        code: "CONFIG",
        message: expect.stringContaining(`chmod 600 ${path}`),
      });
    },
  );

  it("says what is wrong with a file that is not a 32-byte key, without echoing its content", async () => {
    const path = join(root.dir, "bad.key");
    const content = Buffer.alloc(31, 7).toString("base64");
    writeFileSync(path, content, { mode: 0o600 });
    const error = await new KeyFileProvider(path).getMasterKey(undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BAD_KEY", message: expect.stringContaining("32-byte") });
    expect((error as Error).message).not.toContain(content);
  });

  it("reports a missing key file with KEY_MISSING and how to provide a key", async () => {
    await expect(
      new KeyFileProvider(join(root.dir, "none.key")).getMasterKey(undefined),
    ).rejects.toMatchObject({
      code: "KEY_MISSING",
      message: expect.stringContaining("ENOENT"),
    });
  });

  it("refuses a directory given as the key file", async () => {
    await expect(new KeyFileProvider(root.dir).getMasterKey(undefined)).rejects.toMatchObject({
      code: "CONFIG",
    });
  });
});

describe("EnvProvider", () => {
  it("reads base64 of 32 bytes from CUSTOS_MASTER_KEY by default", async () => {
    const key = randomKey();
    const provider = new EnvProvider(undefined, { CUSTOS_MASTER_KEY: Buffer.from(key).toString("base64") });
    expect(provider.varName).toBe("CUSTOS_MASTER_KEY");
    expect((await provider.getMasterKey(undefined)).key).toEqual(key);
  });

  it("reports an unset variable with KEY_MISSING and a malformed one with BAD_KEY, never echoing it", async () => {
    await expect(new EnvProvider("K", {}).getMasterKey(undefined)).rejects.toMatchObject({
      code: "KEY_MISSING",
      message: expect.stringContaining("openssl rand -base64 32"),
    });
    const value = Buffer.alloc(16, 1).toString("base64");
    const error = await new EnvProvider("K", { K: value }).getMasterKey(undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BAD_KEY" });
    expect((error as Error).message).not.toContain(value);
  });
});
