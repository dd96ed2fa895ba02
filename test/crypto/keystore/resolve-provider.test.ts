import { describe, expect, it } from "vitest";
import {
  EnvProvider,
  KeyFileProvider,
  PassphraseProvider,
  resolveMasterKeyProvider,
} from "../../../src/crypto/keystore/index.js";

describe("resolveMasterKeyProvider", () => {
  it("refuses to run without a master key and says exactly how to provide one", () => {
    let error: unknown;
    try {
      resolveMasterKeyProvider({ env: {} });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: "KEY_MISSING" });
    const message = (error as Error).message;
    expect(message).toContain("--master-key-file FILE");
    expect(message).toContain("CUSTOS_MASTER_KEY");
    expect(message).toContain("base64 of 32 random bytes");
    expect(message).toContain("openssl rand -base64 32");
    expect(message).toContain("CUSTOS_MASTER_PASSPHRASE");
  });

  it("treats empty settings as absent", () => {
    expect(() =>
      resolveMasterKeyProvider({
        keyFile: "",
        passphrase: "",
        env: { CUSTOS_MASTER_KEY: "", CUSTOS_MASTER_PASSPHRASE: "" },
      }),
    ).toThrow(expect.objectContaining({ code: "KEY_MISSING" }));
  });

  it("prefers a key file, then CUSTOS_MASTER_KEY, then a passphrase", () => {
    const key = Buffer.alloc(32, 1).toString("base64");
    const all = { CUSTOS_MASTER_KEY: key, CUSTOS_MASTER_PASSPHRASE: "long enough pass" };
    expect(resolveMasterKeyProvider({ keyFile: "/k", env: all })).toBeInstanceOf(KeyFileProvider);
    expect(resolveMasterKeyProvider({ env: all })).toBeInstanceOf(EnvProvider);
    expect(
      resolveMasterKeyProvider({ env: { CUSTOS_MASTER_PASSPHRASE: "long enough pass" } }),
    ).toBeInstanceOf(PassphraseProvider);
    expect(resolveMasterKeyProvider({ passphrase: "given directly", env: {} }).kind).toBe("passphrase");
  });
});
