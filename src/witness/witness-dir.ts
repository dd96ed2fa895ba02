// A witness's data directory: its store and the keystore holding the cosigner key, sealed under the
// master key (docs/keystore.md). `custos witness init` creates one; the witness unseals its key here.
//
//   WDIR/witness.db      the store (witness-store.ts)
//   WDIR/keystore.json   the cosigner key

import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CustosError, fromUtf8, utf8 } from "../core/index.js";
import { generateCosignerKey, KEY_TYPES, parseSignerKey, verifierKeyFromSigner } from "../core/note/index.js";
import { Keystore, type MasterKeyProvider } from "../crypto/keystore/index.js";
import { WITNESS_DB_FILE, type WitnessMeta, WitnessStore } from "./witness-store.js";

export const WITNESS_KEYSTORE_FILE = "keystore.json";
export const COSIGNER_SECRET = "witness-cosigner-key";

export interface WitnessInitResult {
  readonly name: string;
  readonly verifierKey: string;
  readonly storePath: string;
  readonly keystorePath: string;
}

/** Creates a witness data directory: a new cosigner key sealed in the keystore, and an empty store. */
export async function initWitnessDir(
  dir: string,
  options: { name: string; masterKey: MasterKeyProvider; now?: number },
): Promise<WitnessInitResult> {
  if (existsSync(dir) && readdirSync(dir).some((n) => n === WITNESS_DB_FILE || n === WITNESS_KEYSTORE_FILE)) {
    throw new CustosError("STORE_EXISTS", `${dir} already holds a witness`);
  }
  const { signerKey, verifierKey } = generateCosignerKey(options.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keystorePath = join(dir, WITNESS_KEYSTORE_FILE);
  const keystore = await Keystore.create(keystorePath, options.masterKey);
  await keystore.set(COSIGNER_SECRET, utf8(signerKey));
  const store = WitnessStore.create(dir, {
    name: options.name,
    verifierKey,
    ...(options.now !== undefined ? { createdAt: options.now } : {}),
  });
  const storePath = store.path;
  store.close();
  return { name: options.name, verifierKey, storePath, keystorePath };
}

/** Unseals the cosigner key and checks it is the key the store names; never put it in a message. */
export async function loadCosignerKey(
  dir: string,
  masterKey: MasterKeyProvider,
  meta: WitnessMeta,
): Promise<string> {
  const keystorePath = join(dir, WITNESS_KEYSTORE_FILE);
  if (!existsSync(keystorePath)) {
    throw new CustosError(
      "KEY_MISSING",
      `no keystore in ${dir}: the witness's cosigner key is missing. If this witness was lost, its keystore and database are in its backup (a file made by \`custos backup --data WITNESSDIR\`): \`custos restore --data NEWDIR --backup FILE\` (docs/operations.md#backups-and-restore)`,
    );
  }
  const keystore = await Keystore.open(keystorePath, masterKey);
  if (!keystore.has(COSIGNER_SECRET)) {
    throw new CustosError("KEY_MISSING", `the keystore in ${dir} holds no witness cosigner key`);
  }
  const signerKey = fromUtf8(keystore.get(COSIGNER_SECRET));
  const key = parseSignerKey(signerKey);
  if (key.type !== KEY_TYPES.cosignatureV1 || verifierKeyFromSigner(signerKey) !== meta.verifierKey) {
    throw new CustosError(
      "KEY_MISSING",
      `the keystore's cosigner key is not the witness key ${meta.verifierKey}`,
    );
  }
  return signerKey;
}
