// `custos migrate-store`: move a log between the SQLite file and PostgreSQL, proving by root hash
// that nothing changed.

import type { Command } from "commander";
import { CustosError } from "../../core/errors.js";
import { openStore, redactUrl } from "../../ledger/data-dir.js";
import { describeMigration, migrateStore } from "../../ledger/migrate-store.js";
import type { LedgerStore } from "../../ledger/storage.js";
import type { Io } from "../io.js";

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
    .action(async (options: { from: string; to: string }) => {
      const from = location(options.from);
      const to = location(options.to);
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
        io.out("the keystore stays in the node's data directory: run the node with --data DIR --db <target>");
      } finally {
        await source?.close();
        await target?.close();
      }
    });
}
