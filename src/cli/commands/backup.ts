// `custos backup` (and `backup verify`): what a node or a witness needs besides its log, in one file
// sealed under a backup passphrase; and the part of `custos restore` that brings a node or a witness
// back from such a file in a new directory (docs/operations.md#backups-and-restore).

import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import {
  type BackupContents,
  checkBackupKeys,
  makeBackup,
  openBackup,
  restoreNode,
  restoreWitness,
  sealBackup,
} from "../../backup/index.js";
import { CustosError, fromUtf8 } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";
import type { MasterKeyProvider } from "../../crypto/keystore/index.js";
import { Identity, operatorOf, parseBundle, recordOperatorAction } from "../../identity/index.js";
import type { TlsMaterial } from "../../witness/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseCount, parseWitnesses, requireData } from "../options.js";
import { bundlePassphrase } from "./identity.js";
import { withRemoteCopy } from "./restore-remote.js";

export const BACKUP_PASSPHRASE_ENV = "CUSTOS_BACKUP_PASSPHRASE";

function backupPassphrase(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new CustosError("KEY_MISSING", `cannot read the backup passphrase file ${file}`);
    }
    const passphrase = text.replace(/\r?\n$/, "");
    if (passphrase.length === 0)
      throw new CustosError("KEY_MISSING", `the backup passphrase file ${file} is empty`);
    return passphrase;
  }
  const passphrase = env[BACKUP_PASSPHRASE_ENV];
  if (!passphrase) {
    throw new CustosError(
      "KEY_MISSING",
      `no backup passphrase: set ${BACKUP_PASSPHRASE_ENV} or pass --backup-passphrase-file FILE (keep it apart from the backups)`,
    );
  }
  return passphrase;
}

/** The master key when one is configured; backups are made and checked without one too. */
function optionalMasterKey(options: { masterKeyFile?: string }): MasterKeyProvider | undefined {
  try {
    return masterKeyFrom(options);
  } catch (error) {
    if (error instanceof CustosError && (error.code === "KEY_MISSING" || error.code === "CONFIG")) {
      if (options.masterKeyFile) throw error;
      return undefined;
    }
    throw error;
  }
}

function readBackupFile(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw new CustosError(
      "NOT_FOUND",
      `cannot read the backup ${file}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
}

function describe(contents: BackupContents): string[] {
  const lines = [`a ${contents.kind}'s backup made ${new Date(contents.createdAt).toISOString()}`];
  if (contents.log) {
    lines.push(`  log: ${contents.log.origin}, ${contents.log.size} entries when it was made`);
  }
  if (contents.witness) lines.push(`  witness: ${contents.witness.name}`);
  lines.push(`  files: ${contents.files.map((f) => f.path).join(", ")}`);
  lines.push(
    contents.identity
      ? `  identity: ${contents.identity.name} (sealed under its bundle passphrase)`
      : "  identity: none (give the node's bundle at restore or serve time)",
  );
  return lines;
}

const BACKUP_PASSPHRASE_FILE = [
  "--backup-passphrase-file <file>",
  `the backup passphrase (default: ${BACKUP_PASSPHRASE_ENV})`,
] as const;

export function registerBackupCommands(program: Command, io: Io): void {
  const backup = program
    .command("backup")
    .description(
      "write what a node (or a witness) needs besides its log into one encrypted file: keystore, CA, bundle, settings; never the master key",
    )
    .option(...DATA)
    .option(...DB)
    .option("--out <file>", "the backup file to write (never overwritten)")
    .option("--identity <bundle>", "the identity bundle the node (or witness) serves with, to carry along")
    .option(...BACKUP_PASSPHRASE_FILE)
    .option(...MASTER)
    .action(
      async (options: {
        data?: string;
        db?: string;
        out?: string;
        identity?: string;
        backupPassphraseFile?: string;
        masterKeyFile?: string;
      }) => {
        const dir = requireData(options.data);
        if (!options.out) throw new UsageError("--out FILE is required (where to write the backup)");
        const passphrase = backupPassphrase(options.backupPassphraseFile);
        const made = await makeBackup(dir, {
          ...(options.db ? { db: options.db } : {}),
          ...(options.identity ? { identityFile: options.identity } : {}),
          ...(options.masterKeyFile ? { exclude: [options.masterKeyFile] } : {}),
        });
        const masterKey = optionalMasterKey(options);
        const checked = masterKey
          ? await checkBackupKeys(made.contents, masterKey)
          : ["not checked: the keystore (no master key given)"];
        const sealed = await sealBackup(made.contents, passphrase);
        writeFileAtomic(resolve(options.out), sealed, { exclusive: true, mode: 0o600 });
        io.out(`wrote ${options.out} (${sealed.length} bytes): ${describe(made.contents)[0]}`);
        for (const line of describe(made.contents).slice(1)) io.out(line);
        for (const line of checked) io.out(`  ${line}`);
        if (made.leftOut.length > 0) io.out(`  left out (not Custos's files): ${made.leftOut.join(", ")}`);
        io.out("  not in it: the master key (keep it apart), the log (a mirror or the database holds it)");
      },
    );
  backup
    .command("verify <file>")
    .description("open a backup and check it: integrity, every file, and with the master key the keys inside")
    .option(...BACKUP_PASSPHRASE_FILE)
    .option(...MASTER)
    .action(async (file: string, options: { backupPassphraseFile?: string; masterKeyFile?: string }) => {
      const contents = await openBackup(readBackupFile(file), backupPassphrase(options.backupPassphraseFile));
      const masterKey = optionalMasterKey(options);
      const checked = masterKey
        ? await checkBackupKeys(contents, masterKey)
        : ["not checked: the keys inside (no master key given)"];
      if (contents.identity) parseBundle(fromUtf8(contents.identity.data), "the backup's identity bundle");
      io.out(`OK: ${file} opens and every file matches its hash: ${describe(contents)[0]}`);
      for (const line of describe(contents).slice(1)) io.out(line);
      for (const line of checked) io.out(`  ${line}`);
    });
}

/** The options `custos restore` takes for a restore from a backup file. */
export function addRestoreFromBackupOptions(command: Command): Command {
  return command
    .option(
      "--backup <file>",
      "a file made by `custos backup`: restores the node (or witness) into a new --data directory",
    )
    .option(...BACKUP_PASSPHRASE_FILE)
    .option("--witness <url=key...>", "with --backup: a witness to compare with (its URL and cosigner key)")
    .option("--without-witnesses", "with --backup: restore without asking any witness what the log lacks")
    .option(
      "--accept-loss <n>",
      "with --backup: restore although the witnesses cosigned this many entries more",
    );
}

export interface RestoreFromBackupOptions {
  readonly data?: string;
  readonly db?: string;
  readonly backup?: string;
  readonly backupPassphraseFile?: string;
  readonly fromMirror?: string;
  readonly from?: string;
  /** With --from: the identity to fetch with (default: the node's bundle the backup carries). */
  readonly as?: string;
  readonly passphraseFile?: string;
  readonly witness?: string[];
  readonly withoutWitnesses?: boolean;
  readonly acceptLoss?: string;
}

/** TLS towards the witnesses: the deployment CA from the backup, and the node's identity if it unlocks. */
function witnessTls(contents: BackupContents, passphraseFile: string | undefined): TlsMaterial {
  const ca = contents.files.find((f) => f.path === "ca/ca.pem");
  const tls: { ca?: string; key?: string; cert?: string } = ca ? { ca: fromUtf8(ca.data) } : {};
  if (!contents.identity) return tls;
  let passphrase: string;
  try {
    passphrase = bundlePassphrase(passphraseFile);
  } catch {
    return tls; // witnesses that ask for a client certificate will say so
  }
  const identity = Identity.unlock(parseBundle(fromUtf8(contents.identity.data)), passphrase);
  const own = identity.tlsOptions();
  return { ...tls, key: own.key.export({ type: "pkcs8", format: "pem" }).toString(), cert: own.cert };
}

/** Records the restore in the restored log as an operator action (never personal data). */
async function recordRestore(
  dir: string,
  options: RestoreFromBackupOptions & { masterKeyFile?: string },
  contents: BackupContents,
  result: { size: number; loss?: { witnessedSize: number; lacks: number } },
  io: Io,
): Promise<void> {
  const masterKey = optionalMasterKey(options);
  if (!masterKey) {
    io.out(
      "the restore is not recorded in the log: no master key was given (CUSTOS_MASTER_KEY, --master-key-file)",
    );
    return;
  }
  const source = options.from
    ? "a mirror's copy over the network"
    : options.fromMirror
      ? "a mirror's copy"
      : "the database";
  const witnessed = result.loss
    ? `; the witnesses cosigned ${result.loss.witnessedSize}${result.loss.lacks > 0 ? `, ${result.loss.lacks} entries lost (accepted)` : ""}`
    : "; no witness asked";
  const index = await recordOperatorAction(
    dir,
    options.db ? { db: options.db } : {},
    () => masterKey,
    {
      time: Date.now(),
      action: "restore",
      detail: `into a new directory from the backup of ${new Date(contents.createdAt).toISOString()} and ${source}: ${result.size} entries${witnessed}`,
    },
    operatorOf(undefined),
  );
  if (index !== undefined) io.out(`the restore is recorded in the log as entry ${index}`);
}

export async function restoreFromBackup(options: RestoreFromBackupOptions, io: Io): Promise<void> {
  const dir = requireData(options.data);
  const file = options.backup!;
  const contents = await openBackup(readBackupFile(file), backupPassphrase(options.backupPassphraseFile));
  const out = (line: string) => io.out(line);
  if (contents.kind === "witness") {
    if (options.fromMirror || options.from || options.db || options.witness || options.acceptLoss) {
      throw new UsageError("a witness's backup is restored with --data DIR --backup FILE only");
    }
    const result = restoreWitness(dir, contents, out);
    io.out(
      `start it: custos witness serve --data ${dir} --identity ${result.identityPath ?? "WITNESS.custos-id"} --listen HOST:PORT`,
    );
    return;
  }
  if ([options.from, options.fromMirror, options.db].filter(Boolean).length > 1) {
    throw new UsageError(
      "with --backup, the log comes from one of --from-mirror DIR, --from URL or --db URL",
    );
  }
  if (!options.witness?.length && !options.withoutWitnesses) {
    throw new UsageError(
      "give --witness URL=KEY for each witness of the log, so the restore can tell what the log lacks (or --without-witnesses to restore blind)",
    );
  }
  const acceptLoss =
    options.acceptLoss === undefined ? undefined : parseCount(options.acceptLoss, "--accept-loss");
  const witnesses = parseWitnesses(options.witness ?? []);
  const restore = (fromMirror: string | undefined, sourceLabel?: string) =>
    restoreNode({
      dir,
      contents,
      ...(fromMirror ? { fromMirror } : {}),
      ...(sourceLabel ? { sourceLabel } : {}),
      ...(options.db ? { db: options.db } : {}),
      witnesses,
      tls: witnessTls(contents, options.passphraseFile),
      ...(acceptLoss !== undefined ? { acceptLoss } : {}),
      out,
    });
  const from = options.from;
  const result = from
    ? await withRemoteCopy(
        {
          url: from,
          dir,
          contents,
          ...(options.as ? { as: options.as } : {}),
          ...(options.passphraseFile ? { passphraseFile: options.passphraseFile } : {}),
          witnessKeys: witnesses.map((w) => w.verifierKey),
          out,
        },
        (copy) => restore(copy, `the copy from ${from}`),
      )
    : await restore(options.fromMirror);
  await recordRestore(dir, options, contents, result, io);
  const identity = result.identityPath ?? "NODE.custos-id";
  io.out(`next: custos verify --data ${dir}${options.db ? " --db URL" : ""}  (renews the verify state)`);
  io.out(
    `then: custos serve --data ${dir}${options.db ? " --db URL" : ""} --identity ${identity} --listen HOST:PORT${witnesses.map((w) => ` --witness ${w.url}=KEY`).join("")}`,
  );
  if (!existsSync(join(dir, "retention.json")))
    io.out("  (no retention.json in the backup: the default policy applies)");
}
