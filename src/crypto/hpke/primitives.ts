// The primitives HPKE composes, on node:crypto: HKDF-SHA256 Extract/Expand (RFC 5869) with HPKE's
// labels (RFC 9180 4), X25519 (RFC 7748) with raw 32-byte keys, and the AEADs.

import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { concatBytes, utf8 } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";

const HPKE_V1 = utf8("HPKE-v1");

export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", salt).update(ikm).digest());
}

export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let previous = new Uint8Array(0);
  let offset = 0;
  for (let counter = 1; offset < length; counter++) {
    previous = new Uint8Array(
      createHmac("sha256", prk)
        .update(previous)
        .update(info)
        .update(new Uint8Array([counter]))
        .digest(),
    );
    out.set(previous.subarray(0, Math.min(previous.length, length - offset)), offset);
    offset += previous.length;
  }
  return out;
}

/** RFC 9180 4: LabeledExtract(salt, label, ikm). */
export function labeledExtract(
  suiteId: Uint8Array,
  salt: Uint8Array,
  label: string,
  ikm: Uint8Array,
): Uint8Array {
  return hkdfExtract(salt, concatBytes(HPKE_V1, suiteId, utf8(label), ikm));
}

/** RFC 9180 4: LabeledExpand(prk, label, info, L). */
export function labeledExpand(
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const lengthBytes = new Uint8Array([length >> 8, length & 0xff]);
  return hkdfExpand(prk, concatBytes(lengthBytes, HPKE_V1, suiteId, utf8(label), info), length);
}

// Raw X25519 keys move in and out of node:crypto as JWK (RFC 8037): measured here, JWK export is far
// cheaper than DER export, which dominated the cost of an HPKE seal.
function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

function fromBase64Url(text: string | undefined): Uint8Array {
  const bytes = Buffer.from(text ?? "", "base64url");
  if (bytes.length !== 32) throw new CustosError("BAD_KEY", "an X25519 key is 32 bytes");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function x25519PrivateKeyObject(privateKey: Uint8Array): KeyObject {
  if (privateKey.length !== 32) throw new CustosError("BAD_KEY", "an X25519 private key is 32 bytes");
  return createPrivateKey({
    key: Buffer.from(concatBytes(PKCS8_X25519, privateKey)),
    format: "der",
    type: "pkcs8",
  });
}

export function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new CustosError("BAD_KEY", "an X25519 public key is 32 bytes");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: toBase64Url(publicKey) }, format: "jwk" });
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  return fromBase64Url(key.export({ format: "jwk" }).x);
}

export function rawPrivateKey(key: KeyObject): Uint8Array {
  return fromBase64Url(key.export({ format: "jwk" }).d);
}

// RFC 8410 PKCS#8 wrapper for a raw X25519 private key (a private JWK import also needs `x`).
const PKCS8_X25519 = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(x25519PrivateKeyObject(privateKey)));
}

export function generateX25519KeyPair(): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublicKey(publicKey), privateKey: rawPrivateKey(privateKey) };
}

/** X25519 shared secret; rejects the all-zero output of small-order points (RFC 9180 7.1.4). */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch (error) {
    throw new CustosError("DECRYPTION_FAILED", "X25519 failed: the public key is invalid", { cause: error });
  }
  if (shared.every((b) => b === 0))
    throw new CustosError("DECRYPTION_FAILED", "X25519 produced the all-zero secret");
  return shared;
}
