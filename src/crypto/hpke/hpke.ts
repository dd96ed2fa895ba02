// HPKE (RFC 9180), base mode, KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256, and an AEAD:
// AES-256-GCM for Custos (suite 0x0020/0x0001/0x0002); AES-128-GCM and ChaCha20-Poly1305 too, so the
// RFC's appendix A vectors check this very key schedule. Built on node:crypto for speed.

import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { concatBytes, utf8 } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import {
  labeledExpand,
  labeledExtract,
  rawPublicKey,
  x25519,
  x25519PrivateKeyObject,
  x25519PublicKeyObject,
} from "./primitives.js";

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

function suiteId(aead: AeadName): Uint8Array {
  const id = AEADS[aead].id;
  return concatBytes(utf8("HPKE"), new Uint8Array([0x00, 0x20, 0x00, 0x01, id >> 8, id & 0xff]));
}

/** RFC 9180 4.1 ExtractAndExpand over dh and kem_context = enc || pkRm. */
function sharedSecret(dh: Uint8Array, enc: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, new Uint8Array(0), "eae_prk", dh);
  return labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", concatBytes(enc, recipientPublicKey), 32);
}

/** RFC 9180 7.1.3 DeriveKeyPair for X25519 (used for test vectors). */
export function deriveX25519KeyPair(ikm: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, new Uint8Array(0), "dkp_prk", ikm);
  const privateKey = labeledExpand(KEM_SUITE_ID, dkpPrk, "sk", new Uint8Array(0), 32);
  return { privateKey, publicKey: rawPublicKey(createPublicKey(x25519PrivateKeyObject(privateKey))) };
}

interface KeySchedule {
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

/** RFC 9180 5.1 KeySchedule, base mode (empty psk and psk_id). */
// key_schedule_context depends only on the suite and info, which a node reuses for every wrap.
const contextCache = new Map<string, Uint8Array>();

function keyScheduleContext(aead: AeadName, suite: Uint8Array, info: Uint8Array): Uint8Array {
  const cacheKey = `${aead}:${Buffer.from(info).toString("base64")}`;
  let context = contextCache.get(cacheKey);
  if (context === undefined) {
    const empty = new Uint8Array(0);
    const pskIdHash = labeledExtract(suite, empty, "psk_id_hash", empty);
    const infoHash = labeledExtract(suite, empty, "info_hash", info);
    context = concatBytes(new Uint8Array([MODE_BASE]), pskIdHash, infoHash);
    if (contextCache.size > 1000) contextCache.clear();
    contextCache.set(cacheKey, context);
  }
  return context;
}

function keySchedule(aead: AeadName, shared: Uint8Array, info: Uint8Array): KeySchedule {
  const suite = suiteId(aead);
  const empty = new Uint8Array(0);
  const context = keyScheduleContext(aead, suite, info);
  const secret = labeledExtract(suite, shared, "secret", empty);
  return {
    key: labeledExpand(suite, secret, "key", context, AEADS[aead].keyLength),
    baseNonce: labeledExpand(suite, secret, "base_nonce", context, NONCE_LENGTH),
    exporterSecret: labeledExpand(suite, secret, "exp", context, 32),
  };
}

/** An HPKE context (RFC 9180 5.2): seals or opens a sequence of messages. */
export class HpkeContext {
  readonly #aead: AeadName;
  readonly #schedule: KeySchedule;
  #sequence = 0;

  constructor(aead: AeadName, schedule: KeySchedule) {
    this.#aead = aead;
    this.#schedule = schedule;
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
    const { cipher } = AEADS[this.#aead];
    const c = createCipheriv(cipher as "aes-256-gcm", this.#schedule.key, this.#nonce(), {
      authTagLength: TAG_LENGTH,
    });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    this.#sequence++;
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (ciphertext.length < TAG_LENGTH) {
      throw new CustosError("DECRYPTION_FAILED", "the HPKE ciphertext is truncated: it was tampered with");
    }
    const { cipher } = AEADS[this.#aead];
    try {
      const d = createDecipheriv(cipher as "aes-256-gcm", this.#schedule.key, this.#nonce(), {
        authTagLength: TAG_LENGTH,
      });
      d.setAAD(aad, { plaintextLength: ciphertext.length - TAG_LENGTH });
      d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
      const body = Buffer.concat([
        d.update(ciphertext.subarray(0, ciphertext.length - TAG_LENGTH)),
        d.final(),
      ]);
      this.#sequence++;
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
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
    return labeledExpand(suiteId(this.#aead), this.#schedule.exporterSecret, "sec", exporterContext, length);
  }
}

/** A recipient's public key, parsed once: sealing many messages to it costs no re-parsing. */
export class HpkeRecipient {
  readonly publicKey: Uint8Array;
  readonly #keyObject: KeyObject;

  constructor(publicKey: Uint8Array) {
    this.publicKey = publicKey.slice();
    this.#keyObject = x25519PublicKeyObject(publicKey);
  }

  /** RFC 9180 5.1.1 SetupBaseS; `ephemeralPrivateKey` only for test vectors. */
  setupSender(
    info: Uint8Array,
    aead: AeadName = "aes256gcm",
    ephemeralPrivateKey?: Uint8Array,
  ): { enc: Uint8Array; context: HpkeContext } {
    let ephemeral: KeyObject;
    let enc: Uint8Array;
    if (ephemeralPrivateKey) {
      ephemeral = x25519PrivateKeyObject(ephemeralPrivateKey);
      enc = rawPublicKey(createPublicKey(ephemeral));
    } else {
      const pair = generateKeyPairSync("x25519");
      ephemeral = pair.privateKey;
      enc = rawPublicKey(pair.publicKey);
    }
    const dh = x25519(ephemeral, this.#keyObject);
    const schedule = keySchedule(aead, sharedSecret(dh, enc, this.publicKey), info);
    return { enc, context: new HpkeContext(aead, schedule) };
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

function cachedRecipient(publicKey: Uint8Array): HpkeRecipient {
  const key = Buffer.from(publicKey).toString("base64");
  let recipient = recipientCache.get(key);
  if (recipient === undefined) {
    recipient = new HpkeRecipient(publicKey);
    if (recipientCache.size > 100_000) recipientCache.clear();
    recipientCache.set(key, recipient);
  }
  return recipient;
}

/** A recipient's private key, parsed once: opening many messages costs no re-parsing. */
export class HpkeReceiver {
  readonly publicKey: Uint8Array;
  readonly #privateKey: KeyObject;

  constructor(privateKey: Uint8Array) {
    this.#privateKey = x25519PrivateKeyObject(privateKey);
    this.publicKey = rawPublicKey(createPublicKey(this.#privateKey));
  }

  /** RFC 9180 5.1.2 SetupBaseR. */
  setupReceiver(enc: Uint8Array, info: Uint8Array, aead: AeadName = "aes256gcm"): HpkeContext {
    if (enc.length !== 32) {
      throw new CustosError(
        "DECRYPTION_FAILED",
        "the HPKE encapsulated key is not 32 bytes: it was tampered with",
      );
    }
    const dh = x25519(this.#privateKey, x25519PublicKeyObject(enc));
    return new HpkeContext(aead, keySchedule(aead, sharedSecret(dh, enc, this.publicKey), info));
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
): HpkeContext {
  return new HpkeReceiver(recipientPrivateKey).setupReceiver(enc, info, aead);
}

/** RFC 9180 5.1.1 SetupBaseS. */
export function setupBaseS(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aead: AeadName = "aes256gcm",
): { enc: Uint8Array; context: HpkeContext } {
  return cachedRecipient(recipientPublicKey).setupSender(info, aead);
}

/** Single-shot seal (RFC 9180 6.1) with the Custos suite. */
export function sealBase(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): { enc: Uint8Array; ciphertext: Uint8Array } {
  return cachedRecipient(recipientPublicKey).seal(info, aad, plaintext);
}

/** Single-shot open (RFC 9180 6.1) with the Custos suite; DECRYPTION_FAILED on any failure. */
export function openBase(
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  try {
    return setupBaseR(enc, recipientPrivateKey, info).open(aad, ciphertext);
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
