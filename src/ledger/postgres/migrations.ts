// Versioned migrations of a log's PostgreSQL schema. The version lives in the log's meta table
// (key schema_version), as in the SQLite store. Migrating takes a transaction-scoped advisory lock,
// so two nodes starting at once apply each step exactly once; a newer schema is refused.

import type pg from "pg";
import { CustosError } from "../../core/index.js";
import { advisoryLockKey, createPool, describeFailure, parseDatabaseUrl } from "./connection.js";
import { migrations, POSTGRES_SCHEMA_VERSION, SCHEMA_NAME_PATTERN } from "./schema.js";

export interface MigrationResult {
  /** The version found (0: no Custos schema yet). */
  readonly fromVersion: number;
  readonly toVersion: number;
}

export function checkSchemaName(schema: string): void {
  if (!SCHEMA_NAME_PATTERN.test(schema)) {
    throw new CustosError(
      "BAD_ARGUMENT",
      "a PostgreSQL schema name for Custos is 1-63 lowercase letters, digits and _, not starting with a digit",
    );
  }
}

/** The schema version recorded in a log schema, 0 if the schema or its meta table is missing. */
export async function readSchemaVersion(client: pg.Pool | pg.PoolClient, schema: string): Promise<number> {
  const table = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [`"${schema}".meta`]);
  if (table.rows[0]?.present !== true) return 0;
  const row = await client.query(`SELECT value FROM "${schema}".meta WHERE key = 'schema_version'`);
  const text = row.rows[0]?.value;
  if (text === undefined) return 0;
  const version = Number(text);
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new CustosError("STORE_CORRUPT", `the schema version recorded in "${schema}" is not a number`);
  }
  return version;
}

export function newerSchemaError(schema: string, version: number): CustosError {
  return new CustosError(
    "STORE_CORRUPT",
    `the database schema "${schema}" is version ${version}, newer than this Custos (${POSTGRES_SCHEMA_VERSION}); upgrade Custos before opening it`,
  );
}

/** Creates the schema if needed and applies the pending migrations, all in one transaction. */
export async function migrateWith(client: pg.PoolClient, schema: string): Promise<MigrationResult> {
  checkSchemaName(schema);
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [advisoryLockKey("migrate", schema)]);
    const fromVersion = await readSchemaVersion(client, schema);
    if (fromVersion > POSTGRES_SCHEMA_VERSION) throw newerSchemaError(schema, fromVersion);
    if (fromVersion < POSTGRES_SCHEMA_VERSION) {
      // Skip CREATE SCHEMA when it exists: it needs the CREATE right on the database even then.
      const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
      const steps = migrations(schema);
      for (let version = fromVersion; version < POSTGRES_SCHEMA_VERSION; version++) {
        await client.query(steps[version]!);
      }
      await client.query(
        `INSERT INTO "${schema}".meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(POSTGRES_SCHEMA_VERSION)],
      );
    }
    await client.query("COMMIT");
    return { fromVersion, toVersion: POSTGRES_SCHEMA_VERSION };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/**
 * Creates a log's schema at `url` or brings it to this version of Custos (`custos db migrate`).
 * Throws CONFIG (unreachable, TLS, permission denied) or STORE_CORRUPT (schema newer than the code).
 */
export async function migrate(url: string, schema: string): Promise<MigrationResult> {
  checkSchemaName(schema);
  const endpoint = parseDatabaseUrl(url);
  const pool = createPool(endpoint, { max: 1, readonly: false });
  try {
    const client = await pool.connect();
    try {
      return await migrateWith(client, schema);
    } finally {
      client.release();
    }
  } catch (error) {
    throw describeFailure(error, endpoint);
  } finally {
    await pool.end().catch(() => undefined);
  }
}
