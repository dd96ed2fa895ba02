// The service plugins on real Fastify instances through app.inject: metrics in a scrape that parses as
// Prometheus text 0.0.4 and never names a URL's IDs, token buckets that refuse, recover and stay bounded,
// and readiness that flips to 503 naming the failing check.

import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { afterEach, describe, expect, it } from "vitest";
import { EpochKeyCache } from "../../src/records/epoch-keys.js";
import { checkpointFreshness, registerHealth } from "../../src/service/plugins/health.js";
import {
  Counter,
  createMetrics,
  DURATION_BUCKETS,
  EXPOSITION_CONTENT_TYPE,
  type Metrics,
  MetricsRegistry,
  registerMetrics,
} from "../../src/service/plugins/metrics.js";
import { addressKey, registerRateLimit, TokenBuckets } from "../../src/service/plugins/rate-limit.js";

// --- A small parser for the Prometheus text exposition format 0.0.4, strict about what we emit ---

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface ParsedFamily {
  readonly name: string;
  help?: string;
  type?: string;
  readonly samples: Sample[];
}

function unescapeText(text: string, quotes: boolean): string {
  return text.replace(/\\(.)/g, (whole, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    if (quotes && c === '"') return '"';
    throw new Error(`bad escape ${whole}`);
  });
}

function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  if (!/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text)) throw new Error(`bad value ${text}`);
  return Number(text);
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,?)/.exec(rest);
    if (!match) throw new Error(`bad labels at ${rest}`);
    const name = match[1]!;
    if (name in labels) throw new Error(`label ${name} twice`);
    labels[name] = unescapeText(match[2]!, true);
    rest = rest.slice(match[0].length);
    if (match[3] === "" && rest.length > 0) throw new Error(`labels run on: ${rest}`);
  }
  return labels;
}

const SUFFIXES = ["_bucket", "_sum", "_count"];

function parseExposition(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, ParsedFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { name, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      const f = family(comment[2]!);
      if (f.samples.length > 0) throw new Error(`${f.name}: ${comment[1]} after samples`);
      if (comment[1] === "HELP") {
        if (f.help !== undefined) throw new Error(`${f.name}: HELP twice`);
        f.help = unescapeText(comment[3]!, false);
      } else {
        if (f.type !== undefined) throw new Error(`${f.name}: TYPE twice`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(comment[3]!)) {
          throw new Error(`${f.name}: bad type ${comment[3]}`);
        }
        f.type = comment[3]!;
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const name = sample[1]!;
    const suffix = SUFFIXES.find((s) => name.endsWith(s));
    const base = suffix ? name.slice(0, -suffix.length) : name;
    const owner = families.get(name) ?? (suffix ? families.get(base) : undefined);
    if (!owner?.type) throw new Error(`${name}: sample before its TYPE line`);
    if (owner.name !== name && owner.type !== "histogram") throw new Error(`${name}: stray suffix`);
    owner.samples.push({ name, labels: parseLabels(sample[2] ?? ""), value: parseValue(sample[3]!) });
  }
  return families;
}

function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const base = SUFFIXES.reduce(
    (n, s) => (n.endsWith(s) && families.has(n.slice(0, -s.length)) ? n.slice(0, -s.length) : n),
    name,
  );
  const matches = (families.get(base)?.samples ?? []).filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matches.length > 1) throw new Error(`${name}: ${matches.length} samples match`);
  return matches[0]?.value;
}

// --- Fixtures ---

const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A stand-in for the server's authentication preHandler: the caller comes from a test header. */
function withAuthentication(app: FastifyInstance): (request: FastifyRequest) => string | undefined {
  const callers = new WeakMap<FastifyRequest, string>();
  app.addHook("preHandler", async (request) => {
    const identity = request.headers["x-test-identity"];
    if (typeof identity === "string") callers.set(request, identity);
  });
  return (request) => callers.get(request);
}

function appWith(setup: (app: FastifyInstance) => void): FastifyInstance {
  const app = Fastify();
  apps.push(app);
  // The zod compilers every Custos app uses (src/service/http-base.ts): the probes' schemas are zod.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  setup(app);
  app.get("/v1/things/:id", async () => ({ thing: true }));
  app.post("/v1/records", async () => ({ records: [] }));
  app.post("/v1/login", async () => ({ token: "t" }));
  return app;
}

const T0 = 1_800_000_000_000;

// --- Metrics ---

describe("metrics", () => {
  function metricsApp(metrics: Metrics) {
    return appWith((app) => {
      const callerOf = withAuthentication(app);
      registerMetrics(app, { metrics, authorize: (request) => callerOf(request) !== undefined });
    });
  }

  const scrape = async (app: FastifyInstance) => {
    const reply = await app.inject({
      method: "GET",
      url: "/metrics",
      headers: { "x-test-identity": "custos://d/node/monitor" },
    });
    expect(reply.statusCode).toBe(200);
    expect(reply.headers["content-type"]).toBe(EXPOSITION_CONTENT_TYPE);
    return { text: reply.body, families: parseExposition(reply.body) };
  };

  it("serves a scrape that parses as text format 0.0.4 with the counts of the requests made", async () => {
    let now = T0;
    const metrics = createMetrics({
      now: () => now,
      queueDepth: () => 7,
      logSize: async () => 42,
      latestCheckpoint: async () => ({ size: 40, storedAt: T0 - 95_000 }),
      verifyStatus: () => 1,
    });
    const app = metricsApp(metrics);
    for (let i = 0; i < 3; i++) await app.inject({ method: "GET", url: "/v1/things/P123" });
    await app.inject({ method: "POST", url: "/v1/records", payload: {} });
    await app.inject({ method: "GET", url: "/v1/nowhere/P999" });
    metrics.recordsIngested(5);
    metrics.recordsIngested(2);
    metrics.refusal("read-trail");
    now = T0 + 5_000;

    const { families } = await scrape(app);
    for (const f of families.values()) {
      expect(f.help, f.name).toBeTruthy();
      expect(f.type, f.name).toBeTruthy();
    }
    expect(families.get("custos_http_requests_total")?.type).toBe("counter");
    expect(families.get("custos_http_request_duration_seconds")?.type).toBe("histogram");
    expect(
      sampleValue(families, "custos_http_requests_total", {
        route: "/v1/things/:id",
        method: "GET",
        status: "2xx",
      }),
    ).toBe(3);
    expect(
      sampleValue(families, "custos_http_requests_total", {
        route: "/v1/records",
        method: "POST",
        status: "2xx",
      }),
    ).toBe(1);
    expect(
      sampleValue(families, "custos_http_requests_total", {
        route: "unmatched",
        method: "GET",
        status: "4xx",
      }),
    ).toBe(1);
    expect(sampleValue(families, "custos_records_ingested_total")).toBe(7);
    expect(sampleValue(families, "custos_refusals_total", { operation: "read-trail" })).toBe(1);
    expect(sampleValue(families, "custos_refusals_total", { operation: "manage-grants" })).toBe(0);
    expect(sampleValue(families, "custos_ingest_queue_depth")).toBe(7);
    expect(sampleValue(families, "custos_log_size")).toBe(42);
    expect(sampleValue(families, "custos_checkpoint_age_seconds")).toBe(100);
    expect(sampleValue(families, "custos_checkpoint_size")).toBe(40);
    expect(sampleValue(families, "custos_verify_status")).toBe(1);

    // Histogram: cumulative buckets ending in +Inf, which equals _count.
    const route = { route: "/v1/things/:id" };
    const buckets = families
      .get("custos_http_request_duration_seconds")!
      .samples.filter((s) => s.name.endsWith("_bucket") && s.labels.route === route.route);
    expect(buckets.map((s) => s.labels.le)).toEqual([...DURATION_BUCKETS.map(String), "+Inf"]);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.value).toBe(3);
    expect(sampleValue(families, "custos_http_request_duration_seconds_count", route)).toBe(3);
    expect(sampleValue(families, "custos_http_request_duration_seconds_sum", route)).toBeGreaterThanOrEqual(
      0,
    );
  });

  it("exports the epoch-key cache's hits, misses, live epochs and swept keys", async () => {
    let now = T0;
    const cache = new EpochKeyCache({ periodMs: 1_000, now: () => now });
    const app = metricsApp(createMetrics({ epochKeys: () => cache.stats() }));
    const tag = new Uint8Array(32).fill(1);
    expect(cache.get(tag, "r")).toBeUndefined();
    cache.start(tag, "r");
    cache.start(new Uint8Array(32).fill(2), "r");
    expect(cache.get(tag, "r")).toBeDefined();
    let { families } = await scrape(app);
    expect(families.get("custos_epoch_key_hits_total")?.type).toBe("counter");
    expect(families.get("custos_epoch_keys_live")?.type).toBe("gauge");
    expect(sampleValue(families, "custos_epoch_key_hits_total")).toBe(1);
    expect(sampleValue(families, "custos_epoch_key_misses_total")).toBe(1);
    expect(sampleValue(families, "custos_epoch_keys_live")).toBe(2);
    expect(sampleValue(families, "custos_epoch_keys_swept_total")).toBe(0);
    now += 1_000;
    cache.sweep();
    ({ families } = await scrape(app));
    expect(sampleValue(families, "custos_epoch_keys_live")).toBe(0);
    expect(sampleValue(families, "custos_epoch_keys_swept_total")).toBe(2);
    cache.close();
  });

  it("labels a request by its route pattern, never by a URL holding an ID", async () => {
    const app = metricsApp(createMetrics());
    await app.inject({ method: "GET", url: "/v1/things/P123" });
    await app.inject({ method: "GET", url: "/v1/things/P123?patient=P456" });
    await app.inject({ method: "DELETE", url: "/v1/unknown/P789" });
    await app.inject({
      method: "GET",
      url: "/metrics",
      headers: { "x-test-identity": "custos://d/patient/P42" },
    });
    const { text, families } = await scrape(app);
    for (const id of ["P123", "P456", "P789", "P42", "custos://"]) expect(text).not.toContain(id);
    const routes = new Set(families.get("custos_http_requests_total")!.samples.map((s) => s.labels.route));
    expect([...routes].sort()).toEqual(["/metrics", "/v1/things/:id", "unmatched"]);
  });

  it("maps an unknown refusal operation and odd methods to other", async () => {
    const metrics = createMetrics();
    const app = metricsApp(metrics);
    metrics.refusal("custos://d/patient/P1");
    await app.inject({ method: "PROPFIND" as "GET", url: "/v1/things/P1" });
    const { text, families } = await scrape(app);
    expect(text).not.toContain("P1");
    expect(sampleValue(families, "custos_refusals_total", { operation: "other" })).toBe(1);
    const methods = families.get("custos_http_requests_total")!.samples.map((s) => s.labels.method);
    expect(methods.every((m) => ["GET", "other"].includes(m!))).toBe(true);
  });

  it("leaves out a gauge whose callback throws or hangs, and reports -1 without a verifier", async () => {
    const metrics = createMetrics({
      queueDepth: () => {
        throw new Error("sequencer gone");
      },
      logSize: () => new Promise<number>(() => undefined),
      collectTimeoutMs: 50,
    });
    const { families } = await scrape(metricsApp(metrics));
    expect(families.get("custos_ingest_queue_depth")?.samples).toEqual([]);
    expect(families.get("custos_log_size")?.samples).toEqual([]);
    expect(families.get("custos_checkpoint_age_seconds")?.samples).toEqual([]);
    expect(sampleValue(families, "custos_verify_status")).toBe(-1);
  });

  it("refuses /metrics to a caller authorize rejects, and serves none without authorize", async () => {
    const app = metricsApp(createMetrics());
    const refused = await app.inject({ method: "GET", url: "/metrics" });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({
      error: { code: "NOT_AUTHORIZED", message: "this identity may not read the node's metrics" },
    });

    const quiet = appWith((a) => registerMetrics(a, { metrics: createMetrics() }));
    expect((await quiet.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(404);
  });

  it("escapes label values and help text so they parse back unchanged", async () => {
    const registry = new MetricsRegistry();
    const counter = registry.add(
      new Counter("test_odd_total", 'help with \\ and\nnewline and "quotes"', ["v"]),
    );
    const odd = 'a "quoted" \\ back\nslash';
    counter.inc({ v: odd }, 2);
    const families = parseExposition(await registry.render());
    expect(families.get("test_odd_total")?.help).toBe('help with \\ and\nnewline and "quotes"');
    expect(sampleValue(families, "test_odd_total", { v: odd })).toBe(2);
  });

  it("keeps a family to its series cap, folding the rest into other", async () => {
    const registry = new MetricsRegistry();
    const counter = registry.add(new Counter("test_capped_total", "capped", ["route"], 3));
    for (let i = 0; i < 50; i++) counter.inc({ route: `/r${i}` });
    expect(counter.series).toBe(4);
    const families = parseExposition(await registry.render());
    expect(sampleValue(families, "test_capped_total", { route: "other" })).toBe(47);
    expect(() => counter.inc({ route: "/r0" }, -1)).toThrow(/only goes up/);
    expect(() => registry.add(new Counter("test_capped_total", "again"))).toThrow(/already registered/);
    expect(() => new Counter("bad-name", "x")).toThrow(/not a metric name/);
  });
});

// --- Rate limits ---

describe("rate limit", () => {
  function limitedApp(
    options: { burst?: number; ratePerSecond?: number; maxKeys?: number },
    metrics?: Metrics,
  ) {
    const clock = { now: T0 };
    const app = appWith((a) => {
      const callerOf = withAuthentication(a);
      if (metrics) registerMetrics(a, { metrics });
      const limiter = registerRateLimit(a, {
        keyOf: callerOf,
        now: () => clock.now,
        ...options,
        ...(metrics ? { onLimited: (bucket) => metrics.rateLimited(bucket) } : {}),
      });
      Object.assign(clock, { limiter });
    });
    return { app, clock: clock as typeof clock & { limiter: { size: number } } };
  }

  const get = (app: FastifyInstance, identity?: string, remoteAddress = "192.0.2.1") =>
    app.inject({
      method: "GET",
      url: "/v1/things/P1",
      remoteAddress,
      ...(identity ? { headers: { "x-test-identity": identity } } : {}),
    });

  it("answers 429 with Retry-After once the burst is spent, and recovers as time passes", async () => {
    const metrics = createMetrics();
    const { app, clock } = limitedApp({ ratePerSecond: 2, burst: 5 }, metrics);
    const alice = "custos://d/patient/alice";
    for (let i = 0; i < 5; i++) expect((await get(app, alice)).statusCode).toBe(200);
    const refused = await get(app, alice);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.json()).toEqual({
      error: { code: "RATE_LIMITED", message: "too many requests; retry after 1 s" },
    });
    expect(refused.body).not.toContain("alice");

    clock.now += 500; // one token back
    expect((await get(app, alice)).statusCode).toBe(200);
    expect((await get(app, alice)).statusCode).toBe(429);
    clock.now += 60_000; // refilled, but never past the burst
    for (let i = 0; i < 5; i++) expect((await get(app, alice)).statusCode).toBe(200);
    expect((await get(app, alice)).statusCode).toBe(429);

    const families = parseExposition(await metrics.render());
    expect(sampleValue(families, "custos_rate_limited_total", { bucket: "identity" })).toBe(3);
    expect(
      sampleValue(families, "custos_http_requests_total", {
        route: "/v1/things/:id",
        method: "GET",
        status: "4xx",
      }),
    ).toBe(3);
  });

  it("keeps a separate bucket per identity, and per address for requests with none", async () => {
    const { app } = limitedApp({ ratePerSecond: 1, burst: 2 });
    const alice = "custos://d/patient/alice";
    const bob = "custos://d/patient/bob";
    await get(app, alice);
    await get(app, alice);
    expect((await get(app, alice)).statusCode).toBe(429);
    // Same address, different identity: untouched.
    expect((await get(app, bob)).statusCode).toBe(200);
    // No identity: limited by address, apart from the identities coming from it.
    expect((await get(app, undefined, "192.0.2.1")).statusCode).toBe(200);
    expect((await get(app, undefined, "192.0.2.1")).statusCode).toBe(200);
    expect((await get(app, undefined, "192.0.2.1")).statusCode).toBe(429);
    expect((await get(app, undefined, "198.51.100.7")).statusCode).toBe(200);
    // One IPv6 /64 is one bucket.
    expect((await get(app, undefined, "2001:db8:1:2::1")).statusCode).toBe(200);
    expect((await get(app, undefined, "2001:db8:1:2:ffff::9")).statusCode).toBe(200);
    expect((await get(app, undefined, "2001:db8:1:2:abcd:0:0:1")).statusCode).toBe(429);
  });

  it("limits login routes by address with their own small bucket", async () => {
    const { app, clock } = limitedApp({});
    const login = (remoteAddress: string) =>
      app.inject({ method: "POST", url: "/v1/login", payload: {}, remoteAddress });
    for (let i = 0; i < 10; i++) expect((await login("203.0.113.5")).statusCode).toBe(200);
    const refused = await login("203.0.113.5");
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["retry-after"]).toBe("6"); // 10 a minute: one every 6 s
    expect((await login("203.0.113.6")).statusCode).toBe(200);
    expect((await get(app, undefined, "203.0.113.5")).statusCode).toBe(200);
    clock.now += 6_000;
    expect((await login("203.0.113.5")).statusCode).toBe(200);
    expect((await login("203.0.113.5")).statusCode).toBe(429);
  });

  it("keeps the bucket map bounded, dropping the least recently used", async () => {
    const { app, clock } = limitedApp({ maxKeys: 100, burst: 1, ratePerSecond: 1 });
    for (let i = 0; i < 250; i++) await get(app, `custos://d/patient/p${i}`);
    expect(clock.limiter.size).toBeLessThanOrEqual(100);

    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 1 }, 3);
    buckets.take("a", T0);
    buckets.take("b", T0);
    buckets.take("c", T0);
    expect(buckets.take("a", T0).allowed).toBe(false); // a is now the most recent
    buckets.take("d", T0); // evicts b
    expect(buckets.size).toBe(3);
    expect(buckets.take("a", T0).allowed).toBe(false);
    expect(buckets.take("b", T0).allowed).toBe(true); // forgotten, so fresh
  });

  it("groups addresses into keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64", () => {
    expect(addressKey("192.0.2.1")).toBe("192.0.2.1");
    expect(addressKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(addressKey("2001:DB8:0001:0002:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2::")).toBe("2001:db8:1:2::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
  });

  it("refuses settings that would disable or break the limit", () => {
    const app = appWith(() => undefined);
    expect(() => registerRateLimit(app, { keyOf: () => undefined, ratePerSecond: 0 })).toThrow(
      /ratePerSecond/,
    );
    expect(() => registerRateLimit(app, { keyOf: () => undefined, burst: 0.5 })).toThrow(/burst/);
    expect(() => registerRateLimit(app, { keyOf: () => undefined, maxKeys: 0 })).toThrow(/maxKeys/);
  });
});

// --- Health and readiness ---

describe("health and readiness", () => {
  it("answers liveness always and readiness only while every check is ok", async () => {
    let now = T0;
    let storeUp = true;
    const app = appWith((a) =>
      registerHealth(a, {
        checks: async () => ({
          store: storeUp ? "ok" : "unreachable",
          checkpoint: checkpointFreshness({ size: 10, storedAt: T0 }, 11, now, 90),
        }),
      }),
    );
    const health = await app.inject({ method: "GET", url: "/v1/health" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: "ok" });

    const ready = await app.inject({ method: "GET", url: "/v1/ready" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: "ok", checks: { store: "ok", checkpoint: "ok" } });

    now = T0 + 95_000;
    const stale = await app.inject({ method: "GET", url: "/v1/ready" });
    expect(stale.statusCode).toBe(503);
    expect(stale.json()).toEqual({ status: "not ready", checks: { store: "ok", checkpoint: "stale: 95 s" } });

    now = T0;
    storeUp = false;
    expect((await app.inject({ method: "GET", url: "/v1/ready" })).json()).toEqual({
      status: "not ready",
      checks: { store: "unreachable", checkpoint: "ok" },
    });
    expect((await app.inject({ method: "GET", url: "/v1/health" })).statusCode).toBe(200);
  });

  it("is not ready when the checks throw or hang, and keeps the error's message out", async () => {
    const throwing = appWith((a) =>
      registerHealth(a, {
        checks: () => {
          throw new Error("connect ECONNREFUSED db.internal:5432");
        },
      }),
    );
    const failed = await throwing.inject({ method: "GET", url: "/v1/ready" });
    expect(failed.statusCode).toBe(503);
    expect(failed.json()).toEqual({ status: "not ready", checks: { checks: "failed" } });
    expect(failed.body).not.toContain("db.internal");

    const hanging = appWith((a) =>
      registerHealth(a, { checks: () => new Promise(() => undefined), timeoutMs: 50 }),
    );
    const slow = await hanging.inject({ method: "GET", url: "/v1/ready" });
    expect(slow.statusCode).toBe(503);
    expect(slow.json()).toEqual({ status: "not ready", checks: { checks: "no answer within 50 ms" } });
  });

  it("calls a checkpoint stale only when entries wait beyond the limit", () => {
    const old = { size: 5, storedAt: T0 - 61_500 };
    expect(checkpointFreshness(old, 6, T0, 60)).toBe("stale: 61 s");
    expect(checkpointFreshness({ size: 5, storedAt: T0 - 60_000 }, 6, T0, 60)).toBe("ok");
    // A quiet log: the checkpoint covers everything, however old.
    expect(checkpointFreshness(old, 5, T0, 60)).toBe("ok");
    expect(checkpointFreshness(undefined, 0, T0, 60)).toBe("ok");
    expect(checkpointFreshness(undefined, 3, T0, 60)).toBe("no checkpoint yet");
  });
});
