// A master key held by an HSM (PKCS#11, e.g. a network HSM or SoftHSM2): the token's AES-256 key is
// created non-extractable and never leaves the token. The keystore's master key is 32 random bytes
// kept only wrapped: encrypted by the token (CKM_AES_GCM, PKCS#11 v2.40 5.x) and recorded in the
// keystore's public parameters; opening asks the token to decrypt it. Without the token (and its PIN)
// the keystore cannot be opened. docs/keystore.md has the runbook.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Pkcs11Module from "pkcs11js";
import { CustosError, fromBase64, toBase64 } from "../../core/index.js";
import {
  MASTER_KEY_BYTES,
  type MasterKey,
  type MasterKeyParams,
  type MasterKeyProvider,
} from "./master-key-provider.js";

export const PKCS11_PIN_ENV = "CUSTOS_PKCS11_PIN";
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bound to every wrapped key so a ciphertext from another use of the same token key is refused. */
const AAD = Buffer.from("custos master key v1");

export interface Pkcs11Config {
  /** The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly module: string;
  /** The token's label. */
  readonly token: string;
  /** The label of the AES key on the token. */
  readonly keyLabel: string;
  /** A file holding the user PIN; else the PIN is read from CUSTOS_PKCS11_PIN. */
  readonly pinFile?: string;
  readonly env?: NodeJS.ProcessEnv;
}

type Pkcs11 = typeof Pkcs11Module;

function loadPkcs11(): Pkcs11 {
  try {
    return createRequire(import.meta.url)("pkcs11js") as Pkcs11;
  } catch (error) {
    throw new CustosError("CONFIG", "the PKCS#11 binding (pkcs11js) is not installed or did not build", {
      cause: error,
    });
  }
}

export class Pkcs11Provider implements MasterKeyProvider {
  readonly kind = "pkcs11";
  readonly #config: Pkcs11Config;

  constructor(config: Pkcs11Config) {
    this.#config = config;
  }

  describe(): string {
    return `the AES key "${this.#config.keyLabel}" on the PKCS#11 token "${this.#config.token}"`;
  }

  #pin(): string {
    if (this.#config.pinFile) {
      try {
        return readFileSync(this.#config.pinFile, "utf8").trim();
      } catch (error) {
        throw new CustosError(
          "KEY_MISSING",
          `cannot read the PKCS#11 PIN file ${this.#config.pinFile}: ${(error as NodeJS.ErrnoException).code}`,
        );
      }
    }
    const pin = (this.#config.env ?? process.env)[PKCS11_PIN_ENV];
    if (!pin)
      throw new CustosError(
        "KEY_MISSING",
        `give the PKCS#11 user PIN in a file (--pkcs11-pin-file) or ${PKCS11_PIN_ENV}`,
      );
    return pin;
  }

  /** Runs `work` in a logged-in session on the token, then logs out and finalizes. */
  #session<T>(work: (p: Pkcs11, lib: Pkcs11Module.PKCS11, session: Pkcs11Module.Handle) => T): T {
    const p = loadPkcs11();
    const lib = new p.PKCS11();
    try {
      lib.load(this.#config.module);
    } catch (error) {
      throw new CustosError("CONFIG", `cannot load the PKCS#11 module ${this.#config.module}`, {
        cause: error,
      });
    }
    lib.C_Initialize();
    try {
      const slot = lib
        .C_GetSlotList(true)
        .find((s) => lib.C_GetTokenInfo(s).label.trim() === this.#config.token);
      if (slot === undefined)
        throw new CustosError("KEY_MISSING", `no PKCS#11 token is labelled "${this.#config.token}"`);
      const session = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
      try {
        try {
          lib.C_Login(session, p.CKU_USER, this.#pin());
        } catch (error) {
          if (error instanceof CustosError) throw error;
          throw new CustosError(
            "BAD_PASSPHRASE",
            `the PKCS#11 token "${this.#config.token}" refused the PIN`,
          );
        }
        try {
          return work(p, lib, session);
        } finally {
          lib.C_Logout(session);
        }
      } finally {
        lib.C_CloseSession(session);
      }
    } finally {
      lib.C_Finalize();
    }
  }

  #findKey(p: Pkcs11, lib: Pkcs11Module.PKCS11, session: Pkcs11Module.Handle): Pkcs11Module.Handle {
    lib.C_FindObjectsInit(session, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_LABEL, value: this.#config.keyLabel },
    ]);
    const found = lib.C_FindObjects(session, 2);
    lib.C_FindObjectsFinal(session);
    if (found.length !== 1) {
      throw new CustosError(
        "KEY_MISSING",
        found.length === 0
          ? `no secret key is labelled "${this.#config.keyLabel}" on the token (custos keystore pkcs11-keygen makes one)`
          : `more than one secret key is labelled "${this.#config.keyLabel}" on the token`,
      );
    }
    return found[0]!;
  }

  /** Creates the token's AES-256 key: sensitive, non-extractable, for encrypt/decrypt only. */
  createTokenKey(): void {
    this.#session((p, lib, session) => {
      lib.C_FindObjectsInit(session, [{ type: p.CKA_LABEL, value: this.#config.keyLabel }]);
      const existing = lib.C_FindObjects(session, 1);
      lib.C_FindObjectsFinal(session);
      if (existing.length > 0)
        throw new CustosError(
          "STORE_EXISTS",
          `the token already holds a key labelled "${this.#config.keyLabel}"`,
        );
      lib.C_GenerateKey(session, { mechanism: p.CKM_AES_KEY_GEN }, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
        { type: p.CKA_VALUE_LEN, value: 32 },
        { type: p.CKA_LABEL, value: this.#config.keyLabel },
        { type: p.CKA_TOKEN, value: true },
        { type: p.CKA_PRIVATE, value: true },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: false },
        { type: p.CKA_ENCRYPT, value: true },
        { type: p.CKA_DECRYPT, value: true },
      ]);
    });
  }

  async getMasterKey(params: MasterKeyParams | undefined): Promise<MasterKey> {
    if (params === undefined) {
      const key = globalThis.crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES));
      const iv = randomBytes(IV_BYTES);
      const wrapped = this.#session((p, lib, session) => {
        const handle = this.#findKey(p, lib, session);
        lib.C_EncryptInit(session, gcm(p, iv), handle);
        const plain = Buffer.from(key);
        try {
          return lib.C_Encrypt(session, plain, Buffer.alloc(MASTER_KEY_BYTES + TAG_BYTES));
        } finally {
          plain.fill(0);
        }
      });
      return {
        key,
        params: {
          token: this.#config.token,
          keyLabel: this.#config.keyLabel,
          wrapped: toBase64(Buffer.concat([iv, wrapped])),
        },
      };
    }
    if (typeof params.wrapped !== "string")
      throw new CustosError("STORE_CORRUPT", "the keystore's PKCS#11 parameters have no wrapped key");
    const blob = fromBase64(params.wrapped);
    if (blob.length !== IV_BYTES + MASTER_KEY_BYTES + TAG_BYTES)
      throw new CustosError("STORE_CORRUPT", "the keystore's wrapped master key has the wrong length");
    const plain = this.#session((p, lib, session) => {
      const handle = this.#findKey(p, lib, session);
      lib.C_DecryptInit(session, gcm(p, Buffer.from(blob.subarray(0, IV_BYTES))), handle);
      try {
        return lib.C_Decrypt(
          session,
          Buffer.from(blob.subarray(IV_BYTES)),
          Buffer.alloc(MASTER_KEY_BYTES + TAG_BYTES),
        );
      } catch {
        throw new CustosError("BAD_KEY", `${this.describe()} does not open this keystore's master key`);
      }
    });
    if (plain.length !== MASTER_KEY_BYTES) {
      plain.fill(0);
      throw new CustosError("BAD_KEY", `${this.describe()} returned a master key of the wrong length`);
    }
    const key = new Uint8Array(plain);
    plain.fill(0);
    return { key, params };
  }
}

function gcm(p: Pkcs11, iv: Buffer): Pkcs11Module.Mechanism {
  const parameter: Pkcs11Module.AesGCM = {
    type: p.CK_PARAMS_AES_GCM,
    iv,
    aad: AAD,
    ivBits: IV_BYTES * 8,
    tagBits: TAG_BYTES * 8,
  };
  return { mechanism: p.CKM_AES_GCM, parameter };
}
