import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../../src/core/bytes.js";
import { CustosError } from "../../../src/core/errors.js";
import {
  createKeyFile,
  EnvProvider,
  KeyFileProvider,
  Keystore,
  type MasterKeyProvider,
  PassphraseProvider,
} from "../../../src/crypto/keystore/index.js";
import { tempDir } from "../../helpers/temp.js";

// Low scrypt cost keeps the tests fast; nodes use the default (2^17).
const FAST = { cost: 2 ** 10 };
const SECRET = utf8("a very secret signing key value!");
const envKey = (fill: number) => ({ K: Buffer.alloc(32, fill).toString("base64") });
const envProvider = (fill: number) => new EnvProvider("K", envKey(fill));

let root: { dir: string; cleanup: () => void };
let path: string;
beforeEach(() => {
  root = tempDir("custos-keystore-");
  path = join(root.dir, "keystore.json");
});
afterEach(() => root.cleanup());

const readJson = () => JSON.parse(readFileSync(path, "utf8"));
const writeJson = (json: unknown) => writeFileSync(path, JSON.stringify(json));

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<CustosError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CustosError);
  expect((error as CustosError).code).toBe(code);
  if (message) expect((error as CustosError).message).toMatch(message);
  return error as CustosError;
}

describe("Keystore round trips", () => {
  it("stores and returns secrets under each kind of master key", async () => {
    const keyFile = join(root.dir, "master.key");
    createKeyFile(keyFile);
    const makers: [string, () => MasterKeyProvider][] = [
      ["passphrase", () => new PassphraseProvider("correct horse battery", FAST)],
      ["key-file", () => new KeyFileProvider(keyFile)],
      ["env", () => envProvider(9)],
    ];
    for (const [kind, make] of makers) {
      const file = join(root.dir, `${kind}.json`);
      const created = await Keystore.create(file, make());
      await created.set("log-signer-key", SECRET);
      await created.set("blind-index-key", new Uint8Array(32).fill(5));
      const opened = await Keystore.open(file, make());
      expect(opened.providerKind).toBe(kind);
      expect(opened.get("log-signer-key")).toEqual(SECRET);
      expect(opened.get("blind-index-key")).toEqual(new Uint8Array(32).fill(5));
      expect(opened.names()).toEqual(["blind-index-key", "log-signer-key"]);
      expect(JSON.parse(readFileSync(file, "utf8")).provider.kind).toBe(kind);
    }
  });

  it("never writes a secret to the file in clear, base64 or hex", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    await keystore.set("s", SECRET);
    const text = readFileSync(path, "utf8");
    for (const form of [
      Buffer.from(SECRET).toString("utf8"),
      Buffer.from(SECRET).toString("base64"),
      Buffer.from(SECRET).toString("hex"),
    ]) {
      expect(text).not.toContain(form);
    }
  });

  it("replaces, deletes and reports secrets by name", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    await keystore.set("a", utf8("one"));
    await keystore.set("a", utf8("two"));
    expect(keystore.has("a")).toBe(true);
    expect(keystore.get("a")).toEqual(utf8("two"));
    expect(await keystore.delete("a")).toBe(true);
    expect(await keystore.delete("a")).toBe(false);
    expect(keystore.has("a")).toBe(false);
    const reopened = await Keystore.open(path, envProvider(1));
    expect(reopened.names()).toEqual([]);
    await expectCode(
      Promise.resolve().then(() => reopened.get("a")),
      "KEY_MISSING",
      /no secret named "a"/,
    );
    expect(reopened.has("__proto__")).toBe(false);
    expect(reopened.has("constructor")).toBe(false);
  });

  it("refuses invalid secret names", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    for (const name of ["", "Upper", "has space", "__proto__", "a/b", "x".repeat(65), "line\nbreak"]) {
      await expectCode(keystore.set(name, SECRET), "BAD_ARGUMENT");
    }
  });

  it("round-trips any set of names and secrets", async () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(name, fc.uint8Array({ maxLength: 200 }), { maxKeys: 8 }),
        async (secrets) => {
          const file = join(root.dir, `prop-${Math.random().toString(36).slice(2)}.json`);
          const keystore = await Keystore.create(file, envProvider(2));
          for (const [key, value] of Object.entries(secrets)) await keystore.set(key, value);
          const opened = await Keystore.open(file, envProvider(2));
          expect(opened.names()).toEqual(Object.keys(secrets).sort());
          for (const [key, value] of Object.entries(secrets)) expect(opened.get(key)).toEqual(value);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("zero-fills its keys on close and refuses use afterwards", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    await keystore.set("s", SECRET);
    keystore.close();
    expect(() => keystore.get("s")).toThrow(expect.objectContaining({ code: "KEYSTORE_LOCKED" }));
    await expectCode(keystore.set("t", SECRET), "KEYSTORE_LOCKED");
  });
});

describe("Keystore refuses the wrong master key", () => {
  it("with KEYSTORE_LOCKED for a wrong passphrase", async () => {
    await Keystore.create(path, new PassphraseProvider("correct horse battery", FAST));
    await expectCode(
      Keystore.open(path, new PassphraseProvider("wrong horse battery", FAST)),
      "KEYSTORE_LOCKED",
      /the master key does not open this keystore/,
    );
  });

  it("with KEYSTORE_LOCKED for a wrong key file", async () => {
    const right = join(root.dir, "right.key");
    const wrong = join(root.dir, "wrong.key");
    createKeyFile(right);
    createKeyFile(wrong);
    await Keystore.create(path, new KeyFileProvider(right));
    await expectCode(
      Keystore.open(path, new KeyFileProvider(wrong)),
      "KEYSTORE_LOCKED",
      /the master key does not open this keystore/,
    );
  });

  it("with KEYSTORE_LOCKED for a wrong environment key", async () => {
    await Keystore.create(path, envProvider(1));
    await expectCode(
      Keystore.open(path, envProvider(2)),
      "KEYSTORE_LOCKED",
      /the master key does not open this keystore/,
    );
  });

  it("with KEYSTORE_LOCKED naming both kinds when the provider kind differs", async () => {
    await Keystore.create(path, envProvider(1));
    await expectCode(
      Keystore.open(path, new PassphraseProvider("correct horse battery", FAST)),
      "KEYSTORE_LOCKED",
      /is sealed with an env master key, but a passphrase \(scrypt\) was given: the master key does not open this keystore/,
    );
  });

  it("without putting the key or a secret in the message", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    await keystore.set("s", SECRET);
    const error = await expectCode(Keystore.open(path, envProvider(2)), "KEYSTORE_LOCKED");
    for (const text of [envKey(1).K, envKey(2).K, Buffer.from(SECRET).toString("utf8")]) {
      expect(error.message).not.toContain(text);
    }
  });

  it("with STORE_NOT_FOUND when there is no keystore", async () => {
    await expectCode(Keystore.open(path, envProvider(1)), "STORE_NOT_FOUND", /no keystore at/);
  });
});

describe("Keystore detects tampering", () => {
  const provider = () => new PassphraseProvider("correct horse battery", FAST);
  let original: ReturnType<typeof readJson>;
  beforeEach(async () => {
    const keystore = await Keystore.create(path, provider());
    await keystore.set("a", utf8("secret a"));
    await keystore.set("b", utf8("secret b"));
    original = readJson();
  });

  it("an edited ciphertext, naming the entry", async () => {
    const edited = structuredClone(original);
    const bytes = Buffer.from(edited.entries.a.ciphertext, "base64");
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    edited.entries.a.ciphertext = bytes.toString("base64");
    writeJson(edited);
    await expectCode(
      Keystore.open(path, provider()),
      "STORE_CORRUPT",
      /tampered with: the entries "a" do not/,
    );
  });

  it("two swapped entries, naming both", async () => {
    const swapped = structuredClone(original);
    [swapped.entries.a, swapped.entries.b] = [swapped.entries.b, swapped.entries.a];
    writeJson(swapped);
    await expectCode(
      Keystore.open(path, provider()),
      "STORE_CORRUPT",
      /the entries "a", "b" do not authenticate/,
    );
  });

  it("a removed entry", async () => {
    const removed = structuredClone(original);
    delete removed.entries.b;
    writeJson(removed);
    await expectCode(Keystore.open(path, provider()), "STORE_CORRUPT", /integrity check fails/);
  });

  it("an entry rolled back to an older value", async () => {
    const keystore = await Keystore.open(path, provider());
    await keystore.set("a", utf8("secret a, version 2"));
    const rolledBack = readJson();
    rolledBack.entries.a = original.entries.a;
    writeJson(rolledBack);
    await expectCode(Keystore.open(path, provider()), "STORE_CORRUPT", /integrity check fails/);
  });

  it("an entry copied from another keystore under the same master key", async () => {
    const otherPath = join(root.dir, "other.json");
    const other = await Keystore.create(otherPath, envProvider(3));
    await other.set("a", utf8("theirs"));
    const mine = await Keystore.create(join(root.dir, "mine.json"), envProvider(3));
    await mine.set("a", utf8("mine"));
    const mixed = JSON.parse(readFileSync(join(root.dir, "mine.json"), "utf8"));
    mixed.entries.a = JSON.parse(readFileSync(otherPath, "utf8")).entries.a;
    writeFileSync(join(root.dir, "mine.json"), JSON.stringify(mixed));
    await expectCode(Keystore.open(join(root.dir, "mine.json"), envProvider(3)), "STORE_CORRUPT", /"a"/);
  });

  it("changed provider parameters (scrypt cost or salt)", async () => {
    const cost = structuredClone(original);
    cost.provider.params.N = 2 ** 11;
    writeJson(cost);
    await expectCode(Keystore.open(path, provider()), "KEYSTORE_LOCKED", /provider parameters were altered/);
    const salt = structuredClone(original);
    salt.provider.params.salt = Buffer.alloc(16, 4).toString("base64");
    writeJson(salt);
    await expectCode(Keystore.open(path, provider()), "KEYSTORE_LOCKED", /provider parameters were altered/);
    const hostile = structuredClone(original);
    hostile.provider.params.N = 2 ** 40;
    writeJson(hostile);
    await expectCode(Keystore.open(path, provider()), "STORE_CORRUPT", /scrypt parameters/);
  });

  it("a parameter added to a key-file or environment keystore", async () => {
    const file = join(root.dir, "env.json");
    await Keystore.create(file, envProvider(1));
    const json = JSON.parse(readFileSync(file, "utf8"));
    json.provider.params.keyId = "attacker";
    writeFileSync(file, JSON.stringify(json));
    await expectCode(Keystore.open(file, envProvider(1)), "KEYSTORE_LOCKED");
  });

  it("a changed file id", async () => {
    const changed = structuredClone(original);
    changed.id = "0".repeat(32);
    writeJson(changed);
    await expectCode(Keystore.open(path, provider()), "KEYSTORE_LOCKED");
  });

  it("malformed files, with a message that says what is wrong", async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...original, version: 1 }, /format version 1; this build reads version 2/],
      [{ ...original, format: "other" }, /is not a Custos keystore/],
      [{ ...original, extra: 1 }, /top-level fields/],
      [{ ...original, id: "xyz" }, /id is not 32 hex digits/],
      [{ ...original, entries: { "Bad Name": original.entries.a } }, /invalid name/],
      [
        { ...original, entries: { a: { nonce: "AAAA", ciphertext: original.entries.a.ciphertext } } },
        /bad nonce/,
      ],
      [{ ...original, mac: "AAAA" }, /mac is not 32 bytes/],
      [[], /is not a Custos keystore/],
    ];
    for (const [json, message] of cases) {
      writeJson(json);
      await expectCode(Keystore.open(path, provider()), "STORE_CORRUPT", message);
    }
    writeFileSync(path, "{ not json");
    await expectCode(Keystore.open(path, provider()), "STORE_CORRUPT", /not valid JSON/);
  });

  it("any single changed byte: opens to the same secrets or fails with a CustosError", async () => {
    const file = join(root.dir, "fuzz.json");
    const keystore = await Keystore.create(file, envProvider(4));
    await keystore.set("a", utf8("secret a"));
    const text = readFileSync(file, "utf8");
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: text.length - 1 }),
        fc.integer({ min: 32, max: 126 }),
        async (at, code) => {
          writeFileSync(file, text.slice(0, at) + String.fromCharCode(code) + text.slice(at + 1));
          try {
            const opened = await Keystore.open(file, envProvider(4));
            expect(opened.get("a")).toEqual(utf8("secret a"));
          } catch (error) {
            expect(error).toBeInstanceOf(CustosError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("Keystore master-key rotation", () => {
  it("re-wraps the data key only: secrets unchanged, the new key opens, the old one does not", async () => {
    const oldProvider = new PassphraseProvider("old passphrase!", FAST);
    const keystore = await Keystore.create(path, oldProvider);
    await keystore.set("s", SECRET);
    await keystore.set("t", utf8("another"));
    const before = readJson();
    const keyFile = join(root.dir, "new.key");
    createKeyFile(keyFile);
    await keystore.rotateMasterKey(new KeyFileProvider(keyFile));
    const after = readJson();
    expect(after.entries).toEqual(before.entries);
    expect(after.id).toBe(before.id);
    expect(after.dek).not.toEqual(before.dek);
    expect(after.provider).toEqual({ kind: "key-file", params: {} });
    expect(keystore.get("s")).toEqual(SECRET);
    const reopened = await Keystore.open(path, new KeyFileProvider(keyFile));
    expect(reopened.get("s")).toEqual(SECRET);
    expect(reopened.get("t")).toEqual(utf8("another"));
    await expectCode(Keystore.open(path, oldProvider), "KEYSTORE_LOCKED");
  });

  it("between two keys of the same kind", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    await keystore.set("s", SECRET);
    await keystore.rotateMasterKey(envProvider(2));
    expect((await Keystore.open(path, envProvider(2))).get("s")).toEqual(SECRET);
    await expectCode(Keystore.open(path, envProvider(1)), "KEYSTORE_LOCKED");
  });

  it("to a passphrase with a fresh salt", async () => {
    const keystore = await Keystore.create(path, new PassphraseProvider("first passphrase", FAST));
    const firstSalt = readJson().provider.params.salt;
    await keystore.rotateMasterKey(new PassphraseProvider("second passphrase", FAST));
    expect(readJson().provider.params.salt).not.toBe(firstSalt);
    await Keystore.open(path, new PassphraseProvider("second passphrase", FAST));
    await expectCode(
      Keystore.open(path, new PassphraseProvider("first passphrase", FAST)),
      "KEYSTORE_LOCKED",
    );
  });
});

describe("Keystore writes", () => {
  it("are atomic with mode 0600 and leave no temporary file", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 20; i++) await keystore.set(`s${i}`, utf8(`v${i}`));
    await keystore.delete("s0");
    await keystore.rotateMasterKey(envProvider(2));
    expect(readdirSync(root.dir)).toEqual(["keystore.json"]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("refuse to create over an existing file, leaving it as it was", async () => {
    const keystore = await Keystore.create(path, envProvider(1));
    await keystore.set("s", SECRET);
    const before = readFileSync(path, "utf8");
    await expectCode(Keystore.create(path, envProvider(1)), "STORE_EXISTS");
    expect(readFileSync(path, "utf8")).toBe(before);
    expect(readdirSync(root.dir)).toEqual(["keystore.json"]);
    writeFileSync(join(root.dir, "other.json"), "not a keystore");
    await expectCode(Keystore.create(join(root.dir, "other.json"), envProvider(1)), "STORE_EXISTS");
  });

  it("refuse to overwrite changes another process made since opening", async () => {
    const first = await Keystore.create(path, envProvider(1));
    const second = await Keystore.open(path, envProvider(1));
    await second.set("theirs", utf8("x"));
    await expectCode(first.set("mine", utf8("y")), "STORE_BUSY", /changed by another process/);
    expect(first.has("mine")).toBe(false);
    const reopened = await Keystore.open(path, envProvider(1));
    expect(reopened.names()).toEqual(["theirs"]);
  });
});
