// A throwaway PostgreSQL primary and streaming standby made with Debian's binaries, for failover
// tests: each cluster in its own directory under a temp dir, on its own free port, the standby made
// with pg_basebackup and streaming synchronously (synchronous_standby_names on the primary, so a
// COMMIT the primary acknowledged is on the standby too). Never touches the machine's shared server.
// As root, the server programs run as the `postgres` user (PostgreSQL refuses to run as root).

import { execFile } from "node:child_process";
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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
  /** The ports of the current primary and standby (they swap at each promotion). */
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
  /** `pg_ctl promote` on the standby; resolves once it accepts writes. It is the primary from then on. */
  promoteStandby(): Promise<void>;
  /**
   * After a crash and a promotion: the old primary rebuilt (pg_basebackup) as the new primary's
   * synchronous standby, on its old port. Resolves once it streams.
   */
  rebuildStandby(): Promise<void>;
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

interface Member {
  readonly dir: string;
  readonly port: number;
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
  let primary: Member = { dir: join(base, "a"), port: await freePort() };
  let standby: Member = { dir: join(base, "b"), port: await freePort() };
  const first = primary;
  const running = new Set<string>();
  const database = "custos";
  const url = (port: number, db = database) => `postgres://${USER}@127.0.0.1:${port}/${db}`;
  const syncName = options.synchronous === false ? "" : "standby1";

  const stop = async (): Promise<void> => {
    for (const dir of running) {
      await program("pg_ctl", ["-D", dir, "-m", "immediate", "stop"]).catch(() => undefined);
    }
    running.clear();
    rmSync(base, { recursive: true, force: true });
  };
  // Settings that change later go to postgresql.auto.conf (ALTER SYSTEM can then change them), the
  // rest on the command line.
  const setting = (member: Member, line: string) =>
    appendFileSync(join(member.dir, "postgresql.auto.conf"), `${line}\n`);
  const startMember = async (member: Member): Promise<void> => {
    await program("pg_ctl", [
      ...["-D", member.dir, "-l", `${member.dir}.log`, "-w", "-o"],
      `-c port=${member.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${base}`,
      "start",
    ]);
    running.add(member.dir);
  };
  const waitForStandby = async (): Promise<void> => {
    const want = options.synchronous === false ? "async" : "sync";
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await query(
        url(primary.port, "postgres"),
        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1' AND state = 'streaming'",
      );
      if (state.rows[0]?.sync_state === want) return;
      if (Date.now() > deadline) throw new Error(`the standby is not streaming (${want}) after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  /** A standby of the current primary in `standby.dir`, streaming as "standby1". */
  const makeStandby = async (): Promise<void> => {
    await program("pg_basebackup", [
      ...["-h", "127.0.0.1", "-p", String(primary.port), "-U", USER],
      ...["-D", standby.dir, "-R", "-c", "fast"],
    ]);
    // Once promoted it waits for no standby of its own until one is named.
    setting(standby, "synchronous_standby_names = ''");
    setting(
      standby,
      `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=${USER} application_name=standby1'`,
    );
    await startMember(standby);
  };
  try {
    await program("initdb", [
      "-D",
      primary.dir,
      "--auth=trust",
      `--username=${USER}`,
      "-E",
      "UTF8",
      "--no-sync",
    ]);
    // The standby's name is set now: a COMMIT then waits for it (it must be up before the first one).
    setting(primary, `synchronous_standby_names = '${syncName}'`);
    await startMember(primary);
    await makeStandby();
    await waitForStandby();
    await query(url(primary.port, "postgres"), `CREATE DATABASE ${database}`);
  } catch (error) {
    await stop();
    throw error;
  }

  const inRecovery = async (port: number): Promise<boolean> =>
    (await query(url(port), "SELECT pg_is_in_recovery() AS r")).rows[0].r === true;
  return {
    get primaryPort() {
      return primary.port;
    },
    get standbyPort() {
      return standby.port;
    },
    database,
    url,
    multiHostUrl: `postgres://${USER}@127.0.0.1:${first.port},127.0.0.1:${standby.port}/${database}?target_session_attrs=read-write`,
    async crashPrimary() {
      await program("pg_ctl", ["-D", primary.dir, "-m", "immediate", "stop"]);
      running.delete(primary.dir);
    },
    async promoteStandby() {
      await program("pg_ctl", ["-D", standby.dir, "-w", "promote"]);
      [primary, standby] = [standby, primary];
    },
    async rebuildStandby() {
      if (running.has(standby.dir)) throw new Error("the old primary still runs: crash it first");
      rmSync(standby.dir, { recursive: true, force: true });
      await makeStandby();
      await query(
        url(primary.port, "postgres"),
        `ALTER SYSTEM SET synchronous_standby_names = '${syncName}'`,
      );
      await query(url(primary.port, "postgres"), "SELECT pg_reload_conf()");
      await waitForStandby();
    },
    inRecovery,
    stop,
  };
}
