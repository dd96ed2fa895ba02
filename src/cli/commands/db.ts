// `custos db migrate`: create or upgrade a PostgreSQL log schema.

import type { Command } from "commander";
import { CustosError } from "../../core/errors.js";
import { redactUrl } from "../../ledger/data-dir.js";
import { PostgresStore } from "../../ledger/postgres/index.js";
import type { Io } from "../io.js";

export function registerDbCommands(program: Command, io: Io): void {
  const db = program.command("db").description("PostgreSQL log storage");
  db.command("migrate")
    .description("create the log's schema in PostgreSQL, or bring it to this version of Custos")
    .option("--db <url>", "PostgreSQL URL (or CUSTOS_DB_URL)", process.env.CUSTOS_DB_URL)
    .option("--schema <name>", "the PostgreSQL schema holding the log", "custos")
    .action(async (options: { db?: string; schema: string }) => {
      if (!options.db) throw new CustosError("CONFIG", "--db postgres://... (or CUSTOS_DB_URL) is required");
      const store = await PostgresStore.open(options.db, { schema: options.schema, create: true });
      await store.close();
      io.out(`schema "${options.schema}" at ${redactUrl(options.db)} is up to date`);
    });
}
