// Which files of a data directory a backup carries, and putting them back. A list of what is known,
// not "everything but the log": a file nobody named (a master key file left in the directory, a
// stray export) is never swept into a backup; it is reported as left out instead.
//
// Node: keystore.json (sealed under the master key), ca/ (certificate, CRL, CRL state), portal/
// (the generated portal certificate), portal.json (the portal's settings), retention.json,
// retention-state.json, archives.json (earlier releases' list of archives; no longer read: the log
// records archives now, but a backup of such a directory keeps it as it was),
// alerts.jsonl (fork evidence). Witness: keystore.json
// and a consistent snapshot of witness.db. Never: the log itself (a mirror or the database brings
// it back), SQLite's -wal/-shm, locks, verify-state.json (it describes one store),
// witnessed-checkpoint.txt and witnessed-quorum.json (the witnesses hold newer ones).

import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import Database from "better-sqlite3";
import { CustosError } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import type { BackupFileEntry, BackupKind } from "./backup-file.js";

export const NODE_FILES = [
  "keystore.json",
  "ca/ca.pem",
  "ca/crl.pem",
  "ca/state.json",
  "portal/cert.pem",
  "portal.json",
  "retention.json",
  "retention-state.json",
  "archives.json",
  "alerts.jsonl",
] as const;
/** What a node cannot start without; a backup missing one is refused when it is made. */
export const NODE_REQUIRED = ["keystore.json", "ca/ca.pem", "ca/crl.pem", "ca/state.json"] as const;
export const WITNESS_FILES = ["keystore.json", "witness.db"] as const;

/** Files a data directory holds that are deliberately not in a backup (no mention needed). */
const NOT_BACKED_UP = new Set([
  "custos.db",
  "custos.db-wal",
  "custos.db-shm",
  "custos.db-journal",
  "witness.db-wal",
  "witness.db-shm",
  "sequencer.lock",
  "verify-state.json",
  "witnessed-checkpoint.txt",
  "witnessed-quorum.json",
]);

export function kindOf(dir: string): BackupKind {
  if (existsSync(join(dir, "witness.db"))) return "witness";
  if (existsSync(join(dir, "keystore.json"))) return "node";
  throw new CustosError(
    "STORE_NOT_FOUND",
    `${dir} holds neither a node (keystore.json) nor a witness (witness.db): nothing to back up`,
  );
}

function walk(dir: string, base: string = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = lstatSync(path);
    if (stat.isDirectory()) out.push(...walk(path, base));
    else out.push(relative(base, path).split(sep).join("/"));
  }
  return out;
}

/** A consistent copy of a SQLite database (WAL included) taken through SQLite itself. */
function snapshotDatabase(path: string): Uint8Array {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return new Uint8Array(db.serialize());
  } finally {
    db.close();
  }
}

export interface CollectedFiles {
  readonly files: BackupFileEntry[];
  /** Files found in the directory that the backup leaves out (unknown to Custos). */
  readonly leftOut: string[];
}

/**
 * Reads what a backup of `dir` carries. `exclude` names files never to include whatever their name
 * (the master key file, when the operator keeps it in the directory).
 */
export function collectFiles(dir: string, kind: BackupKind, exclude: readonly string[] = []): CollectedFiles {
  const excluded = new Set(exclude.map((p) => resolve(p)));
  const wanted: readonly string[] = kind === "node" ? NODE_FILES : WITNESS_FILES;
  const files: BackupFileEntry[] = [];
  for (const path of wanted) {
    const full = join(dir, path);
    if (!existsSync(full) || excluded.has(resolve(full))) continue;
    const mode = lstatSync(full).mode & 0o777;
    const data = path === "witness.db" ? snapshotDatabase(full) : new Uint8Array(readFileSync(full));
    files.push({ path, mode, data });
  }
  if (kind === "node") {
    for (const path of NODE_REQUIRED) {
      if (!files.some((f) => f.path === path)) {
        throw new CustosError(
          "STORE_NOT_FOUND",
          `${dir} has no ${path}: a node's backup needs the keystore and the deployment CA (custos ca init)`,
        );
      }
    }
  }
  const leftOut = walk(dir).filter(
    (p) =>
      !wanted.includes(p) &&
      !NOT_BACKED_UP.has(p) &&
      !/\.damaged-/.test(p) &&
      !/^\.tmp-|\.tmp$/.test(p.split("/").pop() ?? ""),
  );
  for (const path of wanted) {
    if (excluded.has(resolve(join(dir, path)))) leftOut.push(path);
  }
  return { files, leftOut };
}

/** Files a restore would overwrite in `dir` (a restore only writes into a new directory). */
export function existingDeploymentFiles(dir: string, kind: BackupKind): string[] {
  const wanted: readonly string[] = kind === "node" ? NODE_FILES : WITNESS_FILES;
  return wanted.filter((p) => existsSync(join(dir, p)));
}

/** Writes the backup's files into `dir`, each atomically with its recorded mode, never overwriting. */
export function writeFiles(dir: string, files: readonly BackupFileEntry[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const root = resolve(dir);
  for (const file of files) {
    const target = resolve(root, file.path);
    if (!target.startsWith(root + sep)) {
      throw new CustosError(
        "BAD_ENCODING",
        `the backup names a file outside the data directory: ${file.path}`,
      );
    }
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileAtomic(target, file.data, { exclusive: true, mode: (file.mode & 0o777) | 0o600 });
  }
}
