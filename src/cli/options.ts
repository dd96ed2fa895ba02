// Shared option parsing for commands: checked integers, the data directory, the master key.

import { CustosError } from "../core/index.js";
import { parseVerifierKey } from "../core/note/index.js";
import { type MasterKeyProvider, resolveMasterKeyProvider } from "../crypto/keystore/index.js";
import { UsageError } from "./errors.js";

/** An ISO 8601 date or time given as option `name`, in ms; a one-line usage error otherwise. */
export function parseTime(value: string, name: string): number;
export function parseTime(value: string | undefined, name: string): number | undefined;
export function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${name} must be an ISO 8601 date or time, got "${value}"`);
  return t;
}

export function parseCount(value: string, name: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value))
    throw new UsageError(`${name} must be a non-negative whole number, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${name} is too large`);
  return n;
}

export interface MasterKeyOptions {
  readonly masterKeyFile?: string;
}

export function masterKeyFrom(
  options: MasterKeyOptions,
  env: NodeJS.ProcessEnv = process.env,
): MasterKeyProvider {
  try {
    return resolveMasterKeyProvider({
      ...(options.masterKeyFile ? { keyFile: options.masterKeyFile } : {}),
      ...(env.CUSTOS_MASTER_PASSPHRASE ? { passphrase: env.CUSTOS_MASTER_PASSPHRASE } : {}),
      env,
    });
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError("KEY_MISSING", (error as Error).message);
  }
}

export function requireData(data: string | undefined): string {
  if (!data) throw new UsageError("--data DIR is required (or set CUSTOS_DATA)");
  return data;
}

/** Options shared by every command that opens a data directory. */
export const DATA = ["--data <dir>", "the node's data directory", process.env.CUSTOS_DATA] as const;
export const DB = [
  "--db <url>",
  "the log is in PostgreSQL at this URL (default: SQLite in --data)",
  process.env.CUSTOS_DB_URL,
] as const;
export const MASTER = [
  "--master-key-file <file>",
  "the master key file (or CUSTOS_MASTER_KEY / CUSTOS_MASTER_PASSPHRASE)",
] as const;

/** HOST:PORT (IPv6 hosts in brackets) for a listening address. */
export function parseListen(value: string, name = "--listen"): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(value);
  if (!match || match[1] === "") throw new UsageError(`${name} must be HOST:PORT, got "${value}"`);
  const port = parseCount(match[2]!, `${name} port`);
  if (port > 65535) throw new UsageError(`${name} has a port above 65535`);
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

/** `--witness https://host:port=VERIFIERKEY` values: each URL with its checked note verifier key. */
export function parseWitnesses(specs: readonly string[]): { url: string; verifierKey: string }[] {
  return specs.map((spec) => {
    const at = spec.indexOf("=");
    const url = at > 0 ? spec.slice(0, at) : "";
    if (!/^https:\/\//.test(url))
      throw new UsageError(`--witness must be https://host:port=VERIFIERKEY, got "${spec}"`);
    const verifierKey = spec.slice(at + 1);
    try {
      parseVerifierKey(verifierKey);
    } catch {
      throw new UsageError(`--witness ${url}: the verifier key is not a note verifier key`);
    }
    return { url, verifierKey };
  });
}
