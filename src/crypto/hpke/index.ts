export {
  AEADS,
  type AeadName,
  deriveX25519KeyPair,
  HpkeContext,
  HpkeReceiver,
  HpkeRecipient,
  KDF_HKDF_SHA256,
  KEM_X25519_HKDF_SHA256,
  openBase,
  sealBase,
  setupBaseR,
  setupBaseS,
} from "./hpke.js";
export { generateX25519KeyPair, x25519PublicKey } from "./primitives.js";
