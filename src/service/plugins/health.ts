// Liveness and readiness for orchestrators and load balancers. Both are unauthenticated on purpose:
// probes carry no client certificate or token, and the answers hold no personal data, only "ok" or a
// short reason per named check (the checks' authors must keep it so: no IDs, paths or URLs).
// Liveness answers 200 as long as the process serves HTTP; readiness answers 503 naming the failing check.
//
// Wiring in server.ts, inside build(mode):
//   - remove the existing `app.get("/v1/health", ...)` (Fastify refuses a route declared twice);
//   - keep "/v1/health" and "/v1/ready" in OPEN_ROUTES, the authentication preHandler's skip list;
//   - registerHealth(app, {
//       checks: async () => ({
//         store: await deployment.vault.ledger.size().then(() => "ok", () => "unreachable"),
//         checkpoint: checkpointFreshness(
//           await deployment.vault.ledger.latestCheckpoint(), await deployment.vault.ledger.size(), now(), 90),
//       }),
//     });
// A check that throws or exceeds `timeoutMs` makes the node not ready; Fastify's return503OnClosing
// already answers 503 to everything while the server shuts down. Entries that arrive after a quiet spell
// wait up to one checkpoint interval (1 s by default) under an old checkpoint: a probe can see "stale"
// then, so give probes a failure threshold of 2 or more.

import type { FastifyInstance } from "fastify";
import { CustosError } from "../../core/index.js";
import { HealthReply, NODE_ROLES, type NodeRole, ReadyQuery, ReadyReply } from "../../core/wire/index.js";

export { NODE_ROLES, type NodeRole } from "../../core/wire/index.js";

/** Each named check's verdict: exactly "ok", or a short reason it is not. */
export type CheckResults = Readonly<Record<string, string>>;

export interface HealthOptions {
  readonly checks: () => CheckResults | Promise<CheckResults>;
  /**
   * This node's role for load balancers: the sequencer takes writes; a standby serves reads and takes
   * over when the sequencer's session ends; a replica serves reads only (its database is a hot
   * standby). Its role now (it changes: a standby takes over, a sequencer that lost its store stands
   * by).
   */
  readonly role?: () => NodeRole;
  /**
   * The witnesses' state, shown beside the checks without deciding readiness: a witness down must not
   * take the node out of a balancer (ingest, and readers that need no quorum, go on).
   */
  readonly witnesses?: () => Promise<WitnessState | undefined>;
  /** How long readiness waits for the checks (default 2 s). */
  readonly timeoutMs?: number;
}

export const DEFAULT_READY_TIMEOUT_MS = 2_000;

export interface WitnessState {
  /** Witnesses configured (--witness). */
  readonly configured: number;
  /** Cosignatures the quorum needs (--quorum, default all). */
  readonly quorum: number;
  /** Cosignatures on the newest witnessed checkpoint. */
  readonly cosigned: number;
  /** That checkpoint's size (0: none witnessed yet). */
  readonly size: number;
  /** Entries of the log past it: what no reader sees yet. */
  readonly behind: number;
  /** Size of the newest checkpoint the quorum cosigned: what readers requiring it are served (0: none). */
  readonly quorumSize: number;
  /** Entries of the log past that one: what quorum readers do not see yet. */
  readonly quorumBehind: number;
  /** Seconds since the log signed a newer checkpoint than that one (0 while it is the newest). */
  readonly quorumStaleSeconds: number;
}

/** What readiness needs of a checkpoint (a `StoredCheckpoint` fits). */
export interface CheckpointSummary {
  readonly size: number;
  /** When it was stored, ms since the epoch. */
  readonly storedAt: number;
}

/**
 * "ok" while the latest checkpoint covers the whole log or is at most `maxAgeSeconds` old, else how
 * stale it is. A quiet log signs no new checkpoint (nothing to cover), so age alone is no fault.
 */
export function checkpointFreshness(
  latest: CheckpointSummary | undefined,
  logSize: number,
  now: number,
  maxAgeSeconds: number,
): string {
  if ((latest?.size ?? 0) >= logSize) return "ok";
  if (latest === undefined) return "no checkpoint yet";
  const age = Math.max(0, Math.floor((now - latest.storedAt) / 1000));
  return age <= maxAgeSeconds ? "ok" : `stale: ${age} s`;
}

type Outcome =
  | { readonly results: CheckResults }
  | { readonly failure: string; readonly code?: string | undefined };

async function runChecks(options: HealthOptions): Promise<Outcome> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve()
        .then(options.checks)
        .then((results) => ({ results })),
      new Promise<Outcome>((resolve) => {
        timer = setTimeout(() => resolve({ failure: `no answer within ${timeoutMs} ms` }), timeoutMs);
      }),
    ]);
  } catch (error) {
    // The error's own message may name a host, a path or worse: only its code is kept, for the log.
    const code = (error as { code?: unknown } | undefined)?.code;
    return { failure: "failed", code: typeof code === "string" ? code.slice(0, 64) : undefined };
  } finally {
    clearTimeout(timer);
  }
}

/** Serves GET /v1/health (liveness) and GET /v1/ready (readiness) on `app`, without authentication. */
export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  const health = { schema: { summary: "Liveness", tags: ["operations"], response: { 200: HealthReply } } };
  app.get("/v1/health", health, async (_request, reply) =>
    reply.header("cache-control", "no-store").send({ status: "ok" }),
  );

  const ready = {
    schema: {
      summary: "Readiness: 503 naming the failing check",
      description:
        "Answers the node's role (sequencer, standby, replica) beside its checks. `?role=sequencer` answers 200 only on the ready sequencer (route writes there); `?role=standby` or `?role=replica` only on that role.",
      tags: ["operations"],
      querystring: ReadyQuery,
      response: { 200: ReadyReply, 503: ReadyReply },
    },
  };
  app.get("/v1/ready", ready, async (request, reply) => {
    const role = options.role?.();
    const wanted = (request.query as { role?: unknown } | undefined)?.role;
    reply.header("cache-control", "no-store");
    if (wanted !== undefined && !(NODE_ROLES as readonly unknown[]).includes(wanted))
      throw new CustosError("BAD_ARGUMENT", `role must be one of ${NODE_ROLES.join(", ")}`);
    const outcome = await runChecks(options);
    const shown = role === undefined ? {} : { role };
    if ("failure" in outcome) {
      request.log.warn({ failure: outcome.failure, code: outcome.code }, "readiness checks failed");
      return reply.code(503).send({ status: "not ready", ...shown, checks: { checks: outcome.failure } });
    }
    const checks: Record<string, string> = {};
    for (const [name, verdict] of Object.entries(outcome.results)) {
      checks[name] = typeof verdict === "string" ? verdict : "invalid verdict";
    }
    if (wanted !== undefined && wanted !== role) checks.role = `this node is a ${role ?? "node"}`;
    const allOk = Object.values(checks).every((verdict) => verdict === "ok");
    const witnesses = await options.witnesses?.().catch(() => undefined);
    return reply
      .code(allOk ? 200 : 503)
      .send({ status: allOk ? "ok" : "not ready", ...shown, checks, ...(witnesses ? { witnesses } : {}) });
  });
}
