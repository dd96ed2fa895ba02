import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../../src/core/bytes.js";
import {
  createKeyFile,
  EnvProvider,
  KeyFileProvider,
  Keystore,
  PassphraseProvider,
  resolveMasterKeyProvider,
} from "../../../src/crypto/keystore/index.js";
import { tempDir } from "../../helpers/temp.js";

// Low scrypt cost keeps the tests fast; the default (2^17) is what nodes use.
const FAST = { cost: 2 ** 10 };
let root: { dir: string; cleanup: () => void };
let path: string;

beforeEach(() => {
  root = tempDir("custos-keystore-");
  path = join(root.dir, "keystore.json");
});
afterEach(() => root.cleanup());

const SECRET = utf8("a very secret signing key value!");

describe("keystore", () => {
  it("round-trips secrets under each kind of master key", async () => {
    const keyFile = join(root.dir, "master.key");
    createKeyFile(keyFile);
    const env = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 9).toString("base64") };
    const providers = [
      () => new PassphraseProvider("correct horse battery", FAST),
      () => new KeyFileProvider(keyFile),
      () => new EnvProvider("CUSTOS_MASTER_KEY", env),
    ];
    for (const [i, make] of providers.entries()) {
      const file = join(root.dir, `ks${i}.json`);
      const created = await Keystore.create(file, make());
      await created.set("log-signer-key", SECRET);
      const opened = await Keystore.open(file, make());
      expect(opened.get("log-signer-key")).toEqual(SECRET);
      expect(opened.names()).toEqual(["log-signer-key"]);
      expect(readFileSync(file, "utf8")).not.toContain(Buffer.from(SECRET).toString("base64"));
    }
  });

  it("refuses a wrong passphrase, key file or environment key with KEYSTORE_LOCKED", async () => {
    await (await Keystore.create(path, new PassphraseProvider("correct horse battery", FAST))).set(
      "s",
      SECRET,
    );
    await expect(
      Keystore.open(path, new PassphraseProvider("wrong horse battery", FAST)),
    ).rejects.toMatchObject({
      code: "KEYSTORE_LOCKED",
    });
    const envPath = join(root.dir, "env.json");
    await Keystore.create(envPath, new EnvProvider("K", { K: Buffer.alloc(32, 1).toString("base64") }));
    await expect(
      Keystore.open(envPath, new EnvProvider("K", { K: Buffer.alloc(32, 2).toString("base64") })),
    ).rejects.toMatchObject({
      code: "KEYSTORE_LOCKED",
    });
    await expect(
      Keystore.open(envPath, new PassphraseProvider("correct horse battery", FAST)),
    ).rejects.toMatchObject({
      code: "KEYSTORE_LOCKED",
    });
  });

  it("detects tampering: an edited ciphertext, swapped entries, changed scrypt parameters", async () => {
    const provider = () => new PassphraseProvider("correct horse battery", FAST);
    const keystore = await Keystore.create(path, provider());
    await keystore.set("a", utf8("secret a"));
    await keystore.set("b", utf8("secret b"));
    const original = JSON.parse(readFileSync(path, "utf8"));

    const swapped = structuredClone(original);
    [swapped.secrets.a, swapped.secrets.b] = [swapped.secrets.b, swapped.secrets.a];
    writeFileSync(path, JSON.stringify(swapped));
    const opened = await Keystore.open(path, provider());
    expect(() => opened.get("a")).toThrow(expect.objectContaining({ code: "STORE_CORRUPT" }));

    const edited = structuredClone(original);
    edited.secrets.a.ciphertext = Buffer.from("tampered data here!").toString("base64");
    writeFileSync(path, JSON.stringify(edited));
    await expect(Keystore.open(path, provider()).then((k) => k.get("a"))).rejects.toMatchObject({
      code: "STORE_CORRUPT",
    });

    const params = structuredClone(original);
    params.provider.params.N = 2 ** 11;
    writeFileSync(path, JSON.stringify(params));
    await expect(Keystore.open(path, provider())).rejects.toMatchObject({ code: "KEYSTORE_LOCKED" });

    writeFileSync(path, "{ not json");
    await expect(Keystore.open(path, provider())).rejects.toMatchObject({ code: "STORE_CORRUPT" });
  });

  it("rotates the master key without changing the secrets' ciphertexts", async () => {
    const oldProvider = new PassphraseProvider("old passphrase!", FAST);
    const keystore = await Keystore.create(path, oldProvider);
    await keystore.set("s", SECRET);
    const before = JSON.parse(readFileSync(path, "utf8")).secrets;
    const keyFile = join(root.dir, "new.key");
    createKeyFile(keyFile);
    await keystore.rotateMasterKey(new KeyFileProvider(keyFile));
    expect(JSON.parse(readFileSync(path, "utf8")).secrets).toEqual(before);
    expect((await Keystore.open(path, new KeyFileProvider(keyFile))).get("s")).toEqual(SECRET);
    await expect(Keystore.open(path, oldProvider)).rejects.toMatchObject({ code: "KEYSTORE_LOCKED" });
  });

  it("refuses a key file readable by others, and says how to fix it", async () => {
    const keyFile = join(root.dir, "loose.key");
    createKeyFile(keyFile);
    chmodSync(keyFile, 0o644);
    await expect(Keystore.create(path, new KeyFileProvider(keyFile))).rejects.toThrow(/chmod 600/);
  });

  it("says exactly how to provide a master key when none is configured", () => {
    expect(() => resolveMasterKeyProvider({ env: {} })).toThrow(
      expect.objectContaining({
        code: "KEY_MISSING",
        message: expect.stringMatching(/CUSTOS_MASTER_KEY.*CUSTOS_MASTER_PASSPHRASE/s),
      }),
    );
    expect(resolveMasterKeyProvider({ env: { CUSTOS_MASTER_KEY: "x" } }).kind).toBe("env");
    expect(resolveMasterKeyProvider({ keyFile: "/k", env: {} }).kind).toBe("key-file");
    expect(resolveMasterKeyProvider({ env: { CUSTOS_MASTER_PASSPHRASE: "long enough pass" } }).kind).toBe(
      "passphrase",
    );
  });

  it("writes atomically with mode 0600 and leaves no temporary file", async () => {
    const keystore = await Keystore.create(
      path,
      new EnvProvider("K", { K: Buffer.alloc(32, 1).toString("base64") }),
    );
    for (let i = 0; i < 5; i++) await keystore.set(`s${i}`, utf8(`v${i}`));
    expect(readdirSync(root.dir)).toEqual(["keystore.json"]);
    const { statSync } = await import("node:fs");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expect(
      Keystore.create(path, new EnvProvider("K", { K: Buffer.alloc(32, 1).toString("base64") })),
    ).rejects.toMatchObject({
      code: "STORE_EXISTS",
    });
  });
});
