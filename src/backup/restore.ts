// Bringing a node or a witness back in a new directory from its backup. A node's log comes from a
// mirror's directory (copied, verified before and after) or from the PostgreSQL database that still
// holds it; before anything is written, the witnesses are asked what they cosigned, and a restore that
// would serve fewer entries than they saw is refused unless the operator accepts that exact loss.

import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CustosError } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import type { LedgerStore } from "../ledger/index.js";
import {
  applyAllErasures,
  describeMigration,
  Ledger,
  migrateStore,
  openStore,
  redactUrl,
  SQLITE_FILE_NAME,
  SqliteStore,
} from "../ledger/index.js";
import type { TlsMaterial, WitnessEndpoint } from "../witness/index.js";
import { WitnessStore, writeRestoredMarker } from "../witness/index.js";
import type { BackupContents } from "./backup-file.js";
import { existingDeploymentFiles, writeFiles } from "./data-dir-files.js";
import { askWitnesses, compareWithWitnesses, type LossReport } from "./witness-check.js";

export interface RestoreOptions {
  readonly dir: string;
  readonly contents: BackupContents;
  /** Where the log comes from: a mirror's directory, and/or the PostgreSQL database (URL). */
  readonly fromMirror?: string;
  /** How messages name the mirror's directory (a scratch copy fetched over the network). */
  readonly sourceLabel?: string;
  readonly db?: string;
  /** The witnesses to compare with; an empty list only when the operator said so (--without-witnesses). */
  readonly witnesses: readonly WitnessEndpoint[];
  readonly tls: TlsMaterial;
  /** Entries the operator accepts to lose (the count the refusal named). */
  readonly acceptLoss?: number;
  readonly out: (line: string) => void;
}

export interface RestoreResult {
  readonly size: number;
  readonly loss?: LossReport;
  /** The identity bundle written beside the data, if the backup held one. */
  readonly identityPath?: string;
}

function refuseExisting(dir: string, contents: BackupContents): void {
  const existing = existingDeploymentFiles(dir, contents.kind);
  if (existing.length > 0) {
    throw new CustosError(
      "STORE_EXISTS",
      `${dir} already holds ${existing.join(", ")}: restore a backup into a new (or empty) directory, never over a node's files`,
    );
  }
}

function writeIdentity(dir: string, contents: BackupContents): string | undefined {
  if (!contents.identity) return undefined;
  const path = join(dir, contents.identity.name);
  writeFileAtomic(path, contents.identity.data, { exclusive: true, mode: 0o600 });
  return path;
}

function describeLoss(loss: LossReport): string {
  const first = loss.restoredSize;
  const last = loss.witnessedSize - 1;
  return `the witnesses cosigned ${loss.witnessedSize} entries and the restored log holds ${loss.restoredSize}: it lacks ${loss.lacks} entr${loss.lacks === 1 ? "y" : "ies"} (${loss.lacks === 1 ? `entry ${first}` : `entries ${first} to ${last}`}), acknowledged before the node was lost`;
}

async function openSource(options: RestoreOptions): Promise<LedgerStore> {
  if (options.fromMirror) {
    if (!existsSync(join(options.fromMirror, SQLITE_FILE_NAME))) {
      throw new CustosError("STORE_NOT_FOUND", `no mirror in ${options.fromMirror} (no ${SQLITE_FILE_NAME})`);
    }
    return SqliteStore.open(options.fromMirror, { readonly: true });
  }
  if (options.db) return openStore(options.dir, { db: options.db, readonly: true });
  throw new CustosError(
    "BAD_ARGUMENT",
    "the backup holds everything but the log: give --from-mirror DIR (a mirror's copy) or --db URL (the PostgreSQL database that holds the log)",
  );
}

export async function restoreNode(options: RestoreOptions): Promise<RestoreResult> {
  const { dir, contents, out } = options;
  const log = contents.log;
  if (!log) throw new CustosError("BAD_ENCODING", "the node's backup names no log");
  refuseExisting(dir, contents);
  const sqliteTarget = !options.db;
  if (sqliteTarget && existsSync(join(dir, SQLITE_FILE_NAME))) {
    throw new CustosError(
      "STORE_EXISTS",
      `${dir} already holds a log (${SQLITE_FILE_NAME}): restore into a new directory`,
    );
  }
  const source = await openSource(options);
  let loss: LossReport | undefined;
  let size: number;
  try {
    const meta = await source.getMeta();
    const where = options.fromMirror
      ? (options.sourceLabel ?? `the mirror ${options.fromMirror}`)
      : `the database ${redactUrl(options.db!)}`;
    if (!meta) throw new CustosError("STORE_NOT_FOUND", `${where} holds no log`);
    if (meta.origin !== log.origin || meta.verifierKey !== log.verifierKey) {
      throw new CustosError(
        "WRONG_DEPLOYMENT",
        `the backup is of the log ${log.origin} (key ${log.verifierKey}); ${where} holds ${meta.origin} (key ${meta.verifierKey})`,
      );
    }
    size = await source.getSize();
    if (options.witnesses.length > 0) {
      const views = await askWitnesses(options.witnesses, log, options.tls);
      const ledger = await Ledger.open(source);
      loss = await compareWithWitnesses(views, size, (n) => ledger.rootAt(n));
      if (loss.lacks > 0 && (options.acceptLoss ?? -1) < loss.lacks) {
        throw new CustosError(
          "CONFLICT",
          `refusing to restore: ${describeLoss(loss)}. Look for a fuller copy first (another mirror, the database, the lost node's disk); clients and witnesses that saw those entries will report the restored log as a fork once it grows. To restore without them anyway, run again with --accept-loss ${loss.lacks}`,
        );
      }
    } else {
      out(
        "warning: no witness asked (--without-witnesses): nothing tells how many acknowledged entries the restored log lacks",
      );
    }
    if (options.fromMirror) {
      const created = !existsSync(dir);
      const target = await openStore(dir, { create: true, ...(options.db ? { db: options.db } : {}) });
      try {
        const report = await migrateStore(source, target);
        const erased = await applyAllErasures(target);
        out(`restored the log from the mirror: ${describeMigration(report)}`);
        if (erased > 0) out(`left out ${erased} erased item(s) the mirror still held`);
      } catch (error) {
        await target.close();
        // Nothing half-made stays behind in a directory this restore created.
        if (created && sqliteTarget) rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      await target.close();
    } else {
      out(`the log stays in the database ${redactUrl(options.db!)} (${size} entries)`);
    }
  } finally {
    await source.close();
  }
  writeFiles(dir, contents.files);
  out(
    `restored ${contents.files.map((f) => f.path).join(", ")} from the backup of ${new Date(contents.createdAt).toISOString()}`,
  );
  const identityPath = writeIdentity(dir, contents);
  if (loss) {
    out(
      loss.lacks === 0
        ? `the witnesses cosigned ${loss.witnessedSize} entries; the restored log holds ${loss.restoredSize}: nothing acknowledged is missing`
        : `accepted loss: ${describeLoss(loss)}`,
    );
  }
  return { size, ...(loss ? { loss } : {}), ...(identityPath ? { identityPath } : {}) };
}

export interface WitnessRestoreResult {
  readonly logs: readonly { origin: string; size: bigint | undefined }[];
  readonly identityPath?: string;
}

export function restoreWitness(
  dir: string,
  contents: BackupContents,
  out: (line: string) => void,
): WitnessRestoreResult {
  refuseExisting(dir, contents);
  if (existsSync(dir) && readdirSync(dir).some((n) => n.startsWith("witness.db"))) {
    throw new CustosError(
      "STORE_EXISTS",
      `${dir} already holds a witness database: restore into a new directory`,
    );
  }
  writeFiles(dir, contents.files);
  const identityPath = writeIdentity(dir, contents);
  const store = WitnessStore.open(dir);
  try {
    const logs = store.logs().map((l) => ({ origin: l.origin, size: store.latest(l.origin)?.size }));
    out(
      `restored the witness ${contents.witness?.name ?? ""} from the backup of ${new Date(contents.createdAt).toISOString()}`,
    );
    for (const l of logs) {
      out(`  ${l.origin}: last cosigned size ${l.size ?? "none"} as of the backup`);
    }
    // A witness vouches that it never cosigned two views; what it cosigned after the backup is
    // forgotten, so it checks itself against each log before it cosigns again: the marker makes
    // `custos witness serve` refuse to start until it has (--check-log URL), or is told not to.
    writeRestoredMarker(dir, {
      backupCreatedAt: contents.createdAt,
      restoredAt: Date.now(),
      logs: logs.map((l) => ({ origin: l.origin, size: l.size === undefined ? null : l.size.toString() })),
    });
    out(
      "note: checkpoints this witness cosigned after the backup are forgotten; before it cosigns again, custos witness serve checks each log against a node or serving mirror of it (--check-log URL: it says how far behind the witness is, and refuses a log that serves fewer entries or a fork)",
    );
    return { logs, ...(identityPath ? { identityPath } : {}) };
  } finally {
    store.close();
  }
}
