// A deployment's retention policy: how long encrypted records and their key envelopes are kept before
// the node crypto-shreds them, and how much the expiry job may do per tick. Kept in the data directory
// as DIR/retention.json (docs/operations.md, "Retention and legal holds"); without the file the
// default holds: six years from each record's time (HIPAA, 45 CFR 164.316(b)(2)(i)).
//
//   { "retainYears": 6 }  or  { "retainDays": 30 }     exactly one of the two
//   "batchEntries": 2000     log entries examined per tick (bounded work, so latencies hold)
//   "everySeconds": 60       how often the node's job ticks (0: never)
//   "requireArchive": false  expire an epoch only once a verified archive holds all its records

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CustosError } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";

export const RETENTION_FILE_NAME = "retention.json";
export const DEFAULT_RETAIN_YEARS = 6;
export const DEFAULT_BATCH_ENTRIES = 2000;
export const DEFAULT_EVERY_SECONDS = 60;
const DAY_MS = 86_400_000;

export interface RetentionPolicy {
  readonly retainYears?: number;
  readonly retainDays?: number;
  readonly batchEntries: number;
  readonly everySeconds: number;
  /** Expire an epoch only when an archive the log records (an `archive` operator action) holds every record of it. */
  readonly requireArchive?: boolean;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  retainYears: DEFAULT_RETAIN_YEARS,
  batchEntries: DEFAULT_BATCH_ENTRIES,
  everySeconds: DEFAULT_EVERY_SECONDS,
};

/** The newest time (ms) whose records are past retention at `now`: calendar years, or whole days. */
export function retentionCutoff(policy: RetentionPolicy, now: number): number {
  if (policy.retainDays !== undefined) return now - policy.retainDays * DAY_MS;
  const cutoff = new Date(now);
  cutoff.setUTCFullYear(cutoff.getUTCFullYear() - (policy.retainYears ?? DEFAULT_RETAIN_YEARS));
  return cutoff.getTime();
}

/** "6 years", "30 days": for status lines and erasure entries. */
export function describeRetention(policy: RetentionPolicy): string {
  if (policy.retainDays !== undefined) return `${policy.retainDays} day${policy.retainDays === 1 ? "" : "s"}`;
  const years = policy.retainYears ?? DEFAULT_RETAIN_YEARS;
  return `${years} year${years === 1 ? "" : "s"}`;
}

function whole(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new CustosError(
      "CONFIG",
      `${RETENTION_FILE_NAME}: "${name}" must be a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

/** Validates a policy object (from the file or the command line); CONFIG errors name the setting. */
export function parseRetentionPolicy(value: unknown): RetentionPolicy {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new CustosError("CONFIG", `${RETENTION_FILE_NAME} must hold a JSON object`);
  const o = value as Record<string, unknown>;
  const known = new Set(["retainYears", "retainDays", "batchEntries", "everySeconds", "requireArchive"]);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length > 0)
    throw new CustosError("CONFIG", `${RETENTION_FILE_NAME}: unknown setting "${unknown[0]}"`);
  if (o.retainYears !== undefined && o.retainDays !== undefined)
    throw new CustosError("CONFIG", `${RETENTION_FILE_NAME}: set "retainYears" or "retainDays", not both`);
  const period =
    o.retainDays !== undefined
      ? { retainDays: whole(o.retainDays, "retainDays", 1, 36_500) }
      : {
          retainYears:
            o.retainYears === undefined ? DEFAULT_RETAIN_YEARS : whole(o.retainYears, "retainYears", 1, 100),
        };
  if (o.requireArchive !== undefined && typeof o.requireArchive !== "boolean")
    throw new CustosError("CONFIG", `${RETENTION_FILE_NAME}: "requireArchive" must be true or false`);
  return {
    ...period,
    ...(o.requireArchive === true ? { requireArchive: true } : {}),
    batchEntries:
      o.batchEntries === undefined
        ? DEFAULT_BATCH_ENTRIES
        : whole(o.batchEntries, "batchEntries", 10, 1_000_000),
    everySeconds:
      o.everySeconds === undefined ? DEFAULT_EVERY_SECONDS : whole(o.everySeconds, "everySeconds", 0, 86_400),
  };
}

/** The policy in a data directory (the default when it has no retention.json). */
export function readRetentionPolicy(dir: string): RetentionPolicy {
  const path = join(dir, RETENTION_FILE_NAME);
  if (!existsSync(path)) return DEFAULT_RETENTION;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new CustosError("CONFIG", `${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseRetentionPolicy(parsed);
}

export function writeRetentionPolicy(dir: string, policy: RetentionPolicy): void {
  writeFileAtomic(join(dir, RETENTION_FILE_NAME), `${JSON.stringify(policy, null, 2)}\n`, { mode: 0o600 });
}
