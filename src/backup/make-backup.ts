// Making a backup of a node's or a witness's data directory, and checking one. The master key is
// never in it: the keystore inside stays sealed under the master key, so a backup alone opens
// nothing; the backup passphrase only guards the rest (the CA's state, the node's sealed bundle, a
// witness's database) and the file's integrity.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { CustosError, fromUtf8 } from "../core/index.js";
import { verifierKeyFromSigner } from "../core/note/index.js";
import { Keystore, type MasterKeyProvider } from "../crypto/keystore/index.js";
import { CA_KEY_SECRET, parseBundle } from "../identity/index.js";
import { LOG_SIGNER_SECRET, openStore, type StoreLocation } from "../ledger/index.js";
import { COSIGNER_SECRET, WitnessStore } from "../witness/index.js";
import type { BackupContents } from "./backup-file.js";
import { collectFiles, kindOf } from "./data-dir-files.js";

export interface MakeBackupOptions {
  /** The log is in PostgreSQL (its URL); otherwise the SQLite file in the directory. */
  readonly db?: string;
  /** The node's identity bundle file, carried as it is (sealed under its own passphrase). */
  readonly identityFile?: string;
  /** Files never to include (a master key file kept in the directory). */
  readonly exclude?: readonly string[];
  readonly now?: number;
}

export interface MadeBackup {
  readonly contents: BackupContents;
  readonly leftOut: readonly string[];
}

const BUNDLE_NAME = /^[A-Za-z0-9._-]{1,100}\.custos-id$/;

export async function makeBackup(dir: string, options: MakeBackupOptions = {}): Promise<MadeBackup> {
  const kind = kindOf(dir);
  const { files, leftOut } = collectFiles(dir, kind, options.exclude);
  const createdAt = options.now ?? Date.now();
  let identity: BackupContents["identity"];
  if (options.identityFile) {
    const name = basename(options.identityFile);
    identity = {
      name: BUNDLE_NAME.test(name) ? name : `${kind}.custos-id`,
      data: new Uint8Array(readFileSync(options.identityFile)),
    };
  }
  const withIdentity = identity ? { identity } : {};
  if (kind === "witness") {
    if (options.db) throw new CustosError("BAD_ARGUMENT", "a witness's backup takes no --db");
    const store = WitnessStore.open(dir);
    try {
      const { name, verifierKey } = store.meta;
      return {
        contents: { kind, createdAt, witness: { name, verifierKey }, ...withIdentity, files },
        leftOut,
      };
    } finally {
      store.close();
    }
  }
  const location: StoreLocation = { readonly: true, ...(options.db ? { db: options.db } : {}) };
  const store = await openStore(dir, location);
  let log: BackupContents["log"];
  try {
    const meta = await store.getMeta();
    if (!meta) throw new CustosError("STORE_NOT_FOUND", `the log of ${dir} is not initialized`);
    const latest = await store.getLatestCheckpoint();
    log = {
      origin: meta.origin,
      verifierKey: meta.verifierKey,
      size: await store.getSize(),
      ...(latest ? { checkpoint: latest.note } : {}),
    };
  } finally {
    await store.close();
  }
  if (identity) {
    const bundle = parseBundle(fromUtf8(identity.data), `the identity bundle ${options.identityFile}`);
    if (bundle.role !== "node" || (bundle.log && bundle.log.verifierKey !== log.verifierKey)) {
      throw new CustosError(
        "BAD_ARGUMENT",
        `${options.identityFile} is not an identity of this log's node (it is ${bundle.uri}); give the bundle the node serves with`,
      );
    }
  }
  return { contents: { kind, createdAt, log, ...withIdentity, files }, leftOut };
}

/**
 * With the master key: opens the backup's keystore and checks it holds the key the backup is for
 * (the log's signing key and the CA's key; a witness's cosigner key). Returns what it checked.
 */
export async function checkBackupKeys(
  contents: BackupContents,
  masterKey: MasterKeyProvider,
): Promise<string[]> {
  const file = contents.files.find((f) => f.path === "keystore.json");
  if (!file) throw new CustosError("KEY_MISSING", "the backup holds no keystore");
  const temp = mkdtempSync(join(tmpdir(), "custos-backup-check-"));
  try {
    const path = join(temp, "keystore.json");
    writeFileSync(path, file.data, { mode: 0o600 });
    const keystore = await Keystore.open(path, masterKey);
    try {
      if (contents.kind === "witness") {
        const key = keystore.has(COSIGNER_SECRET) ? fromUtf8(keystore.get(COSIGNER_SECRET)) : undefined;
        if (!key || verifierKeyFromSigner(key) !== contents.witness?.verifierKey) {
          throw new CustosError(
            "KEY_MISSING",
            "the backup's keystore does not hold this witness's cosigner key",
          );
        }
        return ["the keystore opens with the master key and holds the witness's cosigner key"];
      }
      const signer = keystore.has(LOG_SIGNER_SECRET) ? fromUtf8(keystore.get(LOG_SIGNER_SECRET)) : undefined;
      if (!signer || verifierKeyFromSigner(signer) !== contents.log?.verifierKey) {
        throw new CustosError(
          "KEY_MISSING",
          "the backup's keystore does not hold the signing key of the log it names",
        );
      }
      if (!keystore.has(CA_KEY_SECRET)) {
        throw new CustosError("KEY_MISSING", "the backup's keystore holds no deployment CA key");
      }
      return ["the keystore opens with the master key and holds the log's signing key and the CA's key"];
    } finally {
      keystore.close();
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
