// `custos db migrate`: create or upgrade a PostgreSQL log schema, or upgrade a SQLite log in place.

import type { Command } from "commander";
import { CustosError } from "../../core/errors.js";
import { redactUrl } from "../../ledger/data-dir.js";
import { PostgresStore } from "../../ledger/postgres/index.js";
import { SqliteStore } from "../../ledger/sqlite/sqlite-store.js";
import type { Io } from "../io.js";

export function registerDbCommands(program: Command, io: Io): void {
  const db = program.command("db").description("log storage schema");
  db.command("migrate")
    .description(
      "create the log's schema in PostgreSQL, or bring it (or the SQLite log in --data) to this version of Custos",
    )
    .option("--db <url>", "PostgreSQL URL (or CUSTOS_DB_URL)", process.env.CUSTOS_DB_URL)
    .option("--schema <name>", "the PostgreSQL schema holding the log", "custos")
    .option("--data <dir>", "a SQLite log's data directory, upgraded in place")
    .action(async (options: { db?: string; schema: string; data?: string }) => {
      if (options.data !== undefined) {
        // Opening a SQLite log for writing brings its schema up to date, in one transaction.
        const store = SqliteStore.open(options.data);
        await store.close();
        io.out(`the log in ${options.data} is up to date`);
        return;
      }
      if (!options.db)
        throw new CustosError("CONFIG", "--db postgres://... (or CUSTOS_DB_URL), or --data DIR, is required");
      const store = await PostgresStore.open(options.db, { schema: options.schema, create: true });
      await store.close();
      io.out(`schema "${options.schema}" at ${redactUrl(options.db)} is up to date`);
    });
}
