// The node's metrics, in the Prometheus text exposition format 0.0.4, from a registry small enough to read.
// Invariant: a label value comes only from a bounded vocabulary (route pattern, method, status class,
// operation, bucket kind), never from a URL, a patient ID, a user ID or an identity URI; and every family
// holds at most `maxSeries` label sets, so a bug upstream cannot grow memory or leak a name into a scrape.
//
// Wiring in server.ts (one registry shared by the API and portal apps; /metrics only on the mTLS API):
//
//   const metrics = createMetrics({
//     now,
//     queueDepth: () => deployment.vault.ledger.queueDepth,
//     logSize: () => deployment.vault.ledger.size(),
//     latestCheckpoint: () => deployment.vault.ledger.latestCheckpoint(),
//     verifyStatus: () => lastVerify,                   // 1 ok, 0 problems, -1 unknown
//   });
//   // in build(mode), after the authentication preHandler and before the routes:
//   registerMetrics(app, {
//     metrics,
//     ...(mode === "mtls" ? { authorize: (request) => request.caller !== undefined } : {}),
//   });
//   // after an ingest: metrics.recordsIngested(results.length); in allow(), on refusal:
//   metrics.refusal(operation);
//
// /metrics goes through the authentication preHandler like any route (do not add it to its skip list);
// `authorize` then decides. Without `authorize` an app counts its requests but serves no /metrics.

import type { FastifyInstance, FastifyRequest } from "fastify";
import { CustosError } from "../../core/errors.js";
import { OPERATIONS } from "../../identity/authorize.js";
import { errorReply } from "../errors.js";
import type { RateLimitBucket } from "./rate-limit.js";

/** The Prometheus text format's media type (exposition format 0.0.4). */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Request durations in seconds: from a fast read to a slow bulk ingest. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const DEFAULT_MAX_SERIES = 500;
const DEFAULT_COLLECT_TIMEOUT_MS = 2_000;
/** Where label sets go once a family is full, so a scrape shows the overflow instead of hiding it. */
const OVERFLOW = "other";
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const KNOWN_OPERATIONS: ReadonlySet<string> = new Set(OPERATIONS);

/** A gauge's reading at scrape time; undefined (or a throw, or a timeout) leaves the sample out. */
export type GaugeRead = () => number | undefined | Promise<number | undefined>;
export type Labels<L extends string> = Readonly<Record<L, string>>;
export interface LatestCheckpoint {
  readonly size: number;
  /** When this node stored it, ms since the epoch. */
  readonly storedAt: number;
}
/** What the epoch-key cache reports (src/records/epoch-keys.ts `EpochKeyStats`). */
export interface EpochKeyCounts {
  readonly hits: number;
  readonly misses: number;
  readonly active: number;
  readonly swept: number;
}
/** The outcome of the latest verification of the log: 1 ok, 0 problems found, -1 not known yet. */
export type VerifyStatus = 1 | 0 | -1;

// Text format 0.0.4: HELP escapes backslash and newline; label values also escape the double quote.
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  return `{${names.map((name, i) => `${name}="${escapeLabelValue(values[i] ?? "")}"`).join(",")}}`;
}

function checkNames(name: string, labelNames: readonly string[]): void {
  if (!METRIC_NAME.test(name)) throw new CustosError("BAD_ARGUMENT", `${name} is not a metric name`);
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
      throw new CustosError("BAD_ARGUMENT", `${label} is not a usable label name for ${name}`);
    }
  }
}

async function withTimeout<T>(read: () => T | Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(read),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Label sets of one family, capped: past `maxSeries`, new sets fold into one all-"other" series. */
class SeriesTable<T> {
  readonly #series = new Map<string, { readonly values: readonly string[]; readonly state: T }>();

  readonly labelNames: readonly string[];
  readonly maxSeries: number;
  readonly create: () => T;

  constructor(labelNames: readonly string[], maxSeries: number, create: () => T) {
    this.labelNames = labelNames;
    this.maxSeries = maxSeries;
    this.create = create;
  }

  get(labels: Readonly<Record<string, string>>): T {
    const values = this.labelNames.map((name) => {
      const value = labels[name];
      if (typeof value !== "string") throw new CustosError("BAD_ARGUMENT", `label ${name} is missing`);
      return value;
    });
    const found = this.#series.get(values.join("\u0000"));
    if (found) return found.state;
    // The overflow series itself may take the table one past its cap.
    const full = this.#series.size >= this.maxSeries;
    const kept = full ? this.labelNames.map(() => OVERFLOW) : values;
    const key = kept.join("\u0000");
    const existing = this.#series.get(key);
    if (existing) return existing.state;
    const state = this.create();
    this.#series.set(key, { values: kept, state });
    return state;
  }

  get size(): number {
    return this.#series.size;
  }

  entries(): IterableIterator<{ readonly values: readonly string[]; readonly state: T }> {
    return this.#series.values();
  }
}

interface Family {
  readonly name: string;
  render(): Promise<string>;
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

export class Counter<L extends string = never> implements Family {
  readonly #table: SeriesTable<{ value: number }>;

  readonly name: string;
  readonly help: string;

  constructor(name: string, help: string, labelNames: readonly L[] = [], maxSeries = DEFAULT_MAX_SERIES) {
    checkNames(name, labelNames);
    this.name = name;
    this.help = help;
    this.#table = new SeriesTable(labelNames, maxSeries, () => ({ value: 0 }));
    if (labelNames.length === 0) this.#table.get({});
  }

  inc(labels: Labels<L>, by = 1): void {
    if (!Number.isFinite(by) || by < 0) {
      throw new CustosError("BAD_ARGUMENT", `${this.name} only goes up, by a finite amount`);
    }
    this.#table.get(labels).value += by;
  }

  get series(): number {
    return this.#table.size;
  }

  async render(): Promise<string> {
    let out = header(this.name, this.help, "counter");
    for (const { values, state } of this.#table.entries()) {
      out += `${this.name}${formatLabels(this.#table.labelNames, values)} ${formatValue(state.value)}\n`;
    }
    return out;
  }
}

/** One sample read from a callback at scrape time: the value lives with its owner, not here. */
abstract class ReadSample implements Family {
  readonly name: string;
  readonly help: string;
  readonly read: GaugeRead;
  readonly timeoutMs: number;
  protected abstract readonly type: "gauge" | "counter";

  constructor(name: string, help: string, read: GaugeRead, timeoutMs = DEFAULT_COLLECT_TIMEOUT_MS) {
    checkNames(name, []);
    this.name = name;
    this.help = help;
    this.read = read;
    this.timeoutMs = timeoutMs;
  }

  async render(): Promise<string> {
    const value = await withTimeout(this.read, this.timeoutMs);
    const sample = typeof value === "number" ? `${this.name} ${formatValue(value)}\n` : "";
    return header(this.name, this.help, this.type) + sample;
  }
}

/** A gauge read from a callback at scrape time. */
export class Gauge extends ReadSample {
  protected readonly type = "gauge";
}

/** A counter kept by its owner and read at scrape time (a cache's hits, say); it must only go up. */
export class ReadCounter extends ReadSample {
  protected readonly type = "counter";
}

export class Histogram<L extends string = never> implements Family {
  readonly buckets: readonly number[];
  readonly #table: SeriesTable<{ counts: number[]; sum: number; count: number }>;

  readonly name: string;
  readonly help: string;

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[],
    maxSeries = DEFAULT_MAX_SERIES,
  ) {
    checkNames(name, labelNames);
    this.name = name;
    this.help = help;
    const ascending = buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]!));
    if (buckets.length === 0 || !ascending) {
      throw new CustosError("BAD_ARGUMENT", `${name} needs finite buckets in ascending order`);
    }
    this.buckets = [...buckets];
    this.#table = new SeriesTable(labelNames, maxSeries, () => ({
      counts: buckets.map(() => 0),
      sum: 0,
      count: 0,
    }));
  }

  observe(labels: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) return;
    const state = this.#table.get(labels);
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) state.counts[index]! += 1;
    state.sum += value;
    state.count += 1;
  }

  async render(): Promise<string> {
    let out = header(this.name, this.help, "histogram");
    const names = this.#table.labelNames;
    for (const { values, state } of this.#table.entries()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += state.counts[i]!;
        const labels = formatLabels([...names, "le"], [...values, formatValue(bound)]);
        out += `${this.name}_bucket${labels} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${formatLabels([...names, "le"], [...values, "+Inf"])} ${state.count}\n`;
      out += `${this.name}_sum${formatLabels(names, values)} ${formatValue(state.sum)}\n`;
      out += `${this.name}_count${formatLabels(names, values)} ${state.count}\n`;
    }
    return out;
  }
}

/** Families in the order they were added; names are unique. */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>();

  add<F extends Family>(family: F): F {
    if (this.#families.has(family.name)) {
      throw new CustosError("BAD_ARGUMENT", `metric ${family.name} is already registered`);
    }
    this.#families.set(family.name, family);
    return family;
  }

  async render(): Promise<string> {
    const parts = await Promise.all([...this.#families.values()].map((family) => family.render()));
    return parts.join("");
  }
}

export interface MetricsOptions {
  /** Entries waiting to be sequenced. */
  readonly queueDepth?: GaugeRead;
  /** Entries in the log (tree size). */
  readonly logSize?: GaugeRead;
  /** The latest checkpoint (a `StoredCheckpoint` fits): its age and size become gauges. */
  readonly latestCheckpoint?: () => LatestCheckpoint | undefined | Promise<LatestCheckpoint | undefined>;
  readonly verifyStatus?: () => VerifyStatus | undefined | Promise<VerifyStatus | undefined>;
  /** The epoch-key cache's counts (`EpochKeyCache.stats()` fits). */
  readonly epochKeys?: () => EpochKeyCounts;
  readonly now?: () => number;
  /** How long a scrape waits for one gauge callback before leaving its sample out. */
  readonly collectTimeoutMs?: number;
  /** Most label sets one family keeps (default 500). */
  readonly maxSeries?: number;
}

export interface Metrics {
  readonly registry: MetricsRegistry;
  /** Records accepted into the log (duplicates included: they were processed). */
  recordsIngested(count: number): void;
  /** A request refused by authorization, by operation (never by caller). */
  refusal(operation: string): void;
  /** A request refused by the rate limiter, by which bucket ran dry. */
  rateLimited(bucket: RateLimitBucket): void;
  /** One HTTP response; `route` must be the route pattern, never the URL. */
  observeRequest(route: string, method: string, statusCode: number, seconds: number): void;
  render(): Promise<string>;
}

function statusClass(statusCode: number): string {
  return statusCode >= 100 && statusCode < 600 ? `${Math.floor(statusCode / 100)}xx` : OVERFLOW;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const now = options.now ?? Date.now;
  const timeout = options.collectTimeoutMs ?? DEFAULT_COLLECT_TIMEOUT_MS;
  const maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
  const registry = new MetricsRegistry();
  const none: GaugeRead = () => undefined;

  const requests = registry.add(
    new Counter(
      "custos_http_requests_total",
      "HTTP responses by route pattern, method and status class.",
      ["route", "method", "status"],
      maxSeries,
    ),
  );
  const duration = registry.add(
    new Histogram(
      "custos_http_request_duration_seconds",
      "Time from receiving a request to sending its response, by route pattern.",
      ["route"],
      DURATION_BUCKETS,
      maxSeries,
    ),
  );
  const ingested = registry.add(
    new Counter("custos_records_ingested_total", "Access records accepted for the log."),
  );
  const refusals = registry.add(
    new Counter(
      "custos_refusals_total",
      "Requests refused by authorization (each also recorded in the log), by operation.",
      ["operation"],
      maxSeries,
    ),
  );
  const limited = registry.add(
    new Counter(
      "custos_rate_limited_total",
      "Requests answered 429 by the rate limiter, by the bucket that ran dry.",
      ["bucket"],
      maxSeries,
    ),
  );
  // Zero from the start, so rate() and increase() see the first refusal.
  for (const operation of OPERATIONS) refusals.inc({ operation }, 0);
  for (const bucket of ["identity", "address", "login"] as const) limited.inc({ bucket }, 0);

  registry.add(
    new Gauge(
      "custos_ingest_queue_depth",
      "Entries waiting to be sequenced.",
      options.queueDepth ?? none,
      timeout,
    ),
  );
  registry.add(new Gauge("custos_log_size", "Entries in the log.", options.logSize ?? none, timeout));
  const latest = options.latestCheckpoint;
  registry.add(
    new Gauge(
      "custos_checkpoint_age_seconds",
      "Seconds since the latest checkpoint was stored (a quiet log signs none: compare sizes).",
      latest
        ? async () => {
            const checkpoint = await latest();
            return checkpoint && Math.max(0, (now() - checkpoint.storedAt) / 1000);
          }
        : none,
      timeout,
    ),
  );
  registry.add(
    new Gauge(
      "custos_checkpoint_size",
      "Entries covered by the latest checkpoint; below custos_log_size while entries await one.",
      latest ? async () => (await latest())?.size : none,
      timeout,
    ),
  );
  registry.add(
    new Gauge(
      "custos_verify_status",
      "Latest verification of the log: 1 ok, 0 problems found, -1 unknown.",
      options.verifyStatus ?? (() => -1),
      timeout,
    ),
  );

  const epochKeys = options.epochKeys;
  const epochRead = (pick: (counts: EpochKeyCounts) => number): GaugeRead =>
    epochKeys ? () => pick(epochKeys()) : none;
  registry.add(
    new ReadCounter(
      "custos_epoch_key_hits_total",
      "Records sealed under a live epoch key from the cache.",
      epochRead((c) => c.hits),
      timeout,
    ),
  );
  registry.add(
    new ReadCounter(
      "custos_epoch_key_misses_total",
      "Epoch key lookups that found no live epoch (a new epoch, its keys wrapped, followed).",
      epochRead((c) => c.misses),
      timeout,
    ),
  );
  registry.add(
    new Gauge(
      "custos_epoch_keys_live",
      "Epoch keys held in memory now (one per patient with a live epoch).",
      epochRead((c) => c.active),
      timeout,
    ),
  );
  registry.add(
    new ReadCounter(
      "custos_epoch_keys_swept_total",
      "Epoch keys zero-filled by the sweep timer because their period was over.",
      epochRead((c) => c.swept),
      timeout,
    ),
  );

  return {
    registry,
    recordsIngested(count) {
      if (!Number.isSafeInteger(count) || count < 0) {
        throw new CustosError("BAD_ARGUMENT", "a count of ingested records is a whole number");
      }
      ingested.inc({}, count);
    },
    refusal(operation) {
      refusals.inc({ operation: KNOWN_OPERATIONS.has(operation) ? operation : OVERFLOW });
    },
    rateLimited(bucket) {
      limited.inc({ bucket });
    },
    observeRequest(route, method, statusCode, seconds) {
      const verb = METHODS.has(method) ? method : OVERFLOW;
      requests.inc({ route, method: verb, status: statusClass(statusCode) });
      duration.observe({ route }, seconds);
    },
    render: () => registry.render(),
  };
}

/** The label for a request: its route pattern, or "unmatched" for a URL no route knows (never the URL). */
export function routeLabel(request: FastifyRequest): string {
  return request.routeOptions.url ?? "unmatched";
}

export interface RegisterMetricsOptions {
  readonly metrics: Metrics;
  /** Serve GET /metrics on this app to requests this accepts; without it, no endpoint. */
  readonly authorize?: (request: FastifyRequest) => boolean | Promise<boolean>;
}

/** Counts every response of `app` and, given `authorize`, serves GET /metrics. Call before the routes. */
export function registerMetrics(app: FastifyInstance, options: RegisterMetricsOptions): void {
  const { metrics, authorize } = options;
  app.addHook("onResponse", async (request, reply) => {
    metrics.observeRequest(routeLabel(request), request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  if (!authorize) return;
  const route = { schema: { summary: "Prometheus metrics (text format 0.0.4)", tags: ["operations"] } };
  app.get("/metrics", route, async (request, reply) => {
    if (!(await authorize(request))) {
      const { status, body } = errorReply(
        new CustosError("NOT_AUTHORIZED", "this identity may not read the node's metrics"),
      );
      return reply.code(status).type("application/json").send(body);
    }
    const text = await metrics.render();
    return reply.header("cache-control", "no-store").type(EXPOSITION_CONTENT_TYPE).send(text);
  });
}
