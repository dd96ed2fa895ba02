// HPKE (RFC 9180), base mode, KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256, and an AEAD:
// AES-256-GCM for Custos (suite 0x0020/0x0001/0x0002); AES-128-GCM and ChaCha20-Poly1305 too, so the
// RFC's appendix A vectors check this very key schedule. Built on a crypto backend: node:crypto on Node
// (fast), @noble in the browser portal; every entry point takes one, defaulting to the platform's, and
// the vectors run on both. Secrets are zero-filled once used: the DH output and shared secret at
// setup, a context's key schedule by dispose() (single-shot seal and open dispose at once); on Node
// the sender's ephemeral private key never leaves OpenSSL.

import { CustosError, concatBytes, toBase64, utf8 } from "../../core/index.js";
import { type CryptoBackend, defaultBackend, type X25519Handle } from "../backend.js";
import { labeledExpand, labeledExtract, labeledHkdf, x25519 } from "./primitives.js";

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

/** RFC 9180 4.1 ExtractAndExpand over dh and kem_context = enc || pkRm; zero-fills dh. */
function sharedSecret(
  dh: Uint8Array,
  enc: Uint8Array,
  recipientPublicKey: Uint8Array,
  backend: CryptoBackend,
): Uint8Array {
  try {
    return labeledHkdf(
      KEM_SUITE_ID,
      EMPTY,
      "eae_prk",
      dh,
      "shared_secret",
      concatBytes(enc, recipientPublicKey),
      32,
      backend,
    );
  } finally {
    dh.fill(0);
  }
}

/** RFC 9180 7.1.3 DeriveKeyPair for X25519 (used for test vectors). */
export function deriveX25519KeyPair(
  ikm: Uint8Array,
  backend: CryptoBackend = defaultBackend,
): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = labeledHkdf(KEM_SUITE_ID, EMPTY, "dkp_prk", ikm, "sk", EMPTY, 32, backend);
  const handle = backend.x25519PrivateKey(privateKey);
  const publicKey = backend.x25519PublicOf(handle);
  backend.x25519Release(handle);
  return { privateKey, publicKey };
}

interface KeySchedule {
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  /** Only computed when asked for: a single-shot seal or open never exports. */
  readonly exporterSecret: Uint8Array | undefined;
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

/** RFC 9180 5.1 KeySchedule, base mode (empty psk and psk_id). Zero-fills `shared` and `secret`. */
function keySchedule(
  aead: AeadName,
  shared: Uint8Array,
  info: Uint8Array,
  backend: CryptoBackend,
  exporter: boolean,
): KeySchedule {
  const suite = suiteId(aead);
  const context = keyScheduleContext(aead, suite, info, backend);
  const secret = labeledExtract(suite, shared, "secret", EMPTY, backend);
  shared.fill(0);
  const derive = (label: string, length: number) =>
    labeledExpand(suite, secret, label, context, length, backend);
  try {
    return {
      key: derive("key", AEADS[aead].keyLength),
      baseNonce: derive("base_nonce", NONCE_LENGTH),
      exporterSecret: exporter ? derive("exp", 32) : undefined,
    };
  } finally {
    secret.fill(0);
  }
}

/** An HPKE context (RFC 9180 5.2): seals or opens a sequence of messages. */
export class HpkeContext {
  readonly #aead: AeadName;
  readonly #schedule: KeySchedule;
  readonly #backend: CryptoBackend;
  #sequence = 0;
  #disposed = false;

  constructor(aead: AeadName, schedule: KeySchedule, backend: CryptoBackend = defaultBackend) {
    this.#aead = aead;
    this.#schedule = schedule;
    this.#backend = backend;
  }

  #nonce(): Uint8Array {
    if (this.#disposed) throw new CustosError("BAD_ARGUMENT", "this HPKE context was disposed");
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
    const exporterSecret = this.#schedule.exporterSecret;
    if (this.#disposed) throw new CustosError("BAD_ARGUMENT", "this HPKE context was disposed");
    if (exporterSecret === undefined)
      throw new CustosError("BAD_ARGUMENT", "this HPKE context was set up without an exporter secret");
    return labeledExpand(suiteId(this.#aead), exporterSecret, "sec", exporterContext, length, this.#backend);
  }

  /** Zero-fills the key schedule: the context can no longer seal, open or export. */
  dispose(): void {
    this.#schedule.key.fill(0);
    this.#schedule.baseNonce.fill(0);
    this.#schedule.exporterSecret?.fill(0);
    this.#disposed = true;
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
    return this.#setup(info, aead, true, ephemeralPrivateKey);
  }

  #setup(
    info: Uint8Array,
    aead: AeadName,
    exporter: boolean,
    ephemeralPrivateKey?: Uint8Array,
  ): { enc: Uint8Array; context: HpkeContext } {
    const backend = this.#backend;
    const ephemeral = ephemeralPrivateKey
      ? { privateKey: backend.x25519PrivateKey(ephemeralPrivateKey), publicKey: undefined }
      : backend.x25519Ephemeral();
    try {
      const enc = ephemeral.publicKey ?? backend.x25519PublicOf(ephemeral.privateKey);
      const dh = x25519(ephemeral.privateKey, this.#key, backend);
      const shared = sharedSecret(dh, enc, this.publicKey, backend);
      return {
        enc,
        context: new HpkeContext(aead, keySchedule(aead, shared, info, backend, exporter), backend),
      };
    } finally {
      backend.x25519Release(ephemeral.privateKey);
    }
  }

  /** Single-shot seal (RFC 9180 6.1); the key schedule is zero-filled before it returns. */
  seal(
    info: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
  ): { enc: Uint8Array; ciphertext: Uint8Array } {
    const { enc, context } = this.#setup(info, "aes256gcm", false);
    try {
      return { enc, ciphertext: context.seal(aad, plaintext) };
    } finally {
      context.dispose();
    }
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
    return this.#setup(enc, info, aead, true);
  }

  #setup(enc: Uint8Array, info: Uint8Array, aead: AeadName, exporter: boolean): HpkeContext {
    if (enc.length !== 32) {
      throw new CustosError(
        "DECRYPTION_FAILED",
        "the HPKE encapsulated key is not 32 bytes: it was tampered with",
      );
    }
    const backend = this.#backend;
    const dh = x25519(this.#privateKey, backend.x25519PublicKey(enc), backend);
    const shared = sharedSecret(dh, enc, this.publicKey, backend);
    return new HpkeContext(aead, keySchedule(aead, shared, info, backend, exporter), backend);
  }

  /** Single-shot open (RFC 9180 6.1) with the Custos suite; DECRYPTION_FAILED on any failure. */
  open(enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    let context: HpkeContext | undefined;
    try {
      context = this.#setup(enc, info, "aes256gcm", false);
      return context.open(aad, ciphertext);
    } catch (error) {
      if (error instanceof CustosError && error.code === "DECRYPTION_FAILED") throw error;
      throw new CustosError(
        "DECRYPTION_FAILED",
        "HPKE decryption failed: the data was tampered with or the key is not the right one",
        { cause: error },
      );
    } finally {
      context?.dispose();
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
    return new HpkeReceiver(recipientPrivateKey, backend).open(enc, info, aad, ciphertext);
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
