// A throwaway PostgreSQL primary and streaming standby made with Debian's binaries, for failover
// tests: each cluster in its own directory under a temp dir, on its own free port, the standby made
// with pg_basebackup and streaming synchronously (synchronous_standby_names on the primary, so a
// COMMIT the primary acknowledged is on the standby too). Never touches the machine's shared server.
// As root, the server programs run as the `postgres` user (PostgreSQL refuses to run as root).

import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/** Debian's PostgreSQL server programs (package postgresql-15). */
export const PG_BIN = process.env.CUSTOS_PG_BIN ?? "/usr/lib/postgresql/15/bin";
const PROGRAMS = ["initdb", "pg_ctl", "pg_basebackup", "postgres"] as const;

/** Fails loudly (never skips) when the server programs are missing, naming the package. */
export function requirePostgresBinaries(): void {
  const missing = PROGRAMS.filter((program) => !existsSync(join(PG_BIN, program)));
  if (missing.length > 0) {
    throw new Error(
      `the failover test needs Debian's PostgreSQL server programs (${missing.join(", ")} not in ${PG_BIN}): apt-get install postgresql-15, or set CUSTOS_PG_BIN to the directory holding initdb, pg_ctl and pg_basebackup`,
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;
/** The user the clusters run as: `postgres` when the tests run as root, else the current user. */
function uid(): { uid: number; gid: number } | undefined {
  if (!asRoot) return undefined;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("postgres:"));
  if (!line) throw new Error("the tests run as root and there is no postgres user to run PostgreSQL as");
  const [, , u, g] = line.split(":");
  return { uid: Number(u), gid: Number(g) };
}

async function program(name: (typeof PROGRAMS)[number], args: string[]): Promise<string> {
  const command = join(PG_BIN, name);
  const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
  try {
    const { stdout } = await run(file, argv, { timeout: 60_000 });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(" ")} failed: ${failure.stderr || failure.message}`);
  }
}

export interface ReplicatedPostgres {
  readonly primaryPort: number;
  readonly standbyPort: number;
  /** The database the tests use on both clusters. */
  readonly database: string;
  /** A single-host URL of one cluster. */
  url(port: number): string;
  /** The libpq-style multi-host URL naming both, `target_session_attrs=read-write`. */
  readonly multiHostUrl: string;
  /** `pg_ctl stop -m immediate` on the primary: no shutdown checkpoint, as in a crash. */
  crashPrimary(): Promise<void>;
  /** `pg_ctl promote` on the standby; resolves once it accepts writes. */
  promoteStandby(): Promise<void>;
  /** The standby's view of the replication: true while it replays the primary's WAL. */
  inRecovery(port: number): Promise<boolean>;
  /** Stops both clusters (whatever state they are in) and removes their directory. */
  stop(): Promise<void>;
}

const USER = "custos";

async function query(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Makes a primary and a synchronous standby in a new temp dir, which stop() removes.
 * `synchronous: false` streams asynchronously (what the docs warn about).
 */
export async function startReplicatedPostgres(
  options: { synchronous?: boolean } = {},
): Promise<ReplicatedPostgres> {
  requirePostgresBinaries();
  const owner = uid();
  // Its own directory, not inside the caller's (a 0700 temp dir the postgres user cannot enter).
  const base = mkdtempSync(join(tmpdir(), "custos-pg-"));
  if (owner) chownSync(base, owner.uid, owner.gid);
  const primary = join(base, "primary");
  const standby = join(base, "standby");
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const started: string[] = [];
  const database = "custos";
  const url = (port: number, db = database) => `postgres://${USER}@127.0.0.1:${port}/${db}`;

  const stop = async (): Promise<void> => {
    for (const cluster of started.splice(0).reverse()) {
      await program("pg_ctl", ["-D", cluster, "-m", "immediate", "stop"]).catch(() => undefined);
    }
    rmSync(base, { recursive: true, force: true });
  };
  const startCluster = async (cluster: string, port: number, extra: string): Promise<void> => {
    await program("pg_ctl", [
      ...["-D", cluster, "-l", `${cluster}.log`, "-w", "-o"],
      `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${base} ${extra}`,
      "start",
    ]);
    started.push(cluster);
  };
  try {
    await program("initdb", ["-D", primary, "--auth=trust", `--username=${USER}`, "-E", "UTF8", "--no-sync"]);
    // The standby's name is set now: a COMMIT then waits for it (it must be up before the first one).
    const sync = options.synchronous === false ? "" : "standby1";
    await startCluster(primary, primaryPort, `-c synchronous_standby_names='${sync}'`);
    await program("pg_basebackup", [
      ...["-h", "127.0.0.1", "-p", String(primaryPort), "-U", USER],
      ...["-D", standby, "-R", "-c", "fast"],
    ]);
    // The standby streams as "standby1"; once promoted it waits for no standby of its own.
    await startCluster(
      standby,
      standbyPort,
      `-c synchronous_standby_names='' -c primary_conninfo='host=127.0.0.1 port=${primaryPort} user=${USER} application_name=standby1'`,
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await query(
        url(primaryPort, "postgres"),
        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1' AND state = 'streaming'",
      );
      const want = options.synchronous === false ? "async" : "sync";
      if (state.rows[0]?.sync_state === want) break;
      if (Date.now() > deadline) throw new Error(`the standby is not streaming (${want}) after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await query(url(primaryPort, "postgres"), `CREATE DATABASE ${database}`);
  } catch (error) {
    await stop();
    throw error;
  }

  const inRecovery = async (port: number): Promise<boolean> =>
    (await query(url(port), "SELECT pg_is_in_recovery() AS r")).rows[0].r === true;
  return {
    primaryPort,
    standbyPort,
    database,
    url,
    multiHostUrl: `postgres://${USER}@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/${database}?target_session_attrs=read-write`,
    async crashPrimary() {
      await program("pg_ctl", ["-D", primary, "-m", "immediate", "stop"]);
      started.splice(started.indexOf(primary), 1);
    },
    async promoteStandby() {
      await program("pg_ctl", ["-D", standby, "-w", "promote"]);
    },
    inRecovery,
    stop,
  };
}
