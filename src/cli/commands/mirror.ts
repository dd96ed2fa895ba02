// `custos mirror`: an audit company's verified copy of a hospital's log, followed over the node's read
// API, and with --serve the same reads and trail queries served from that copy (mirror-server.ts);
// `custos restore`: a node rebuilt from a mirror's copy when its own store is lost or tampered.

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { MtlsClient } from "../../client/index.js";
import { CustosError } from "../../core/index.js";
import { parseVerifierKey } from "../../core/note/index.js";
import { Identity, operatorOf, readBundle, recordOperatorAction } from "../../identity/index.js";
import { Mirror, restoreFromMirror } from "../../mirror/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseCount, parseListen, requireData } from "../options.js";
import { addRestoreFromBackupOptions, type RestoreFromBackupOptions, restoreFromBackup } from "./backup.js";
import { bundlePassphrase } from "./identity.js";

export interface WitnessOptions {
  witnessKey?: string[];
  quorum?: string;
}

export function witnessesFrom(options: WitnessOptions) {
  const keys = options.witnessKey ?? [];
  for (const key of keys) {
    try {
      parseVerifierKey(key);
    } catch {
      throw new UsageError(`--witness-key ${key.slice(0, 20)}... is not a note verifier key`);
    }
  }
  const quorum = options.quorum !== undefined ? parseCount(options.quorum, "--quorum") : keys.length;
  if (quorum > keys.length) throw new UsageError(`--quorum ${quorum} needs at least ${quorum} --witness-key`);
  return keys.length > 0 ? { witnesses: { keys, quorum } } : {};
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
}

export function registerMirrorCommands(program: Command, io: Io): void {
  program
    .command("mirror")
    .description(
      "keep a verified copy of a node's log (entries, tree, encrypted content) in --data; with --serve, serve reads from it",
    )
    .requiredOption("--from <url>", "the node's API address (https://host:port)")
    .requiredOption("--as <bundle>", "this mirror's identity bundle (role node)")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option("--witness-key <key...>", "witnesses whose cosignatures each copied checkpoint must carry")
    .option("--quorum <n>", "how many of them (default: all)")
    .option("--every <seconds>", "poll interval", "5")
    .option("--once", "copy what there is, then exit")
    .option("--serve <host:port>", "also serve the read API and trail queries from the copy (mutual TLS)")
    .option("--crl <file>", "with --serve: the deployment's CRL (revocations in the log apply regardless)")
    .option("--tls12", "with --serve: accept TLS 1.2 as well as 1.3")
    .option("--log", "with --serve: structured request logs on stdout (no keys, no IDs)")
    .option(
      "--gossip <url...>",
      "witnesses (https://host:port) whose latest checkpoints and fork evidence are checked against the copy",
    )
    .option(...DATA)
    .action(
      async (
        options: WitnessOptions & {
          from: string;
          as: string;
          passphraseFile?: string;
          every: string;
          once?: boolean;
          serve?: string;
          crl?: string;
          tls12?: boolean;
          log?: boolean;
          gossip?: string[];
          data?: string;
        },
      ) => {
        const dir = requireData(options.data);
        if (options.serve && options.once) throw new UsageError("--serve keeps following: drop --once");
        if (!options.serve && (options.crl || options.tls12 || options.log))
          throw new UsageError("--crl, --tls12 and --log apply only with --serve");
        const listen = options.serve ? parseListen(options.serve, "--serve") : undefined;
        const crl = options.crl ? readText(options.crl, "the CRL") : undefined;
        const identity = Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile));
        if (identity.role !== "node")
          throw new UsageError("a mirror uses a node identity (custos enroll --role node)");
        if (!identity.bundle.log)
          throw new CustosError("CONFIG", "the bundle does not name the log to mirror (no verifier key)");
        const every = parseCount(options.every, "--every") * 1000;
        const mirror = await Mirror.open({
          dir,
          from: options.from,
          identity,
          ...witnessesFrom(options),
          everyMs: every,
          ...(options.once ? { once: true } : {}),
          ...(listen
            ? {
                serve: {
                  listen,
                  ...(crl ? { crlPem: crl } : {}),
                  ...(options.tls12 ? { allowTls12: true } : {}),
                  ...(options.log ? { log: true } : {}),
                },
              }
            : {}),
          ...(options.gossip ? { gossip: options.gossip } : {}),
          output: io,
        }).catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code === "EADDRINUSE")
            throw new CustosError(
              "CONFIG",
              `${options.serve} is already in use; choose another with --serve`,
            );
          throw error;
        });
        if (mirror.listen) {
          io.out(
            `custos mirror ${identity.uri} serving its verified copy on https://${mirror.listen.host}:${mirror.listen.port} (mutual TLS)`,
          );
        }
        process.once("SIGINT", () => mirror.stop());
        process.once("SIGTERM", () => mirror.stop());
        await mirror.run();
      },
    );

  addRestoreFromBackupOptions(
    program
      .command("restore")
      .description(
        "rebuild a node's store from a mirror (its directory, or a node serving the log over the network); with --backup, a whole node or witness in a new directory",
      ),
  )
    .option("--from-mirror <dir>", "the mirror's data directory")
    .option("--from <url>", "or: a mirror or node serving the log (https://host:port), with --as")
    .option("--as <bundle>", "the identity to fetch with (role node)")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option("--witness-key <key...>", "witnesses whose cosignatures the copied checkpoint must carry")
    .option("--quorum <n>", "how many of them (default: all)")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(
      async (
        options: WitnessOptions & {
          fromMirror?: string;
          from?: string;
          as?: string;
          passphraseFile?: string;
          data?: string;
          db?: string;
          masterKeyFile?: string;
        },
      ) => {
        if ((options as RestoreFromBackupOptions).backup) {
          await restoreFromBackup(options, io);
          return;
        }
        const dir = requireData(options.data);
        if (!options.fromMirror === !options.from) {
          throw new UsageError("give either --from-mirror DIR or --from URL (with --as)");
        }
        const witnesses = witnessesFrom(options).witnesses;
        if (options.from && !options.as)
          throw new UsageError("--from URL needs --as BUNDLE (a node identity)");
        const operator = options.as
          ? Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile))
          : undefined;
        let source: Parameters<typeof restoreFromMirror>[0]["source"];
        if (options.from) {
          const log = operator!.bundle.log;
          if (!log) throw new CustosError("CONFIG", "the bundle does not name the log (no verifier key)");
          source = {
            client: new MtlsClient(options.from, operator!),
            url: options.from,
            origin: log.origin,
            verifierKey: log.verifierKey,
          };
        } else source = { mirrorDir: options.fromMirror! };
        const detail = await restoreFromMirror({
          dir,
          db: options.db,
          source,
          witnesses,
          say: (line) => io.out(line),
        });
        await recordRestore(io, dir, options, operator, detail);
      },
    );
}

/** Records the restore in the restored log, naming the operator (docs/formats.md, operator actions). */
async function recordRestore(
  io: Io,
  dir: string,
  options: { db?: string; masterKeyFile?: string },
  identity: Identity | undefined,
  detail: string,
): Promise<void> {
  let masterKey: ReturnType<typeof masterKeyFrom>;
  try {
    masterKey = masterKeyFrom(options);
  } catch {
    io.out(
      "the restore is not recorded in the log: no master key was given (CUSTOS_MASTER_KEY, --master-key-file) to sign with",
    );
    return;
  }
  let index: number | undefined;
  try {
    index = await recordOperatorAction(
      dir,
      options.db ? { db: options.db } : {},
      () => masterKey,
      { time: Date.now(), action: "restore", detail },
      operatorOf(identity),
    );
  } catch (error) {
    io.out(`the restore is not recorded in the log: ${(error as Error).message}`);
    return;
  }
  io.out(
    index === undefined
      ? `the restore is not recorded in the log: ${dir} holds no keystore to sign with (restore it from the backup, then run the node)`
      : `the restore is recorded in the log as entry ${index}`,
  );
}
