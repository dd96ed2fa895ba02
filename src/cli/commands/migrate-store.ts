// `custos migrate-store`: move a log between the SQLite file and PostgreSQL, proving by root hash
// that nothing changed.

import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { operatorActionItem, operatorOf } from "../../identity/index.js";
import type { LedgerStore } from "../../ledger/index.js";
import {
  describeMigration,
  Ledger,
  loadSignerKey,
  migrateStore,
  openStore,
  redactUrl,
} from "../../ledger/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { MASTER, masterKeyFrom } from "../options.js";
import { unlockBundle } from "./unlock.js";

function location(spec: string): { dir: string; db?: string } {
  if (spec.startsWith("sqlite:")) return { dir: spec.slice("sqlite:".length) };
  if (/^postgres(ql)?:\/\//.test(spec)) return { dir: "", db: spec };
  throw new CustosError(
    "BAD_ARGUMENT",
    `"${spec.startsWith("postgres") ? redactUrl(spec) : spec}" is neither sqlite:DIR nor a postgres:// URL`,
  );
}

export function registerMigrateStoreCommand(program: Command, io: Io): void {
  program
    .command("migrate-store")
    .description(
      "move a log between stores (sqlite:DIR or postgres://...) and prove by root hash that nothing changed",
    )
    .requiredOption("--from <store>", "the source: sqlite:DIR or a postgres:// URL")
    .requiredOption("--to <store>", "the target (empty): sqlite:DIR or a postgres:// URL")
    .option(
      "--data <dir>",
      "the node's data directory, with its keystore (default: DIR of --from sqlite:DIR)",
    )
    .option(...MASTER)
    .option(
      "--as <bundle>",
      "the operator's identity bundle: the log entry recording the move names and is signed by it",
    )
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .action(
      async (options: {
        from: string;
        to: string;
        data?: string;
        masterKeyFile?: string;
        as?: string;
        passphraseFile?: string;
      }) => {
        const from = location(options.from);
        const to = location(options.to);
        const keystoreDir = options.data ?? (from.db === undefined ? from.dir : undefined);
        if (keystoreDir === undefined)
          throw new UsageError("--data DIR is required: the node's data directory with its keystore");
        // The move is recorded in the target log, signed by the log's key: loaded before anything moves.
        const signerKey = await loadSignerKey(keystoreDir, masterKeyFrom(options));
        const operator = operatorOf(
          options.as ? unlockBundle(options.as, options.passphraseFile) : undefined,
        );
        let source: LedgerStore | undefined;
        let target: LedgerStore | undefined;
        try {
          source = await openStore(from.dir, from.db ? { db: from.db } : { readonly: true });
          target = await openStore(to.dir, { create: true, ...(to.db ? { db: to.db } : {}) });
          const report = await migrateStore(source, target, (copied, total) => {
            if (io.isTTY) process.stderr.write(`\rcopying: ${copied} / ${total} entries`);
          });
          if (io.isTTY) process.stderr.write("\r\x1b[K");
          io.out(describeMigration(report));
          const writer = target as LedgerStore & { acquireSequencerLock?: () => Promise<boolean> };
          if (writer.acquireSequencerLock && !(await writer.acquireSequencerLock()))
            throw new CustosError(
              "STORE_BUSY",
              "another writer took the moved log before the move was recorded",
            );
          const ledger = await Ledger.open(target, { signerKey });
          target = undefined;
          try {
            const { index } = await ledger.appendOne(
              operatorActionItem(
                {
                  time: Date.now(),
                  action: "migrate-store",
                  detail: `from ${source.backend} to ${ledger.store.backend}: ${report.entries} entries, root proven equal`,
                },
                operator,
              ),
            );
            await ledger.checkpoint();
            io.out(`the move is recorded in the moved log as entry ${index}`);
          } finally {
            await ledger.close();
          }
          io.out(
            "the keystore stays in the node's data directory: run the node with --data DIR --db <target>",
          );
        } finally {
          await source?.close();
          await target?.close();
        }
      },
    );
}
