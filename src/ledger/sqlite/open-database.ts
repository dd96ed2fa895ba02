// Opens a log's SQLite file: WAL with synchronous=FULL (a committed batch has been fsync'd), secure
// deletes, and the schema version checked: a newer one is refused rather than misread; an older one is
// upgraded by a writer and read as it is (without trail copies) by a read-only opener.

import Database from "better-sqlite3";
import { CustosError } from "../../core/index.js";
import type { Row } from "./row-values.js";
import { SQLITE_MIGRATION_2, SQLITE_SCHEMA, SQLITE_SCHEMA_VERSION } from "./schema.js";

/** The open connection, and whether its lookup rows hold trail copies (schema version 2 onward). */
export function openDatabase(
  path: string,
  dataDir: string,
  options: { readonly create?: boolean; readonly readonly?: boolean },
): { db: Database.Database; copies: boolean } {
  let db: Database.Database;
  let copies = true;
  try {
    db = new Database(path, { readonly: options.readonly === true, fileMustExist: !options.create });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("busy_timeout = 5000");
    // Deleted content (erasure) is overwritten with zeros, not left in free pages.
    db.pragma("secure_delete = ON");
    if (!options.readonly) db.exec(SQLITE_SCHEMA);
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
      | Row
      | undefined;
    const found = version === undefined ? undefined : Number(version.value);
    if (found !== undefined && found > SQLITE_SCHEMA_VERSION) {
      throw new CustosError(
        "STORE_CORRUPT",
        `the store in ${dataDir} uses schema version ${found}, newer than this Custos (${SQLITE_SCHEMA_VERSION}); upgrade Custos`,
      );
    }
    // A read-only opener of an older store (a verify of a backup, a mirror's source) reads it as it
    // is, without trail copies; any writer upgrades it first.
    if (found !== undefined && found < SQLITE_SCHEMA_VERSION) {
      if (options.readonly) copies = false;
      else migrate(db);
    }
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError(
      "STORE_CORRUPT",
      `cannot open the log database in ${dataDir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return { db, copies };
}

/** Brings a store of an older schema version up to this one, in one transaction. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as Row;
    if (Number(row.value) < 2) db.exec(SQLITE_MIGRATION_2);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SQLITE_SCHEMA_VERSION));
  }).immediate();
}
