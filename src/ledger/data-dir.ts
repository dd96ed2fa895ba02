// A node's data directory: the log database and the keystore that holds the log's signing key
// (encrypted under the master key). `custos log init` creates one; everything else opens one.
//
//   DIR/custos.db       the log (SQLite), unless the log lives in PostgreSQL (--db URL)
//   DIR/keystore.json   node secrets, sealed under the master key (docs/keystore.md)

import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ENTRY_FORMAT_VERSION } from "../core/entry/index.js";
import { CustosError, fromUtf8, utf8 } from "../core/index.js";
import { generateSignerKey, verifierKeyFromSigner } from "../core/note/index.js";
import { Keystore, type MasterKeyProvider } from "../crypto/keystore/index.js";
import { Ledger, type LedgerOptions } from "./ledger.js";
import { PostgresStore, takeUrlParam } from "./postgres/index.js";
import { SQLITE_FILE_NAME, SqliteStore } from "./sqlite/sqlite-store.js";
import type { LedgerStore } from "./storage.js";

export const KEYSTORE_FILE_NAME = "keystore.json";
export const LOG_SIGNER_SECRET = "log-signer-key";

/**
 * Said where a node finds its log but not the files beside it (a directory rebuilt from a mirror):
 * the node's backup holds them.
 */
export const RESTORE_FROM_BACKUP_HINT = (what: string): string =>
  `If this node was lost, its backup holds ${what} (a file made by \`custos backup\`): restore into a new directory with \`custos restore --data NEWDIR --backup FILE --from-mirror MIRROR\` (or --db URL) (docs/operations.md#backups-and-restore)`;

export interface InitOptions {
  readonly origin: string;
  readonly masterKey: MasterKeyProvider;
  /** A PostgreSQL URL to keep the log in (the keystore stays in the data directory). */
  readonly db?: string;
}

export interface InitResult {
  readonly origin: string;
  readonly verifierKey: string;
  readonly databasePath: string;
  readonly keystorePath: string;
}

/** Where the log itself lives: the data directory's SQLite file, or a PostgreSQL URL. */
export interface StoreLocation {
  readonly db?: string;
  readonly create?: boolean;
  readonly readonly?: boolean;
}

const ORIGIN_PATTERN = /^[\x21-\x7e]{1,255}$/;

export async function openStore(dir: string, location: StoreLocation = {}): Promise<LedgerStore> {
  if (location.db) {
    if (!/^postgres(ql)?:\/\//.test(location.db)) {
      throw new CustosError(
        "CONFIG",
        "--db must be a postgres:// URL (leave it out to use the SQLite file in --data)",
      );
    }
    const { url, schema } = splitSchema(location.db);
    return PostgresStore.open(url, {
      create: location.create === true,
      // Read-only sessions for the commands that only read (verify), e.g. on a hot standby.
      ...(location.readonly && !location.create ? { readonly: true } : {}),
      ...(schema ? { schema } : {}),
    });
  }
  return SqliteStore.open(dir, {
    ...(location.create ? { create: true } : {}),
    ...(location.readonly ? { readonly: true } : {}),
  });
}

/**
 * `postgres://...?schema=NAME` picks the PostgreSQL schema that holds the log (default "custos"), so
 * several logs, or test runs, can share one database. The parameter is ours: it is removed before the
 * URL reaches the driver.
 */
export function splitSchema(db: string): { url: string; schema?: string } {
  // Read from the query string alone: a multi-host URL (h1:5432,h2:5432) is not a WHATWG URL.
  const { url, value } = takeUrlParam(db, "schema");
  return value === null ? { url: db } : { url, schema: value };
}

/** A database URL without its password, for messages. */
export function redactUrl(url: string): string {
  const match = /^(postgres(?:ql)?:\/\/[^:@/?#]*):[^/?#]*@/.exec(url);
  if (match) return `${match[1]}:***@${url.slice(match[0].length)}`;
  return /^postgres(ql)?:\/\//.test(url) ? url : "the database";
}

export async function initDataDir(dir: string, options: InitOptions): Promise<InitResult> {
  if (!ORIGIN_PATTERN.test(options.origin) || options.origin.includes("+")) {
    throw new CustosError(
      "BAD_ARGUMENT",
      "the log origin must be 1-255 printable characters without spaces or '+', e.g. hospital.example/custos",
    );
  }
  if (
    existsSync(dir) &&
    readdirSync(dir).some((name) => name === SQLITE_FILE_NAME || name === KEYSTORE_FILE_NAME)
  ) {
    throw new CustosError("STORE_EXISTS", `${dir} already holds a Custos log`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const store = await openStore(dir, { create: true, ...(options.db ? { db: options.db } : {}) });
  try {
    if ((await store.getMeta()) !== undefined) {
      throw new CustosError("STORE_EXISTS", "the database already holds a Custos log");
    }
    const { signerKey } = generateSignerKey(options.origin);
    const verifierKey = verifierKeyFromSigner(signerKey);
    const keystorePath = join(dir, KEYSTORE_FILE_NAME);
    const keystore = await Keystore.create(keystorePath, options.masterKey);
    await keystore.set(LOG_SIGNER_SECRET, utf8(signerKey));
    await store.initialize({
      origin: options.origin,
      verifierKey,
      createdAt: Date.now(),
      formatVersion: ENTRY_FORMAT_VERSION,
    });
    // The empty tree gets its checkpoint at once, so every later state has a signed predecessor.
    const ledger = await Ledger.open(store, { signerKey });
    await ledger.checkpoint();
    await ledger.close();
    return {
      origin: options.origin,
      verifierKey,
      databasePath: options.db ? redactUrl(options.db) : join(dir, SQLITE_FILE_NAME),
      keystorePath,
    };
  } finally {
    await store.close();
  }
}

/** Opens the log read-only: proofs, checkpoints, verification. Needs no master key. */
export async function openLogReadOnly(dir: string, location: StoreLocation = {}): Promise<Ledger> {
  const store = await openStore(dir, location);
  try {
    return await Ledger.open(store);
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** Opens the log for writing: unlocks the keystore with the master key to get the signing key. */
export async function openLogWritable(
  dir: string,
  masterKey: MasterKeyProvider,
  options: Omit<LedgerOptions, "signerKey"> & { db?: string } = {},
): Promise<Ledger> {
  const store = await openStore(dir, options.db ? { db: options.db } : {});
  try {
    // A log on a read-only mount would open, say "serving" and fail every write: refuse instead. (Before
    // the lock: SQLite's lock file cannot even be opened there.)
    const writable = (await store.writeReadiness?.()) ?? "ok";
    if (writable === "read-only file system") {
      throw new CustosError(
        "STORE_BUSY",
        `the file system holding ${dir} is read-only, so the log cannot be appended to: check it and remount it read-write (reads need no write access: custos verify, mirrors)`,
      );
    }
    if (store.acquireSequencerLock && !(await store.acquireSequencerLock())) {
      throw new CustosError(
        "STORE_BUSY",
        store.backend === "postgres"
          ? "another node is sequencing this log; this node can serve reads but not append (one sequencer per log)"
          : `a running node (or another command) holds the log in ${dir}; it has one writer at a time`,
      );
    }
    const signerKey = await loadSignerKey(dir, masterKey);
    return await Ledger.open(store, { ...options, signerKey });
  } catch (error) {
    await store.close();
    throw error;
  }
}

export async function loadSignerKey(dir: string, masterKey: MasterKeyProvider): Promise<string> {
  const keystorePath = join(dir, KEYSTORE_FILE_NAME);
  if (!existsSync(keystorePath)) {
    throw new CustosError(
      "KEY_MISSING",
      `no keystore in ${dir}: the log's signing key is missing. ${RESTORE_FROM_BACKUP_HINT("the keystore")}`,
    );
  }
  const keystore = await Keystore.open(keystorePath, masterKey);
  return fromUtf8(keystore.get(LOG_SIGNER_SECRET));
}
