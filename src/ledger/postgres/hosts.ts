// Several PostgreSQL servers in one URL, as libpq takes them:
//   postgres://custos@db1:5432,db2:5432/custos?target_session_attrs=read-write
// node-postgres connects to one host only, so each new pooled connection picks its server here: the
// server the last good connection went to, else each host in the URL's order, keeping the first whose
// session matches target_session_attrs (read-write: not in recovery and not read-only, what libpq
// checks). After a failover the old primary is gone (or refuses) and the promoted standby answers
// read-write, so the store's reconnect (the sequencer's pause and retry) lands on the new primary
// without a restart. Every connection is checked once it is open, not only the probes.

import pg from "pg";

/** libpq's target_session_attrs values. */
export const TARGET_SESSION_ATTRS = [
  "any",
  "read-write",
  "read-only",
  "primary",
  "standby",
  "prefer-standby",
] as const;
export type TargetSessionAttrs = (typeof TARGET_SESSION_ATTRS)[number];

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** The URL naming this host alone (the driver's connection string), target_session_attrs removed. */
  readonly url: string;
  /** "host:port", for messages. */
  readonly where: string;
}

const PROBE_TIMEOUT_MS = 5000;

/** The error a connection fails with when no server in the URL matches target_session_attrs. */
export const NO_MATCHING_SERVER = "CUSTOS_NO_MATCHING_SERVER";

/**
 * Reads one URL query parameter without parsing the whole URL (a multi-host URL is not a WHATWG URL),
 * and returns the URL without it.
 */
export function takeUrlParam(url: string, name: string): { url: string; value: string | null } {
  const hash = url.indexOf("#");
  const body = hash < 0 ? url : url.slice(0, hash);
  const query = body.indexOf("?");
  if (query < 0) return { url, value: null };
  const params = new URLSearchParams(body.slice(query + 1));
  const value = params.get(name);
  if (value === null) return { url, value };
  params.delete(name);
  const rest = params.toString();
  return { url: `${body.slice(0, query)}${rest ? `?${rest}` : ""}`, value };
}

/**
 * Splits `postgres://user@h1:p1,h2:p2/db?...` into one URL per host. Undefined when the URL does not
 * have the postgres:// form (the caller reports it). A single host gives one address.
 */
export function splitHosts(url: string): { hosts: ServerAddress[]; target: string } | undefined {
  const { url: rest, value } = takeUrlParam(url, "target_session_attrs");
  const match = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/s.exec(rest);
  if (!match) return undefined;
  const [, scheme, authority, tail] = match as unknown as [string, string, string, string];
  const at = authority.lastIndexOf("@");
  const userinfo = at < 0 ? "" : authority.slice(0, at + 1);
  const hosts: ServerAddress[] = [];
  for (const entry of authority.slice(at + 1).split(",")) {
    const single = `${scheme}${userinfo}${entry}${tail}`;
    let parsed: URL;
    try {
      parsed = new URL(single);
    } catch {
      return undefined;
    }
    const host = parsed.searchParams.get("host") ?? (decodeURIComponent(parsed.hostname) || "localhost");
    const port = Number(parsed.searchParams.get("port") ?? (parsed.port || "5432"));
    const bare = host.startsWith("[") ? host.slice(1, -1) : host;
    hosts.push({ host: bare, port, url: single, where: `${host}:${port}` });
  }
  return { hosts, target: value ?? "any" };
}

interface SessionState {
  readonly recovery: boolean;
  readonly readOnly: boolean;
}

async function sessionState(client: pg.Client): Promise<SessionState> {
  const result = await client.query<{ recovery: boolean; read_only: string }>(
    "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only",
  );
  const row = result.rows[0];
  return { recovery: row?.recovery === true, readOnly: row?.read_only === "on" };
}

/**
 * Whether a session matches. `ourReadOnly`: the pool itself sets default_transaction_read_only (a
 * reader's store), so a read-only session says nothing about the server; only recovery counts.
 */
function matches(target: TargetSessionAttrs, state: SessionState, ourReadOnly: boolean): boolean {
  const serverReadOnly = state.recovery || (state.readOnly && !ourReadOnly);
  switch (target) {
    case "any":
      return true;
    case "read-write":
      return !serverReadOnly;
    case "read-only":
      return serverReadOnly;
    case "primary":
      return !state.recovery;
    case "standby":
    case "prefer-standby":
      return state.recovery;
  }
}

function describeState(state: SessionState): string {
  return state.recovery ? "in recovery (a standby)" : state.readOnly ? "read-only" : "read-write";
}

function noMatchingServer(target: TargetSessionAttrs, findings: string[]): Error {
  return Object.assign(
    new Error(`no server matches target_session_attrs=${target}: ${findings.join("; ")}`),
    { code: NO_MATCHING_SERVER },
  );
}

/**
 * The pool's Client class for a multi-host URL: each new connection goes to the server chosen here,
 * and is checked against target_session_attrs once open. `config` gives the driver settings for one
 * address (its connection string and the pool's options).
 */
export function hostChoosingClient(
  hosts: readonly ServerAddress[],
  target: TargetSessionAttrs,
  ourReadOnly: boolean,
  config: (address: ServerAddress) => pg.ClientConfig,
): typeof pg.Client {
  // The server the last checked connection went to: new connections go there without a probe.
  let current: ServerAddress | undefined;
  let probing: Promise<ServerAddress> | undefined;

  const probe = async (): Promise<ServerAddress> => {
    const findings: string[] = [];
    let fallback: ServerAddress | undefined;
    for (const address of hosts) {
      // A host that does not answer at all (a machine gone, no reset) costs at most this per probe.
      const client = new pg.Client({ ...config(address), connectionTimeoutMillis: PROBE_TIMEOUT_MS });
      client.on("error", () => undefined);
      try {
        await client.connect();
        const state = await sessionState(client);
        if (matches(target, state, ourReadOnly)) return address;
        if (target === "prefer-standby") fallback ??= address;
        findings.push(`${address.where} ${describeState(state)}`);
      } catch (error) {
        const code = (error as { code?: string }).code;
        findings.push(`${address.where} unreachable (${code ?? (error as Error).message})`);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    if (fallback !== undefined) return fallback;
    throw noMatchingServer(target, findings);
  };

  const choose = (): Promise<ServerAddress> => {
    if (current !== undefined) return Promise.resolve(current);
    probing ??= probe().finally(() => {
      probing = undefined;
    });
    return probing;
  };

  return class HostChoosingClient extends pg.Client {
    /** Set when the pool or the store ends this connection (not a server that went away). */
    #ending = false;

    override end(): Promise<void>;
    override end(callback: (err: Error) => void): void;
    override end(callback?: (err: Error) => void): Promise<void> | undefined {
      this.#ending = true;
      if (callback === undefined) return super.end();
      super.end(callback);
      return undefined;
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(
      callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void),
    ): Promise<pg.Client> | undefined {
      const done = this.#connectChosen().then(() => this);
      if (callback === undefined) return done;
      const report = callback as (err: Error | null, c?: pg.Client) => void;
      done.then(
        (client) => report(null, client),
        (error: Error) => report(error),
      );
      return undefined;
    }

    async #connectChosen(): Promise<void> {
      const address = await choose();
      // The driver connects to this.host:this.port; the rest of the settings (user, database, TLS)
      // are the same for every host of the URL.
      this.host = address.host;
      this.port = address.port;
      let state: SessionState;
      try {
        await super.connect();
        state = await sessionState(this);
      } catch (error) {
        if (current === address) current = undefined;
        throw error;
      }
      if (target !== "prefer-standby" && !matches(target, state, ourReadOnly)) {
        if (current === address) current = undefined;
        await this.end().catch(() => undefined);
        throw noMatchingServer(target, [`${address.where} ${describeState(state)}`]);
      }
      current = address;
      // When this session dies (the server stopped, a failover), the next connection looks again.
      const forget = (): void => {
        if (current === address) current = undefined;
      };
      this.once("error", forget);
      this.once("end", () => {
        if (!this.#ending) forget();
      });
    }
  };
}
