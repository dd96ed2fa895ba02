// The backup file (docs/formats.md#backup-files): the files a node or a witness needs besides its log,
// in one AES-256-GCM envelope under a key stretched from a backup passphrase with scrypt. The header
// (magic, version, KDF parameters, nonce) is the AEAD's associated data, so nothing of the file can be
// changed unnoticed; opening never returns bytes that did not authenticate.
//
//   "CUSTOSBK" | version (1 byte) | header length (4 bytes, big-endian) | header JSON | ciphertext+tag

import { randomBytes } from "node:crypto";
import { CustosError, fromBase64, fromUtf8, sha256, toBase64, utf8 } from "../core/index.js";
import { aesGcmOpen, aesGcmSeal } from "../crypto/index.js";
import type { MasterKeyParams } from "../crypto/keystore/index.js";
import { PassphraseProvider } from "../crypto/keystore/index.js";

const MAGIC = utf8("CUSTOSBK");
export const BACKUP_VERSION = 1;
const MAX_HEADER_BYTES = 4096;
/** A backup holds small files (keystore, CA, a witness's database): far below this. */
export const MAX_BACKUP_BYTES = 256 * 1024 * 1024;
/** Backups are kept for years, away from the node: a short passphrase is refused. */
export const MIN_BACKUP_PASSPHRASE_LENGTH = 12;

export type BackupKind = "node" | "witness";

export interface BackupFileEntry {
  /** Relative to the data directory, "/"-separated, e.g. "ca/ca.pem". */
  readonly path: string;
  readonly mode: number;
  readonly data: Uint8Array;
}

export interface BackupContents {
  readonly kind: BackupKind;
  readonly createdAt: number;
  /** Node: the log the backup belongs to, and its size and checkpoint when the backup was made. */
  readonly log?: {
    readonly origin: string;
    readonly verifierKey: string;
    readonly size: number;
    readonly checkpoint?: string;
  };
  /** Witness: its name and cosigner verifier key. */
  readonly witness?: { readonly name: string; readonly verifierKey: string };
  /** The node's identity bundle (still sealed under its own bundle passphrase), if given. */
  readonly identity?: { readonly name: string; readonly data: Uint8Array };
  readonly files: readonly BackupFileEntry[];
}

interface Manifest {
  format: "custos-backup";
  version: number;
  kind: BackupKind;
  createdAt: number;
  log?: BackupContents["log"];
  witness?: BackupContents["witness"];
  identity?: { name: string; data: string };
  files: { path: string; mode: number; sha256: string; data: string }[];
}

const PATH_PATTERN = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._\-/]{1,200}$/;

function checkPassphrase(passphrase: string, creating: boolean): void {
  if (creating && [...passphrase].length < MIN_BACKUP_PASSPHRASE_LENGTH) {
    throw new CustosError(
      "CONFIG",
      `a backup passphrase must be at least ${MIN_BACKUP_PASSPHRASE_LENGTH} characters (a long random one is best; keep it apart from the backup)`,
    );
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Seals `contents` under `passphrase`; `cost` lowers scrypt's N for tests only. */
export async function sealBackup(
  contents: BackupContents,
  passphrase: string,
  cost?: { cost: number },
): Promise<Uint8Array> {
  checkPassphrase(passphrase, true);
  const manifest: Manifest = {
    format: "custos-backup",
    version: BACKUP_VERSION,
    kind: contents.kind,
    createdAt: contents.createdAt,
    ...(contents.log ? { log: contents.log } : {}),
    ...(contents.witness ? { witness: contents.witness } : {}),
    ...(contents.identity
      ? { identity: { name: contents.identity.name, data: toBase64(contents.identity.data) } }
      : {}),
    files: contents.files.map((f) => ({
      path: f.path,
      mode: f.mode,
      sha256: toBase64(sha256(f.data)),
      data: toBase64(f.data),
    })),
  };
  const { key, params } = await new PassphraseProvider(passphrase, cost).getMasterKey(undefined);
  try {
    const nonce = new Uint8Array(randomBytes(12));
    const header = utf8(JSON.stringify({ kdf: params, cipher: "aes-256-gcm", nonce: toBase64(nonce) }));
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, header.length);
    const prefix = concat([MAGIC, Uint8Array.of(BACKUP_VERSION), length, header]);
    return concat([prefix, aesGcmSeal(key, nonce, prefix, utf8(JSON.stringify(manifest)))]);
  } finally {
    key.fill(0);
  }
}

function malformed(what: string): CustosError {
  return new CustosError("BAD_ENCODING", `not a Custos backup file: ${what}`);
}

/** Opens a backup file, checking its integrity (AEAD) and every file's hash; throws on any doubt. */
export async function openBackup(bytes: Uint8Array, passphrase: string): Promise<BackupContents> {
  if (bytes.length > MAX_BACKUP_BYTES) throw malformed("it is larger than any backup Custos writes");
  if (bytes.length < MAGIC.length + 5 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw malformed("it does not start with CUSTOSBK (a file made by `custos backup`)");
  }
  const version = bytes[MAGIC.length]!;
  if (version !== BACKUP_VERSION) {
    throw new CustosError(
      "BAD_ENCODING",
      `the backup is format version ${version}; this Custos reads version ${BACKUP_VERSION}`,
    );
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset + MAGIC.length + 1, 4).getUint32(0);
  const headerStart = MAGIC.length + 5;
  if (headerLength > MAX_HEADER_BYTES || headerStart + headerLength + 16 > bytes.length) {
    throw malformed("its header is cut off or too long");
  }
  let header: { kdf?: unknown; cipher?: unknown; nonce?: unknown };
  let nonce: Uint8Array;
  try {
    header = JSON.parse(fromUtf8(bytes.subarray(headerStart, headerStart + headerLength)));
    nonce = fromBase64(String(header.nonce));
  } catch {
    throw malformed("its header is not readable");
  }
  if (
    header.cipher !== "aes-256-gcm" ||
    nonce.length !== 12 ||
    typeof header.kdf !== "object" ||
    !header.kdf
  ) {
    throw malformed("its header names no supported cipher and key derivation");
  }
  const { key } = await new PassphraseProvider(passphrase).getMasterKey(header.kdf as MasterKeyParams);
  let plain: Uint8Array;
  try {
    plain = aesGcmOpen(
      key,
      nonce,
      bytes.subarray(0, headerStart + headerLength),
      bytes.subarray(headerStart + headerLength),
    );
  } catch {
    throw new CustosError(
      "BAD_PASSPHRASE",
      "the backup does not open: a wrong backup passphrase, or the file was changed or cut off",
    );
  } finally {
    key.fill(0);
  }
  return parseManifest(plain);
}

function parseManifest(plain: Uint8Array): BackupContents {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fromUtf8(plain)) as Manifest;
  } catch {
    throw malformed("its contents are not readable");
  }
  if (manifest.format !== "custos-backup" || (manifest.kind !== "node" && manifest.kind !== "witness")) {
    throw malformed("its contents do not say what they back up");
  }
  if (!Array.isArray(manifest.files)) throw malformed("it lists no files");
  const files: BackupFileEntry[] = [];
  const seen = new Set<string>();
  for (const f of manifest.files) {
    if (typeof f.path !== "string" || !PATH_PATTERN.test(f.path) || seen.has(f.path)) {
      throw malformed("it names a file outside the data directory, or one twice");
    }
    seen.add(f.path);
    const data = fromBase64(String(f.data));
    if (toBase64(sha256(data)) !== f.sha256) {
      throw new CustosError("TAMPERED_ENTRY", `the backup's copy of ${f.path} does not match its hash`);
    }
    const mode = Number.isInteger(f.mode) && f.mode >= 0 && f.mode <= 0o777 ? f.mode : 0o600;
    files.push({ path: f.path, mode, data });
  }
  return {
    kind: manifest.kind,
    createdAt: Number(manifest.createdAt),
    ...(manifest.log ? { log: manifest.log } : {}),
    ...(manifest.witness ? { witness: manifest.witness } : {}),
    ...(manifest.identity
      ? {
          identity: {
            name: String(manifest.identity.name),
            data: fromBase64(String(manifest.identity.data)),
          },
        }
      : {}),
    files,
  };
}

/** The passphrase given at creation is checked for length; an open accepts whatever made the file. */
export function checkNewBackupPassphrase(passphrase: string): void {
  checkPassphrase(passphrase, true);
}
