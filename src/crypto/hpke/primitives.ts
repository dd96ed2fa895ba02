// The primitives HPKE composes, over a crypto backend (node:crypto on Node, @noble in the browser):
// HKDF-SHA256 Extract/Expand (RFC 5869) with HPKE's labels (RFC 9180 4) and raw 32-byte X25519 keys
// (RFC 7748).

import { CustosError, concatBytes, concatSecret, secretBytes, utf8 } from "../../core/index.js";
import { type CryptoBackend, defaultBackend, type X25519Handle } from "../backend.js";

const HPKE_V1 = utf8("HPKE-v1");

export function hkdfExtract(
  salt: Uint8Array,
  ikm: Uint8Array,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  return backend.hmacSha256(salt, ikm);
}

export function hkdfExpand(
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  const out = secretBytes(length);
  let previous: Uint8Array = new Uint8Array(0);
  let offset = 0;
  for (let counter = 1; offset < length; counter++) {
    const block = backend.hmacSha256(prk, previous, info, new Uint8Array([counter]));
    previous.fill(0);
    previous = block;
    out.set(previous.subarray(0, Math.min(previous.length, length - offset)), offset);
    offset += previous.length;
  }
  previous.fill(0);
  return out;
}

/** RFC 9180 4: LabeledExtract(salt, label, ikm). */
export function labeledExtract(
  suiteId: Uint8Array,
  salt: Uint8Array,
  label: string,
  ikm: Uint8Array,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  return hkdfExtract(salt, concatBytes(HPKE_V1, suiteId, utf8(label), ikm), backend);
}

/** RFC 9180 4: LabeledExpand(prk, label, info, L). */
export function labeledExpand(
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  const lengthBytes = new Uint8Array([length >> 8, length & 0xff]);
  return hkdfExpand(prk, concatBytes(lengthBytes, HPKE_V1, suiteId, utf8(label), info), length, backend);
}

/**
 * LabeledExtract then LabeledExpand (RFC 9180 4) in one HKDF call, which is what they compose to:
 * Expand(Extract(salt, "HPKE-v1" || suite || label1 || ikm), I2OSP(L, 2) || "HPKE-v1" || suite ||
 * label2 || info, L). The labeled input, which holds the secret ikm, is zero-filled after.
 */
export function labeledHkdf(
  suiteId: Uint8Array,
  salt: Uint8Array,
  extractLabel: string,
  ikm: Uint8Array,
  expandLabel: string,
  info: Uint8Array,
  length: number,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  // Measured here, HMAC objects cost less than node:crypto's hkdfSync (which builds key objects).
  const labeledIkm = concatSecret(HPKE_V1, suiteId, utf8(extractLabel), ikm);
  const prk = hkdfExtract(salt, labeledIkm, backend);
  labeledIkm.fill(0);
  const lengthBytes = new Uint8Array([length >> 8, length & 0xff]);
  try {
    return hkdfExpand(
      prk,
      concatBytes(lengthBytes, HPKE_V1, suiteId, utf8(expandLabel), info),
      length,
      backend,
    );
  } finally {
    prk.fill(0);
  }
}

export function x25519PublicKey(privateKey: Uint8Array, backend: CryptoBackend = defaultBackend): Uint8Array {
  return backend.x25519PublicOf(backend.x25519PrivateKey(privateKey));
}

export function generateX25519KeyPair(backend: CryptoBackend = defaultBackend): {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
} {
  const pair = backend.x25519Generate();
  return { publicKey: pair.publicKey, privateKey: pair.rawPrivateKey };
}

/** X25519 shared secret; rejects the all-zero output of small-order points (RFC 9180 7.1.4). */
export function x25519(
  privateKey: X25519Handle,
  publicKey: X25519Handle,
  backend: CryptoBackend = defaultBackend,
): Uint8Array {
  const shared = backend.x25519(privateKey, publicKey);
  if (shared.every((b) => b === 0))
    throw new CustosError("DECRYPTION_FAILED", "X25519 produced the all-zero secret");
  return shared;
}
