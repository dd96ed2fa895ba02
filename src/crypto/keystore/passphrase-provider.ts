// A master key stretched from a passphrase with scrypt (RFC 7914). The salt and cost are public and
// stored in the keystore; the cost read back from a file is bounded so that a hostile file cannot
// make a node allocate unbounded memory.

import { randomBytes, scrypt } from "node:crypto";
import { CustosError, fromBase64, toBase64, utf8 } from "../../core/index.js";
import type { MasterKey, MasterKeyParams, MasterKeyProvider } from "./master-key-provider.js";
import { MASTER_KEY_BYTES } from "./master-key-provider.js";

export interface ScryptCost {
  /** CPU/memory cost N, a power of two. Default 2^17 (128 MiB with r = 8). */
  readonly cost?: number;
  /** Block size r. Default 8. */
  readonly blockSize?: number;
  /** Parallelization p. Default 1. */
  readonly parallelization?: number;
}

export const DEFAULT_SCRYPT_COST = { cost: 2 ** 17, blockSize: 8, parallelization: 1 } as const;

/** New passphrases shorter than this are refused; an existing keystore opens with whatever it was made with. */
export const MIN_PASSPHRASE_LENGTH = 8;

const SALT_BYTES = 16;
const MAX_SALT_BYTES = 64;
const MAX_MEMORY = 2 ** 30; // 128 * N * r bytes: 1 GiB at most
const MAX_BLOCK_SIZE = 32;
const MAX_PARALLELIZATION = 16;

interface ScryptParams {
  readonly salt: Uint8Array;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

function checkCost(N: number, r: number, p: number): boolean {
  return (
    Number.isSafeInteger(N) &&
    Number.isSafeInteger(r) &&
    Number.isSafeInteger(p) &&
    N >= 2 &&
    (N & (N - 1)) === 0 &&
    r >= 1 &&
    r <= MAX_BLOCK_SIZE &&
    p >= 1 &&
    p <= MAX_PARALLELIZATION &&
    128 * N * r <= MAX_MEMORY
  );
}

function parseRecorded(params: MasterKeyParams): ScryptParams {
  const { kdf, salt, N, r, p } = params;
  let saltBytes: Uint8Array | undefined;
  try {
    saltBytes = typeof salt === "string" ? fromBase64(salt) : undefined;
  } catch {
    saltBytes = undefined;
  }
  if (
    kdf !== "scrypt" ||
    saltBytes === undefined ||
    saltBytes.length < SALT_BYTES ||
    saltBytes.length > MAX_SALT_BYTES ||
    typeof N !== "number" ||
    typeof r !== "number" ||
    typeof p !== "number" ||
    !checkCost(N, r, p)
  ) {
    throw new CustosError(
      "STORE_CORRUPT",
      "the keystore's scrypt parameters are invalid or out of bounds (kdf, salt, N, r, p): the file was damaged or edited",
    );
  }
  return { salt: saltBytes, N, r, p };
}

function deriveKey(passphrase: Uint8Array, { salt, N, r, p }: ScryptParams): Promise<Uint8Array> {
  // Node refuses when 128 * N * r exceeds maxmem; leave room for the p blocks and bookkeeping.
  const maxmem = 128 * r * (N + p + 2) + 2 ** 20;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, MASTER_KEY_BYTES, { N, r, p, maxmem }, (error, derived) => {
      if (error) {
        reject(new CustosError("INTERNAL", "scrypt failed", { cause: error }));
        return;
      }
      const key = new Uint8Array(derived);
      derived.fill(0);
      resolve(key);
    });
  });
}

/** A passphrase stretched with scrypt; the passphrase is NFC-normalized so it types the same everywhere. */
export class PassphraseProvider implements MasterKeyProvider {
  readonly kind = "passphrase";
  readonly #passphrase: string;
  readonly #cost: { readonly N: number; readonly r: number; readonly p: number };

  constructor(passphrase: string, cost: ScryptCost = {}) {
    if (typeof passphrase !== "string" || passphrase.length === 0) {
      throw new CustosError("CONFIG", "the master passphrase is empty");
    }
    const N = cost.cost ?? DEFAULT_SCRYPT_COST.cost;
    const r = cost.blockSize ?? DEFAULT_SCRYPT_COST.blockSize;
    const p = cost.parallelization ?? DEFAULT_SCRYPT_COST.parallelization;
    if (!checkCost(N, r, p)) {
      throw new CustosError(
        "BAD_ARGUMENT",
        `the scrypt cost must be a power of two N >= 2, 1 <= r <= ${MAX_BLOCK_SIZE}, 1 <= p <= ${MAX_PARALLELIZATION}, 128*N*r <= 1 GiB`,
      );
    }
    this.#passphrase = passphrase.normalize("NFC");
    this.#cost = { N, r, p };
  }

  describe(): string {
    return "a passphrase (scrypt)";
  }

  async getMasterKey(params: MasterKeyParams | undefined): Promise<MasterKey> {
    let scryptParams: ScryptParams;
    if (params === undefined) {
      if ([...this.#passphrase].length < MIN_PASSPHRASE_LENGTH) {
        throw new CustosError(
          "CONFIG",
          `a new master passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters (a long random one is best)`,
        );
      }
      scryptParams = { salt: new Uint8Array(randomBytes(SALT_BYTES)), ...this.#cost };
    } else {
      scryptParams = parseRecorded(params);
    }
    const passphraseBytes = utf8(this.#passphrase);
    try {
      const key = await deriveKey(passphraseBytes, scryptParams);
      const { salt, N, r, p } = scryptParams;
      return { key, params: { kdf: "scrypt", salt: toBase64(salt), N, r, p } };
    } finally {
      passphraseBytes.fill(0);
    }
  }
}
