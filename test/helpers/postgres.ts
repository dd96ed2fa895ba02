import { join } from "node:path";
import pg from "pg";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { Identity, type IdentityBundle, writeBundle } from "../../src/identity/bundle.js";
import { Deployment } from "../../src/identity/deployment.js";
import type { Role } from "../../src/identity/roles.js";
import { initDataDir } from "../../src/ledger/data-dir.js";
import { freePort, PASS } from "./deployment.js";
import { type CustosProcess, type ProcessGroup, processGroup } from "./processes.js";
import { tempDir } from "./temp.js";

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

/**
 * A PostgreSQL deployment for tests with real `custos serve` processes: its own schema and directory,
 * enrolled by enrollPostgresDeployment (bundles DIR/<id>.custos-id, passphrase PASS), and nodes started
 * on it as the node identity n1. One per test file: open it in beforeAll, close it in afterAll.
 */
export interface PostgresNodes {
  /** The directory: data/ and the bundle files. */
  readonly dir: string;
  readonly schema: string;
  /** The log's database URL (PG_URL with this deployment's schema). */
  readonly db: string;
  readonly bundles: ReadonlyMap<string, IdentityBundle>;
  readonly group: ProcessGroup;
  /** The environment each node runs with: PATH, the master key and the bundles' passphrase. */
  readonly env: NodeJS.ProcessEnv;
  identity(id: string): Identity;
  /**
   * `custos serve --data DIR/data --db DB --identity n1 --listen 127.0.0.1:PORT --verify-every 0`, then
   * `args`; on a free port unless one is given, on another database URL if given.
   */
  serve(options?: {
    readonly port?: number;
    readonly db?: string;
    readonly args?: readonly string[];
  }): Promise<{
    readonly port: number;
    readonly url: string;
    readonly node: CustosProcess;
  }>;
  /** Kills the nodes, drops the schema, removes the directory. */
  close(): Promise<void>;
}

export async function postgresNodes(options: {
  /** The temporary directory's prefix, e.g. custos-replica-. */
  readonly prefix: string;
  readonly origin: string;
  readonly masterKey: string;
  readonly people: readonly (readonly [Role, string])[];
  /** Runs with the open deployment before it is closed (grants, reading a patient's tag). */
  readonly setUp?: (deployment: Deployment, bundles: ReadonlyMap<string, IdentityBundle>) => unknown;
}): Promise<PostgresNodes> {
  await requirePostgres();
  const root = tempDir(options.prefix);
  const schema = testSchema();
  const db = `${PG_URL}?schema=${schema}`;
  const bundles = new Map<string, IdentityBundle>();
  const group = processGroup();
  const env = {
    PATH: process.env.PATH,
    CUSTOS_MASTER_KEY: options.masterKey,
    CUSTOS_BUNDLE_PASSPHRASE: PASS,
  };
  try {
    const deployment = await enrollPostgresDeployment(
      root.dir,
      db,
      options.origin,
      options.masterKey,
      options.people,
      bundles,
    );
    try {
      await options.setUp?.(deployment, bundles);
    } finally {
      await deployment.close();
    }
  } catch (error) {
    await dropSchema(schema).catch(() => undefined);
    root.cleanup();
    throw error;
  }
  return {
    dir: root.dir,
    schema,
    db,
    bundles,
    group,
    env,
    identity: (id) => Identity.unlock(bundles.get(id)!, PASS),
    async serve(serve = {}) {
      const port = serve.port ?? (await freePort());
      const node = group.start(
        `node :${port}`,
        [
          "serve",
          "--data",
          join(root.dir, "data"),
          "--db",
          serve.db ?? db,
          "--identity",
          join(root.dir, "n1.custos-id"),
          "--listen",
          `127.0.0.1:${port}`,
          "--verify-every",
          "0",
          ...(serve.args ?? []),
        ],
        env,
      );
      return { port, url: `https://127.0.0.1:${port}`, node };
    },
    async close() {
      await group.killAll();
      await dropSchema(schema);
      root.cleanup();
    },
  };
}
