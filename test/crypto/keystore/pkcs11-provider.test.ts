// The PKCS#11 master-key provider against a real SoftHSM2 token in a temporary directory: the keystore's
// master key is wrapped and unwrapped by the token's AES key, which is non-extractable (the token refuses
// to reveal its value); wrong PIN, missing key, another token key and an altered wrapped key all fail.

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as Pkcs11Module from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keystore } from "../../../src/crypto/keystore/index.js";
import { Pkcs11Provider } from "../../../src/crypto/keystore/pkcs11-provider.js";
import { BIN } from "../../helpers/deployment.js";
import { tempDir } from "../../helpers/temp.js";

const MODULE = "/usr/lib/softhsm/libsofthsm2.so";
const temp = tempDir("custos-pkcs11-");
const pinFile = join(temp.dir, "pin");
const provider = (
  keyLabel = "custos-master",
  extra: { pinFile?: string; env?: NodeJS.ProcessEnv } = { pinFile },
) => new Pkcs11Provider({ module: MODULE, token: "custos", keyLabel, ...extra });

beforeAll(() => {
  // SoftHSM2 finds its token directory through SOFTHSM2_CONF; the test's tokens live in its temp dir.
  mkdirSync(join(temp.dir, "tokens"));
  writeFileSync(
    join(temp.dir, "softhsm2.conf"),
    `directories.tokendir = ${join(temp.dir, "tokens")}\nobjectstore.backend = file\n`,
  );
  process.env.SOFTHSM2_CONF = join(temp.dir, "softhsm2.conf");
  const init = spawnSync(
    "/usr/bin/softhsm2-util",
    ["--init-token", "--free", "--label", "custos", "--pin", "4321", "--so-pin", "8765"],
    { encoding: "utf8" },
  );
  expect(init.status, init.stderr).toBe(0);
  writeFileSync(pinFile, "4321\n", { mode: 0o600 });
  provider().createTokenKey();
});

afterAll(() => temp.cleanup());

describe("the PKCS#11 master-key provider (SoftHSM2)", () => {
  it("wraps a new master key on the token and unwraps it again, from a PIN file or the environment", async () => {
    const made = await provider().getMasterKey(undefined);
    expect(made.key).toHaveLength(32);
    expect(made.params).toMatchObject({ token: "custos", keyLabel: "custos-master" });
    expect(JSON.stringify(made.params)).not.toContain(Buffer.from(made.key).toString("base64"));
    const again = await provider("custos-master", { env: { CUSTOS_PKCS11_PIN: "4321" } }).getMasterKey(
      made.params,
    );
    expect(Buffer.from(again.key).equals(Buffer.from(made.key))).toBe(true);
  });

  it("opens a keystore created with it, and only with the token", async () => {
    const path = join(temp.dir, "keystore.json");
    const created = await Keystore.create(path, provider());
    await created.set("log-signing-key", new Uint8Array(32).fill(7));
    const opened = await Keystore.open(path, provider());
    expect(opened.providerKind).toBe("pkcs11");
    expect(opened.get("log-signing-key")).toEqual(new Uint8Array(32).fill(7));
  });

  it("keeps the token key inside the token: sensitive and not extractable", () => {
    const p = createRequire(import.meta.url)("pkcs11js") as typeof Pkcs11Module;
    const lib = new p.PKCS11();
    lib.load(MODULE);
    lib.C_Initialize();
    try {
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === "custos")!;
      const session = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION);
      lib.C_Login(session, p.CKU_USER, "4321");
      lib.C_FindObjectsInit(session, [{ type: p.CKA_LABEL, value: "custos-master" }]);
      const [key] = lib.C_FindObjects(session, 1);
      lib.C_FindObjectsFinal(session);
      const [extractable, sensitive] = lib.C_GetAttributeValue(session, key!, [
        { type: p.CKA_EXTRACTABLE },
        { type: p.CKA_SENSITIVE },
      ]);
      expect(extractable!.value).toEqual(Buffer.from([0]));
      expect(sensitive!.value).toEqual(Buffer.from([1]));
      expect(() => lib.C_GetAttributeValue(session, key!, [{ type: p.CKA_VALUE }])).toThrow(
        /ATTRIBUTE_SENSITIVE/,
      );
      lib.C_CloseSession(session);
    } finally {
      lib.C_Finalize();
    }
  });

  it("refuses a wrong PIN, a missing key, another token key and an altered wrapped key", async () => {
    const made = await provider().getMasterKey(undefined);
    const code = async (run: () => Promise<unknown> | unknown) => {
      try {
        await run();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return "OK";
    };
    expect(
      await code(() =>
        provider("custos-master", { env: { CUSTOS_PKCS11_PIN: "0000" } }).getMasterKey(made.params),
      ),
    ).toBe("BAD_PASSPHRASE");
    expect(await code(() => provider("custos-master", { env: {} }).getMasterKey(made.params))).toBe(
      "KEY_MISSING",
    );
    expect(await code(() => provider("no-such-key").getMasterKey(made.params))).toBe("KEY_MISSING");
    provider("other-key").createTokenKey();
    expect(await code(() => provider("other-key").getMasterKey(made.params))).toBe("BAD_KEY");
    expect(await code(() => provider().createTokenKey())).toBe("STORE_EXISTS");
    const wrapped = Buffer.from(made.params.wrapped as string, "base64");
    wrapped[20]! ^= 1;
    expect(
      await code(() => provider().getMasterKey({ ...made.params, wrapped: wrapped.toString("base64") })),
    ).toBe("BAD_KEY");
  });
});

describe("custos with the master key on a PKCS#11 token", () => {
  it("makes a token key, initializes a log under it, lists the keystore and moves it to a new token key", () => {
    const env = {
      PATH: process.env.PATH,
      SOFTHSM2_CONF: process.env.SOFTHSM2_CONF,
      CUSTOS_PKCS11_MODULE: MODULE,
      CUSTOS_PKCS11_TOKEN: "custos",
      CUSTOS_PKCS11_KEY: "cli-master",
      CUSTOS_PKCS11_PIN_FILE: pinFile,
    };
    const custos = (args: string[], extra: Record<string, string> = {}) => {
      const run = spawnSync(process.execPath, [BIN, ...args], {
        env: { ...env, ...extra },
        encoding: "utf8",
      });
      return { status: run.status, out: `${run.stdout}${run.stderr}` };
    };
    const data = join(temp.dir, "node");
    expect(custos(["keystore", "pkcs11-keygen"]).out).toContain('created the AES key "cli-master"');
    expect(custos(["log", "init", "--data", data, "--origin", "hsm.example/log"]).status).toBe(0);
    const listed = custos(["keystore", "list", "--data", data]);
    expect(listed.status, listed.out).toBe(0);
    expect(custos(["keystore", "pkcs11-keygen", "--key", "cli-master-2"]).status).toBe(0);
    const moved = custos([
      "keystore",
      "rotate-master-key",
      "--data",
      data,
      "--new-pkcs11-key",
      "cli-master-2",
    ]);
    expect(moved.out).toContain('the AES key "cli-master-2"');
    expect(custos(["keystore", "list", "--data", data], { CUSTOS_PKCS11_KEY: "cli-master-2" }).out).toBe(
      listed.out,
    );
    const old = custos(["keystore", "list", "--data", data]);
    expect(old.status).not.toBe(0);
    expect(old.out).toMatch(/^error: /);
    const wrongPin = custos(["keystore", "list", "--data", data], {
      CUSTOS_PKCS11_KEY: "cli-master-2",
      CUSTOS_PKCS11_PIN_FILE: "",
      CUSTOS_PKCS11_PIN: "1111",
    });
    expect(wrongPin.out).toMatch(/^error: .*refused the PIN/);
  });
});
