// Token buckets per caller: an authenticated request spends from its identity's bucket, any other from
// its remote address's (an IPv6 address counts by its /64), and login routes from a much smaller bucket
// per address. Memory is bounded: buckets live in an LRU of at most `maxKeys` keys per table, and the
// least recently used goes first (an idle bucket has refilled, so dropping it forgets nothing).
//
// Wiring in server.ts, inside build(mode), AFTER the authentication preHandler (hooks run in the order
// they are added, and the identity key exists only once that hook has set request.caller):
//
//   app.addHook("preHandler", authenticate);            // the existing hook
//   registerRateLimit(app, {
//     keyOf: (request) => request.caller?.uri,
//     now,
//     onLimited: (bucket) => metrics.rateLimited(bucket),
//   });
//
// Requests the authentication hook rejects (a bad token on the portal) never reach this hook; mutual TLS
// rejects unknown clients before HTTP. Behind a reverse proxy, set Fastify's `trustProxy` so request.ip
// is the client's address, not the proxy's.

import { isIPv6 } from "node:net";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { CustosError } from "../../core/index.js";
import { errorReply } from "../errors.js";

/** Which bucket a request spent from. */
export type RateLimitBucket = "identity" | "address" | "login";

export interface BucketLimit {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Most tokens a bucket holds: the largest burst allowed after a quiet spell. */
  readonly burst: number;
}

export interface LoginLimit extends BucketLimit {
  /** Routes whose pattern starts with this use the login bucket (per address) instead. */
  readonly pathPrefix: string;
}

export interface RateLimitOptions {
  /** The caller's stable key (its identity URI), or undefined to limit by remote address. */
  readonly keyOf: (request: FastifyRequest) => string | undefined;
  /** Default 200 per second. */
  readonly ratePerSecond?: number;
  /** Default 400. */
  readonly burst?: number;
  /** Default 10 a minute per address, burst 10, for /v1/login...; false to treat login like any route. */
  readonly login?: LoginLimit | false;
  /** Most buckets kept per table (default 100,000). */
  readonly maxKeys?: number;
  readonly now?: () => number;
  readonly onLimited?: (bucket: RateLimitBucket) => void;
}

export const DEFAULT_RATE_PER_SECOND = 200;
export const DEFAULT_BURST = 400;
export const DEFAULT_LOGIN_LIMIT: LoginLimit = { ratePerSecond: 10 / 60, burst: 10, pathPrefix: "/v1/login" };
export const DEFAULT_MAX_KEYS = 100_000;

export type Take =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

/** Token buckets by key, in insertion order = least recently used first. */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; updated: number }>();

  readonly limit: BucketLimit;
  readonly maxKeys: number;

  constructor(limit: BucketLimit, maxKeys: number) {
    checkLimit(limit, "rate limit");
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new CustosError("CONFIG", "rate limit: maxKeys must be a whole number of at least 1");
    }
    this.limit = limit;
    this.maxKeys = maxKeys;
  }

  take(key: string, now: number): Take {
    const { ratePerSecond, burst } = this.limit;
    const bucket = this.#buckets.get(key);
    let tokens = burst;
    if (bucket) {
      // A clock that steps back refills nothing rather than draining.
      const elapsed = Math.max(0, now - bucket.updated) / 1000;
      tokens = Math.min(burst, bucket.tokens + elapsed * ratePerSecond);
      this.#buckets.delete(key);
    }
    const allowed = tokens >= 1;
    if (allowed) tokens -= 1;
    this.#buckets.set(key, { tokens, updated: now });
    while (this.#buckets.size > this.maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done) break;
      this.#buckets.delete(oldest.value);
    }
    if (allowed) return { allowed };
    return { allowed, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / ratePerSecond)) };
  }

  get size(): number {
    return this.#buckets.size;
  }
}

function checkLimit(limit: BucketLimit, what: string): void {
  if (!Number.isFinite(limit.ratePerSecond) || limit.ratePerSecond <= 0) {
    throw new CustosError("CONFIG", `${what}: ratePerSecond must be a positive number`);
  }
  if (!Number.isFinite(limit.burst) || limit.burst < 1) {
    throw new CustosError("CONFIG", `${what}: burst must be at least 1`);
  }
}

/**
 * The key for a remote address: IPv4 as is (also when mapped into IPv6), IPv6 by its /64, since one
 * subscriber is usually handed a whole /64 and could otherwise take a fresh bucket per address.
 */
export function addressKey(ip: string): string {
  const address = (ip.split("%")[0] ?? "").toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = "", tail] = address.split("::");
  const groups = (part: string) =>
    part === "" ? [] : part.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g]));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back];
  const prefix = all.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16));
  return `${prefix.join(":")}::/64`;
}

export interface RateLimiter {
  /** Buckets currently held, all tables together. */
  readonly size: number;
}

/** Adds the rate-limiting preHandler to `app`. Register it after the authentication preHandler. */
export function registerRateLimit(app: FastifyInstance, options: RateLimitOptions): RateLimiter {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  const general = new TokenBuckets(
    {
      ratePerSecond: options.ratePerSecond ?? DEFAULT_RATE_PER_SECOND,
      burst: options.burst ?? DEFAULT_BURST,
    },
    maxKeys,
  );
  const loginLimit = options.login === undefined ? DEFAULT_LOGIN_LIMIT : options.login;
  const login = loginLimit ? new TokenBuckets(loginLimit, maxKeys) : undefined;
  if (loginLimit && !loginLimit.pathPrefix.startsWith("/")) {
    throw new CustosError("CONFIG", "rate limit: login.pathPrefix must start with /");
  }

  app.addHook("preHandler", async (request, reply) => {
    const path = request.routeOptions.url ?? request.url.split("?")[0] ?? "";
    let bucket: RateLimitBucket;
    let result: Take;
    if (login && loginLimit && path.startsWith(loginLimit.pathPrefix)) {
      bucket = "login";
      result = login.take(addressKey(request.ip), now());
    } else {
      const key = options.keyOf(request);
      bucket = key === undefined ? "address" : "identity";
      result = general.take(key === undefined ? `a ${addressKey(request.ip)}` : `i ${key}`, now());
    }
    if (result.allowed) return;
    options.onLimited?.(bucket);
    const { status, body } = errorReply(
      new CustosError("RATE_LIMITED", `too many requests; retry after ${result.retryAfterSeconds} s`),
    );
    return reply
      .code(status)
      .header("retry-after", String(result.retryAfterSeconds))
      .type("application/json")
      .send(body);
  });

  return {
    get size() {
      return general.size + (login?.size ?? 0);
    },
  };
}
