// `custos db migrate`: create or upgrade a PostgreSQL log schema, or upgrade a SQLite log in place.

import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { redactUrl, SqliteStore, splitSchema } from "../../ledger/index.js";
import { DEFAULT_POSTGRES_SCHEMA, PostgresStore } from "../../ledger/postgres/index.js";
import type { Io } from "../io.js";

export function registerDbCommands(program: Command, io: Io): void {
  const db = program.command("db").description("log storage schema");
  db.command("migrate")
    .description(
      "create the log's schema in PostgreSQL, or bring it (or the SQLite log in --data) to this version of Custos",
    )
    .option("--db <url>", "PostgreSQL URL (or CUSTOS_DB_URL)", process.env.CUSTOS_DB_URL)
    .option(
      "--schema <name>",
      "the PostgreSQL schema holding the log (default: the URL's ?schema=, else custos)",
    )
    .option("--data <dir>", "a SQLite log's data directory, upgraded in place")
    .action(async (options: { db?: string; schema?: string; data?: string }) => {
      if (options.data !== undefined) {
        // Opening a SQLite log for writing brings its schema up to date, in one transaction.
        const store = SqliteStore.open(options.data);
        await store.close();
        io.out(`the log in ${options.data} is up to date`);
        return;
      }
      if (!options.db)
        throw new CustosError("CONFIG", "--db postgres://... (or CUSTOS_DB_URL), or --data DIR, is required");
      // The same ?schema= every other command honours; --schema may only agree with it.
      const { url, schema: fromUrl } = splitSchema(options.db);
      if (options.schema !== undefined && fromUrl !== undefined && options.schema !== fromUrl) {
        throw new CustosError(
          "CONFIG",
          `--schema ${options.schema} and the URL's schema=${fromUrl} disagree: give one of them`,
        );
      }
      const schema = options.schema ?? fromUrl ?? DEFAULT_POSTGRES_SCHEMA;
      const store = await PostgresStore.open(url, { schema, create: true });
      await store.close();
      io.out(`schema "${schema}" at ${redactUrl(url)} is up to date`);
    });
}
