// HPKE (RFC 9180), base mode, KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256, and an AEAD:
// AES-256-GCM for Custos (suite 0x0020/0x0001/0x0002); AES-128-GCM and ChaCha20-Poly1305 too, so the
// RFC's appendix A vectors check this very key schedule. Built on a crypto backend: node:crypto on Node
// (fast), @noble in the browser portal; every entry point takes one, defaulting to the platform's, and
// the vectors run on both.

import { concatBytes, toBase64, utf8 } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import { type CryptoBackend, defaultBackend, type X25519Handle } from "../backend.js";
import { labeledExpand, labeledExtract, x25519 } from "./primitives.js";

export const KEM_X25519_HKDF_SHA256 = 0x0020;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEADS = {
  aes128gcm: { id: 0x0001, keyLength: 16, cipher: "aes-128-gcm" },
  aes256gcm: { id: 0x0002, keyLength: 32, cipher: "aes-256-gcm" },
  chacha20poly1305: { id: 0x0003, keyLength: 32, cipher: "chacha20-poly1305" },
} as const;
export type AeadName = keyof typeof AEADS;

const MODE_BASE = 0x00;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const KEM_SUITE_ID = concatBytes(utf8("KEM"), new Uint8Array([0x00, 0x20]));
const EMPTY = new Uint8Array(0);

function suiteId(aead: AeadName): Uint8Array {
  const id = AEADS[aead].id;
  return concatBytes(utf8("HPKE"), new Uint8Array([0x00, 0x20, 0x00, 0x01, id >> 8, id & 0xff]));
}

/** RFC 9180 4.1 ExtractAndExpand over dh and kem_context = enc || pkRm. */
function sharedSecret(
  dh: Uint8Array,
  enc: Uint8Array,
  recipientPublicKey: Uint8Array,
  backend: CryptoBackend,
): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, "eae_prk", dh, backend);
  return labeledExpand(
    KEM_SUITE_ID,
    eaePrk,
    "shared_secret",
    concatBytes(enc, recipientPublicKey),
    32,
    backend,
  );
}

/** RFC 9180 7.1.3 DeriveKeyPair for X25519 (used for test vectors). */
export function deriveX25519KeyPair(
  ikm: Uint8Array,
  backend: CryptoBackend = defaultBackend,
): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, EMPTY, "dkp_prk", ikm, backend);
  const privateKey = labeledExpand(KEM_SUITE_ID, dkpPrk, "sk", EMPTY, 32, backend);
  return { privateKey, publicKey: backend.x25519PublicOf(backend.x25519PrivateKey(privateKey)) };
}

interface KeySchedule {
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

// key_schedule_context depends only on the suite and info, which a node reuses for every wrap.
const contextCache = new Map<string, Uint8Array>();

function keyScheduleContext(
  aead: AeadName,
  suite: Uint8Array,
  info: Uint8Array,
  backend: CryptoBackend,
): Uint8Array {
  const cacheKey = `${aead}:${toBase64(info)}`;
  let context = contextCache.get(cacheKey);
  if (context === undefined) {
    const pskIdHash = labeledExtract(suite, EMPTY, "psk_id_hash", EMPTY, backend);
    const infoHash = labeledExtract(suite, EMPTY, "info_hash", info, backend);
    context = concatBytes(new Uint8Array([MODE_BASE]), pskIdHash, infoHash);
    if (contextCache.size > 1000) contextCache.clear();
    contextCache.set(cacheKey, context);
  }
  return context;
}

/** RFC 9180 5.1 KeySchedule, base mode (empty psk and psk_id). */
function keySchedule(
  aead: AeadName,
  shared: Uint8Array,
  info: Uint8Array,
  backend: CryptoBackend,
): KeySchedule {
  const suite = suiteId(aead);
  const context = keyScheduleContext(aead, suite, info, backend);
  const secret = labeledExtract(suite, shared, "secret", EMPTY, backend);
  return {
    key: labeledExpand(suite, secret, "key", context, AEADS[aead].keyLength, backend),
    baseNonce: labeledExpand(suite, secret, "base_nonce", context, NONCE_LENGTH, backend),
    exporterSecret: labeledExpand(suite, secret, "exp", context, 32, backend),
  };
}

/** An HPKE context (RFC 9180 5.2): seals or opens a sequence of messages. */
export class HpkeContext {
  readonly #aead: AeadName;
  readonly #schedule: KeySchedule;
  readonly #backend: CryptoBackend;
  #sequence = 0;

  constructor(aead: AeadName, schedule: KeySchedule, backend: CryptoBackend = defaultBackend) {
    this.#aead = aead;
    this.#schedule = schedule;
    this.#backend = backend;
  }

  #nonce(): Uint8Array {
    const nonce = this.#schedule.baseNonce.slice();
    let seq = this.#sequence;
    for (let i = NONCE_LENGTH - 1; i >= NONCE_LENGTH - 7 && seq > 0; i--) {
      nonce[i] = nonce[i]! ^ (seq & 0xff);
      seq = Math.floor(seq / 256);
    }
    if (this.#sequence >= Number.MAX_SAFE_INTEGER)
      throw new CustosError("BAD_ARGUMENT", "HPKE sequence number overflow");
    return nonce;
  }

  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const sealed = this.#backend.aeadSeal(
      AEADS[this.#aead].cipher,
      this.#schedule.key,
      this.#nonce(),
      aad,
      plaintext,
    );
    this.#sequence++;
    return sealed;
  }

  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (ciphertext.length < TAG_LENGTH) {
      throw new CustosError("DECRYPTION_FAILED", "the HPKE ciphertext is truncated: it was tampered with");
    }
    try {
      const opened = this.#backend.aeadOpen(
        AEADS[this.#aead].cipher,
        this.#schedule.key,
        this.#nonce(),
        aad,
        ciphertext,
      );
      this.#sequence++;
      return opened;
    } catch (error) {
      throw new CustosError(
        "DECRYPTION_FAILED",
        "HPKE decryption failed: the data was tampered with or the key is not the right one",
        { cause: error },
      );
    }
  }

  /** RFC 9180 5.3 secret export. */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    return labeledExpand(
      suiteId(this.#aead),
      this.#schedule.exporterSecret,
      "sec",
      exporterContext,
      length,
      this.#backend,
    );
  }
}

/** A recipient's public key, parsed once: sealing many messages to it costs no re-parsing. */
export class HpkeRecipient {
  readonly publicKey: Uint8Array;
  readonly #key: X25519Handle;
  readonly #backend: CryptoBackend;

  constructor(publicKey: Uint8Array, backend: CryptoBackend = defaultBackend) {
    this.publicKey = publicKey.slice();
    this.#backend = backend;
    this.#key = backend.x25519PublicKey(publicKey);
  }

  /** RFC 9180 5.1.1 SetupBaseS; `ephemeralPrivateKey` only for test vectors. */
  setupSender(
    info: Uint8Array,
    aead: AeadName = "aes256gcm",
    ephemeralPrivateKey?: Uint8Array,
  ): { enc: Uint8Array; context: HpkeContext } {
    const backend = this.#backend;
    let ephemeral: X25519Handle;
    let enc: Uint8Array;
    if (ephemeralPrivateKey) {
      ephemeral = backend.x25519PrivateKey(ephemeralPrivateKey);
      enc = backend.x25519PublicOf(ephemeral);
    } else {
      const pair = backend.x25519Generate();
      ephemeral = pair.privateKey;
      enc = pair.publicKey;
    }
    const dh = x25519(ephemeral, this.#key, backend);
    const schedule = keySchedule(aead, sharedSecret(dh, enc, this.publicKey, backend), info, backend);
    return { enc, context: new HpkeContext(aead, schedule, backend) };
  }

  seal(
    info: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
  ): { enc: Uint8Array; ciphertext: Uint8Array } {
    const { enc, context } = this.setupSender(info);
    return { enc, ciphertext: context.seal(aad, plaintext) };
  }
}

const recipientCache = new Map<string, HpkeRecipient>();

function cachedRecipient(publicKey: Uint8Array, backend: CryptoBackend): HpkeRecipient {
  if (backend !== defaultBackend) return new HpkeRecipient(publicKey, backend);
  const key = toBase64(publicKey);
  let recipient = recipientCache.get(key);
  if (recipient === undefined) {
    recipient = new HpkeRecipient(publicKey, backend);
    if (recipientCache.size > 100_000) recipientCache.clear();
    recipientCache.set(key, recipient);
  }
  return recipient;
}

/** A recipient's private key, parsed once: opening many messages costs no re-parsing. */
export class HpkeReceiver {
  readonly publicKey: Uint8Array;
  readonly #privateKey: X25519Handle;
  readonly #backend: CryptoBackend;

  constructor(privateKey: Uint8Array, backend: CryptoBackend = defaultBackend) {
    this.#backend = backend;
    this.#privateKey = backend.x25519PrivateKey(privateKey);
    this.publicKey = backend.x25519PublicOf(this.#privateKey);
  }

  /** RFC 9180 5.1.2 SetupBaseR. */
  setupReceiver(enc: Uint8Array, info: Uint8Array, aead: AeadName = "aes256gcm"): HpkeContext {
    if (enc.length !== 32) {
      throw new CustosError(
        "DECRYPTION_FAILED",
        "the HPKE encapsulated key is not 32 bytes: it was tampered with",
      );
    }
    const backend = this.#backend;
    const dh = x25519(this.#privateKey, backend.x25519PublicKey(enc), backend);
    return new HpkeContext(
      aead,
      keySchedule(aead, sharedSecret(dh, enc, this.publicKey, backend), info, backend),
      backend,
    );
  }

  /** Single-shot open (RFC 9180 6.1) with the Custos suite; DECRYPTION_FAILED on any failure. */
  open(enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    try {
      return this.setupReceiver(enc, info).open(aad, ciphertext);
    } catch (error) {
      if (error instanceof CustosError && error.code === "DECRYPTION_FAILED") throw error;
      throw new CustosError(
        "DECRYPTION_FAILED",
        "HPKE decryption failed: the data was tampered with or the key is not the right one",
        { cause: error },
      );
    }
  }
}

/** RFC 9180 5.1.2 SetupBaseR. */
export function setupBaseR(
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
  aead: AeadName = "aes256gcm",
  backend: CryptoBackend = defaultBackend,
): HpkeContext {
  return new HpkeReceiver(recipientPrivateKey, backend).setupReceiver(enc, info, aead);
}

/** RFC 9180 5.1.1 SetupBaseS. */
export function setupBaseS(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aead: AeadName = "aes256gcm",
  backend: CryptoBackend = defaultBackend,
): { enc: Uint8Array; context: HpkeContext } {
  return cachedRecipient(recipientPublicKey, backend).setupSender(info, aead);
}

/** Single-shot seal (RFC 9180 6.1) with the Custos suite. */
export function sealBase(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  backend: CryptoBackend = defaultBackend,
): { enc: Uint8Array; ciphertext: Uint8Array } {
  return cachedRecipient(recipientPublicKey, backend).seal(info, aad, plaintext);
}

/** Single-shot open (RFC 9180 6.1) with the Custos suite; DECRYPTION_FAILED on any failure. */
export function openBase(
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  try {
    return setupBaseR(enc, recipientPrivateKey, info, "aes256gcm", backend).open(aad, ciphertext);
  } catch (error) {
    if (error instanceof CustosError && error.code === "BAD_KEY") throw error;
    if (error instanceof CustosError)
      throw new CustosError("DECRYPTION_FAILED", error.message, { cause: error });
    throw new CustosError(
      "DECRYPTION_FAILED",
      "HPKE decryption failed: the data was tampered with or the key is not the right one",
      { cause: error },
    );
  }
}
