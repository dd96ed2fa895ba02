import { join } from "node:path";
import pg from "pg";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { type IdentityBundle, writeBundle } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import type { Role } from "../../src/identity/roles.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { PASS } from "./deployment.js";

/** The PostgreSQL the tests use: the machine's server, or CUSTOS_PG_URL. */
export const PG_URL = process.env.CUSTOS_PG_URL ?? "postgres://root@127.0.0.1:5432/test";

function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "CUSTOS_PG_URL";
  }
}

/** Fails loudly (never skips) when the server is missing, saying how to point the tests at one. */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${redacted(PG_URL)} (${(error as Error).message}). Start it, or set CUSTOS_PG_URL=postgres://user@host:port/db to point the tests at one.`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh schema name for one test run; dropSchema removes it. */
export function testSchema(): string {
  return `custos_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

export async function sql(query: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query(query, values);
  } finally {
    await client.end();
  }
}

/**
 * A deployment whose log is in PostgreSQL at `db`, its data directory `DIR/data`: a CA, and each of
 * `people` enrolled with a bundle file `DIR/<id>.custos-id` (passphrase PASS) and in `bundles`.
 * Returns the open deployment (for grants); the caller closes it.
 */
export async function enrollPostgresDeployment(
  dir: string,
  db: string,
  origin: string,
  masterKeyBase64: string,
  people: readonly (readonly [Role, string])[],
  bundles: Map<string, IdentityBundle>,
): Promise<Deployment> {
  const masterKey = new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: masterKeyBase64 });
  const data = join(dir, "data");
  await initDataDir(data, { origin, masterKey, db });
  const deployment = await Deployment.initCa(data, masterKey, "stmary", { db });
  for (const [role, id] of people) {
    const issued = await deployment.enroll({ role, id, passphrase: PASS, kdfIterations: 2000 });
    bundles.set(id, issued.bundle);
    writeBundle(join(dir, `${id}.custos-id`), issued.bundle);
  }
  return deployment;
}
