// A small HTTPS load generator over mutual TLS for the service benchmark (node:https, no dependency):
// closed-loop (N requests always in flight) and open-loop (requests sent on a fixed schedule, latency
// measured from the scheduled time, so a slow server cannot hide its queue by slowing the sender).

import { Agent, request } from "node:https";
import type { Identity } from "../src/identity/bundle.js";

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

export interface Outcome {
  readonly status: number;
  /** The socket error's code or message when the request failed before a status arrived. */
  readonly error?: string;
}

export type ConnectionMode = "keep-alive" | "new connection per request";

export class MtlsLoad {
  readonly #host: string;
  readonly #port: number;
  readonly #tls: { key: string; cert: string; ca: string; minVersion: "TLSv1.3" };
  readonly #agent: Agent | false;
  readonly mode: ConnectionMode;

  constructor(port: number, identity: Identity, mode: ConnectionMode, maxSockets = 64) {
    this.#host = "127.0.0.1";
    this.#port = port;
    this.mode = mode;
    this.#tls = {
      key: identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString(),
      cert: identity.bundle.signingCertificate,
      ca: identity.bundle.caCertificate,
      minVersion: "TLSv1.3",
    };
    this.#agent = mode === "keep-alive" ? new Agent({ ...this.#tls, keepAlive: true, maxSockets }) : false;
  }

  /** One request; never rejects: a failure before a status arrives is status 0 with the error. */
  send(method: "GET" | "POST", path: string, body?: string, contentType = "application/json") {
    return new Promise<Reply & Outcome>((resolve) => {
      const req = request(
        {
          host: this.#host,
          port: this.#port,
          path,
          method,
          ...this.#tls,
          agent: this.#agent,
          headers: body === undefined ? {} : { "content-type": contentType },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on("error", (error: NodeJS.ErrnoException) =>
            resolve({ status: 0, body: Buffer.alloc(0), error: error.code ?? error.message }),
          );
        },
      );
      req.on("error", (error: NodeJS.ErrnoException) =>
        resolve({ status: 0, body: Buffer.alloc(0), error: error.code ?? error.message }),
      );
      req.end(body);
    });
  }

  async json<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const reply = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (reply.status !== 200)
      throw new Error(`${method} ${path}: ${reply.status} ${reply.error ?? reply.body.toString("utf8")}`);
    return JSON.parse(reply.body.toString("utf8")) as T;
  }

  close(): void {
    if (this.#agent) this.#agent.destroy();
  }
}

/** Counts failures by kind ("HTTP 429", "ECONNRESET", ...). */
export class Failures {
  readonly byKind = new Map<string, number>();
  total = 0;

  add(outcome: Outcome): void {
    const kind = outcome.status === 0 ? (outcome.error ?? "no reply") : `HTTP ${outcome.status}`;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    this.total++;
  }

  toString(): string {
    return this.total === 0 ? "none" : [...this.byKind].map(([kind, n]) => `${n} x ${kind}`).join(", ");
  }
}

export interface ClosedLoopResult {
  readonly ok: number;
  readonly seconds: number;
  readonly failures: Failures;
}

/**
 * Keeps `concurrency` requests in flight until `seconds` have passed; `send` sends one request.
 * Counts a request as done only when it got a 200.
 */
export async function closedLoop(
  concurrency: number,
  seconds: number,
  send: () => Promise<Outcome>,
): Promise<ClosedLoopResult> {
  const failures = new Failures();
  let ok = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const outcome = await send();
      if (outcome.status === 200) ok++;
      else failures.add(outcome);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, seconds: (performance.now() - started) / 1000, failures };
}

export interface OpenLoopResult {
  readonly sent: number;
  readonly ok: number;
  /** Completed 200 replies per second over the whole run (first send to last reply). */
  readonly achievedRate: number;
  /** Latency of each 200 reply from its scheduled send time (ms). */
  readonly latencies: number[];
  /** The same from the moment the request was actually handed to node:https (ms). */
  readonly sendLatencies: number[];
  /** How late the sender was against its schedule, p99 (ms): the client's own share of the latency. */
  readonly lateP99: number;
  readonly maxInFlight: number;
  readonly failures: Failures;
}

/** Sends `rate` requests per second for `seconds`, on schedule whatever the replies do. */
export async function openLoop(
  rate: number,
  seconds: number,
  send: () => Promise<Outcome>,
): Promise<OpenLoopResult> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const sendLatencies: number[] = [];
  const late: number[] = [];
  const failures = new Failures();
  const replies: Promise<void>[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let ok = 0;
  let lastReply = 0;
  const started = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && started + next * interval <= now) {
        const scheduled = started + next * interval;
        next++;
        const sentAt = performance.now();
        late.push(sentAt - scheduled);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        replies.push(
          send().then((outcome) => {
            const done = performance.now();
            inFlight--;
            lastReply = done;
            if (outcome.status === 200) {
              ok++;
              latencies.push(done - scheduled);
              sendLatencies.push(done - sentAt);
            } else failures.add(outcome);
          }),
        );
      }
      if (next >= total) resolve();
      else setTimeout(tick, Math.max(0, started + next * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(replies);
  late.sort((a, b) => a - b);
  return {
    sent: total,
    ok,
    achievedRate: ok / ((lastReply - started) / 1000),
    latencies,
    sendLatencies,
    lateP99: late[Math.min(late.length - 1, Math.ceil(0.99 * late.length) - 1)] ?? Number.NaN,
    maxInFlight,
    failures,
  };
}
