// The node's metrics, in the Prometheus text exposition format 0.0.4 (families and registry: metrics-registry.ts).
// Invariant: a label value comes only from a bounded vocabulary (route pattern, method, status class,
// operation, bucket kind), never from a URL, a patient ID, a user ID or an identity URI; and every family
// holds at most `maxSeries` label sets, so a bug upstream cannot grow memory or leak a name into a scrape.
//
// Wiring in src/node (one registry shared by the API and portal apps; /metrics only on the mTLS API):
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
import { CustosError } from "../../core/index.js";
import { OPERATIONS } from "../../identity/index.js";
import { errorReply } from "../errors.js";
import {
  Counter,
  DEFAULT_COLLECT_TIMEOUT_MS,
  DEFAULT_MAX_SERIES,
  EXPOSITION_CONTENT_TYPE,
  Gauge,
  type GaugeRead,
  Histogram,
  MetricsRegistry,
  OVERFLOW,
  ReadCounter,
} from "./metrics-registry.js";
import type { RateLimitBucket } from "./rate-limit.js";

export {
  Counter,
  EXPOSITION_CONTENT_TYPE,
  Gauge,
  type GaugeRead,
  Histogram,
  type Labels,
  MetricsRegistry,
  ReadCounter,
} from "./metrics-registry.js";

/** Request durations in seconds: from a fast read to a slow bulk ingest. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const KNOWN_OPERATIONS: ReadonlySet<string> = new Set(OPERATIONS);

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
