// Connecting to PostgreSQL: the URL policy (TLS modes that verify the server, or none at all), the
// pool settings, the advisory-lock keys, and the translation of driver errors into CustosErrors that
// say where and what to do. Messages name host and port only, never the URL (it may hold a password).

import { createHash } from "node:crypto";
import pg from "pg";
import { CustosError } from "../../core/index.js";
import {
  hostChoosingClient,
  NO_MATCHING_SERVER,
  type ServerAddress,
  splitHosts,
  TARGET_SESSION_ATTRS,
  type TargetSessionAttrs,
} from "./hosts.js";

/** sslmode values Custos accepts: no TLS (local socket or private network), or TLS that verifies. */
const ACCEPTED_SSL_MODES = ["disable", "verify-ca", "verify-full"] as const;

export interface Endpoint {
  /** The URL naming the first (or only) host, without target_session_attrs. */
  readonly url: string;
  /** "host:port" (each host of a multi-host URL, comma-separated), for messages. */
  readonly where: string;
  /** Every host of the URL, in its order (one for a single-host URL). */
  readonly hosts: readonly ServerAddress[];
  /** Which server a connection must reach among them (libpq's target_session_attrs, default any). */
  readonly target: TargetSessionAttrs;
}

const NOT_A_URL = "the database URL is not a URL; expected postgres://user@host:5432/db";

export function parseDatabaseUrl(url: string): Endpoint {
  if (!/^postgres(ql)?:/.test(url) && /^[a-z][a-z0-9+.-]*:/i.test(url)) {
    throw new CustosError("CONFIG", "the database URL must start with postgres:// or postgresql://");
  }
  const split = splitHosts(url);
  if (split === undefined) throw new CustosError("CONFIG", NOT_A_URL);
  const { hosts, target } = split;
  if (!(TARGET_SESSION_ATTRS as readonly string[]).includes(target)) {
    throw new CustosError(
      "CONFIG",
      `target_session_attrs=${target} in the database URL is not one of ${TARGET_SESSION_ATTRS.join(", ")}`,
    );
  }
  const first = hosts[0]!;
  const sslmode = new URL(first.url).searchParams.get("sslmode");
  if (sslmode !== null && !(ACCEPTED_SSL_MODES as readonly string[]).includes(sslmode)) {
    throw new CustosError(
      "CONFIG",
      `sslmode=${sslmode} in the database URL is not accepted: use sslmode=verify-full with sslrootcert=<CA file> (or sslmode=disable on a trusted local network)`,
    );
  }
  return {
    url: first.url,
    where: hosts.map((host) => host.where).join(","),
    hosts,
    target: target as TargetSessionAttrs,
  };
}

export function createPool(endpoint: Endpoint, options: { max: number; readonly: boolean }): pg.Pool {
  const settings = {
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
    application_name: "custos",
    // A reader's sessions cannot write even by mistake; a hot standby refuses writes anyway.
    ...(options.readonly ? { options: "-c default_transaction_read_only=on" } : {}),
  };
  const single = endpoint.hosts.length === 1 && endpoint.target === "any";
  const pool = new pg.Pool({
    connectionString: endpoint.url,
    max: options.max,
    ...settings,
    // Several hosts, or a session kind to insist on: each new connection chooses its server (hosts.ts).
    ...(single
      ? {}
      : {
          Client: hostChoosingClient(endpoint.hosts, endpoint.target, options.readonly, (address) => ({
            connectionString: address.url,
            ...settings,
          })),
        }),
  });
  // An idle pooled connection that dies is dropped by the pool; the next query opens a new one.
  pool.on("error", () => undefined);
  return pool;
}

/** A 64-bit advisory-lock key for one purpose on one log schema. */
export function advisoryLockKey(purpose: "sequencer" | "migrate", schema: string): string {
  const digest = createHash("sha256").update(`custos-${purpose}\u0000${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

function isTlsFailure(code: string | undefined, message: string): boolean {
  return (
    (code !== undefined && /CERT|SELF_SIGNED|ERR_TLS|ERR_SSL|UNABLE_TO_/.test(code)) ||
    /does not support SSL/.test(message)
  );
}

/** Turns a driver error into a CustosError that says where, what went wrong, and what to do. */
export function describeFailure(error: unknown, endpoint: Endpoint): CustosError {
  if (error instanceof CustosError) return error;
  const { where } = endpoint;
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const fail = (
    kind: "CONFIG" | "STORE_NOT_FOUND" | "STORE_CORRUPT" | "STORE_BUSY" | "INTERNAL",
    text: string,
  ) => new CustosError(kind, text, { cause: error });

  if ((code !== undefined && UNREACHABLE.has(code)) || /connection timeout/i.test(message)) {
    return fail(
      "CONFIG",
      `cannot reach PostgreSQL at ${where} (${code ?? "timeout"}); start it, or point Custos at another server with --db or CUSTOS_DB_URL=postgres://user@host:port/db`,
    );
  }
  if (isTlsFailure(code, message)) {
    return fail(
      "CONFIG",
      `the TLS connection to PostgreSQL at ${where} failed (${code ?? message}); check sslrootcert (the CA that signed the server certificate) and that the URL's host name is in the certificate`,
    );
  }
  if (code === "ENOENT" || code === "EACCES") {
    return fail(
      "CONFIG",
      `cannot read a file named in the database URL (sslrootcert, sslcert or sslkey): ${(error as { path?: string }).path ?? message}`,
    );
  }
  switch (code) {
    case NO_MATCHING_SERVER:
      // A failover in progress (the primary gone, the standby not yet promoted) looks like this.
      return fail("STORE_BUSY", `PostgreSQL at ${where}: ${message}; a failover may be under way, retry`);
    case "42501":
      return fail(
        "CONFIG",
        `permission denied at ${where}: ${message}; the database user needs CREATE on the database to create the schema, and ownership of the schema (or SELECT/INSERT/UPDATE/DELETE on its tables) to use it`,
      );
    case "3D000":
      return fail("CONFIG", `the database named in the URL does not exist at ${where}`);
    case "28P01":
    case "28000":
      return fail("CONFIG", `PostgreSQL at ${where} refused the login: ${message}`);
    case "25006":
      return fail(
        "CONFIG",
        `PostgreSQL at ${where} accepts only reads here (a replica, or a store opened read-only); write to the primary`,
      );
    case "3F000":
    case "42P01":
      return fail("STORE_NOT_FOUND", `no Custos log tables at ${where}: ${message} (run custos db migrate)`);
    case "23505":
      return fail(
        "STORE_CORRUPT",
        `the log holds rows beyond its recorded state at ${where}: ${message}; run custos verify`,
      );
  }
  if (
    (code !== undefined &&
      (code.startsWith("08") || code.startsWith("57P") || code === "ECONNRESET" || code === "EPIPE")) ||
    /Connection terminated|connection closed|Client has encountered a connection error/i.test(message)
  ) {
    return fail("STORE_BUSY", `lost the connection to PostgreSQL at ${where} (${code ?? message}); retry`);
  }
  return fail("INTERNAL", `PostgreSQL error at ${where}: ${message}`);
}
