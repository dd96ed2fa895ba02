// A party's own key file (patient, audit company, custodian) until the identity issue's certificate
// bundles replace it: X25519 (encryption) and Ed25519 (signing) private keys, kept apart, sealed in a
// keystore file under the party's passphrase.

import { fromUtf8, toBase64, utf8 } from "../core/bytes.js";
import { CustosError } from "../core/errors.js";
import { ed25519PublicKey, randomBytes } from "../core/platform.js";
import { generateX25519KeyPair, x25519PublicKey } from "../crypto/hpke/index.js";
import { Keystore, PassphraseProvider } from "../crypto/keystore/index.js";
import { RecordOpener } from "./record-opener.js";

const ENCRYPTION_SECRET = "x25519-private-key";
const SIGNING_SECRET = "ed25519-seed";
const IDENTITY_SECRET = "identity";

export const PARTY_ROLES = ["patient", "auditor", "custodian"] as const;
export type PartyRole = (typeof PARTY_ROLES)[number];

export interface PartyKeys {
  readonly role: PartyRole;
  readonly id: string;
  readonly encryptionPublicKey: Uint8Array;
  readonly signingPublicKey: Uint8Array;
  opener(): RecordOpener;
}

export function passphraseFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const passphrase = env.CUSTOS_PARTY_PASSPHRASE;
  if (!passphrase) {
    throw new CustosError(
      "KEY_MISSING",
      "set CUSTOS_PARTY_PASSPHRASE to the passphrase that protects this party key file",
    );
  }
  return passphrase;
}

export async function createPartyKeyFile(
  path: string,
  role: PartyRole,
  id: string,
  passphrase: string,
  options: { scryptCost?: number } = {},
): Promise<{ encryptionPublicKey: string; signingPublicKey: string }> {
  const encryption = generateX25519KeyPair();
  const seed = randomBytes(32);
  const keystore = await Keystore.create(
    path,
    new PassphraseProvider(passphrase, options.scryptCost ? { cost: options.scryptCost } : undefined),
  );
  await keystore.set(ENCRYPTION_SECRET, encryption.privateKey);
  await keystore.set(SIGNING_SECRET, seed);
  await keystore.set(IDENTITY_SECRET, utf8(JSON.stringify({ role, id })));
  return {
    encryptionPublicKey: toBase64(encryption.publicKey),
    signingPublicKey: toBase64(ed25519PublicKey(seed)),
  };
}

export async function openPartyKeyFile(path: string, passphrase: string): Promise<PartyKeys> {
  let keystore: Keystore;
  try {
    keystore = await Keystore.open(path, new PassphraseProvider(passphrase));
  } catch (error) {
    if (error instanceof CustosError && error.code === "KEYSTORE_LOCKED") {
      throw new CustosError("KEYSTORE_LOCKED", `the passphrase does not open the key file ${path}`);
    }
    throw error;
  }
  const identity = JSON.parse(fromUtf8(keystore.get(IDENTITY_SECRET))) as { role: PartyRole; id: string };
  const privateKey = keystore.get(ENCRYPTION_SECRET);
  const seed = keystore.get(SIGNING_SECRET);
  return {
    role: identity.role,
    id: identity.id,
    encryptionPublicKey: x25519PublicKey(privateKey),
    signingPublicKey: ed25519PublicKey(seed),
    opener: () => new RecordOpener(privateKey),
  };
}
