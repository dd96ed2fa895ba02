// The node's HTTP apps (`custos serve`): the API on mutual TLS, and the portal port for browsers
// (server-side TLS plus signed-challenge login). Every request is authenticated (client certificate
// or token), then authorized against the log-derived registry; every refusal is recorded in the log.
// Request and response schemas (zod) validate bodies and generate the OpenAPI document at
// /openapi.json, with a browsable page at /docs. The node's runtime (src/node) makes the context and
// the background jobs these apps read, and listens.
//
// Logs never hold a patient ID, a user ID or a record: patient IDs travel in request bodies, not URLs,
// and only the route pattern, status and timing are logged.

import { createPublicKey } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { CustosError } from "../core/index.js";
import type { Caller, Identity } from "../identity/index.js";
import type { RetentionJob, RetentionPolicy } from "../records/index.js";
import type { AlertLog, Gossiping } from "../witness/index.js";
import { certificateCallers } from "./client-certificate.js";
import type { ServiceContext } from "./context.js";
import { createHttpApp, type ServerTls } from "./http-base.js";
import { LoginService } from "./login.js";
import { OPENAPI_ROUTE, OPENAPI_UI_PREFIX, registerOpenApi, registerOpenApiRoutes } from "./openapi.js";
import { type HealthOptions, registerHealth } from "./plugins/health.js";
import { type Metrics, registerMetrics } from "./plugins/metrics.js";
import { registerRateLimit } from "./plugins/rate-limit.js";
import { PORTAL_SITE_ROUTES, registerPortalHeaders, registerPortalSite } from "./portal-site.js";
import { registerAdminRoutes } from "./routes/admin-routes.js";
import { registerAlertRoutes } from "./routes/alert-routes.js";
import { registerBulkEnrollmentRoute } from "./routes/bulk-routes.js";
import { registerGossipRoutes } from "./routes/gossip-routes.js";
import { registerIdentityRoutes, registerLoginRoutes } from "./routes/identity-routes.js";
import { registerKeyAuditRoute } from "./routes/key-audit-routes.js";
import { registerLogRoutes } from "./routes/log-routes.js";
import { registerMirrorRoutes } from "./routes/mirror-routes.js";
import {
  PORTAL_CONFIG_ROUTE,
  type PortalConfigSource,
  registerPortalRoutes,
} from "./routes/portal-routes.js";
import { registerRecordsRoutes } from "./routes/records-routes.js";
import { registerRetentionRoutes } from "./routes/retention-routes.js";
import { registerStaffDirectoryRoutes } from "./routes/staff-directory-routes.js";
import { registerTileRoutes } from "./routes/tiles.js";
import { registerNodeTrailRoutes } from "./routes/trail-routes.js";

export type { Listen } from "./http-base.js";

export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
/** The POST routes a read replica serves: reads, whose notices it records through the outbox. */
const REPLICA_READ_ROUTES = new Set<string>([
  "/v1/mirror/contents",
  "/v1/trail",
  "/v1/audit/trails",
  "/v1/query-history",
  "/v1/audit/notices",
  "/v1/office/refusals",
  "/v1/office/security-events",
  "/v1/staff-directory",
]);
const OPEN_ROUTES = new Set<string>([
  "/v1/health",
  "/v1/ready",
  OPENAPI_ROUTE,
  PORTAL_CONFIG_ROUTE,
  ...PORTAL_SITE_ROUTES,
]);

export interface NodeAppsOptions {
  readonly ctx: ServiceContext;
  /** The node's own identity (role node): its URI, and the key signing login tokens. */
  readonly identity: Identity;
  /** The API port's mutual TLS. */
  readonly apiTls: ServerTls;
  /** The portal port's TLS (no client certificate); without it no portal app is made. */
  readonly portalTls?: ServerTls | undefined;
  readonly bodyLimit?: number | undefined;
  /** Structured request logs (pino) to stdout. */
  readonly log?: boolean | undefined;
  /** Per-identity request rate (default 200/s, burst 400). */
  readonly ratePerSecond?: number | undefined;
  readonly metrics: Metrics;
  /** Readiness: the node's role, its checks and its witnesses' state. */
  readonly health: HealthOptions;
  /** Whether this node, as a read replica, records trail queries' notices through the outbox. */
  readonly viaOutbox: () => boolean;
  readonly alerts: AlertLog;
  readonly gossip: Gossiping;
  readonly retention: { readonly policy: RetentionPolicy; readonly job?: RetentionJob };
  /** What the portal's page is configured with (GET /v1/portal/config). */
  readonly portalConfig: PortalConfigSource;
  /** The portal's built site (index.html, assets/); default the package's dist/portal. */
  readonly portalSite?: string | undefined;
  /** Whether a browser origin is one of this portal's own (only those are given login challenges). */
  readonly portalOrigin: (origin: string) => boolean;
  /** Renews the TLS contexts, after a revocation. */
  readonly refreshTls: () => void;
}

export interface NodeApps {
  readonly api: FastifyInstance;
  readonly portal?: FastifyInstance;
}

/** The API app and, with `portalTls`, the portal app; neither is listening yet. */
export async function createNodeApps(options: NodeAppsOptions): Promise<NodeApps> {
  const { ctx, identity, metrics, alerts, gossip, refreshTls } = options;
  const { deployment, ledger, now } = ctx;
  const login = new LoginService(
    identity.uri,
    identity.signingKey,
    createPublicKey(identity.signingKey),
    now,
  );
  const callerFromCertificate = certificateCallers(
    deployment.anchor,
    (principal) => deployment.subjectOf(principal.role, principal.id),
    now,
  );

  async function callerFromToken(request: FastifyRequest): Promise<Caller> {
    const header = request.headers.authorization;
    if (!header)
      throw new CustosError("NOT_AUTHENTICATED", "log in first: send `Authorization: Bearer <token>`");
    const match = /^Bearer ([A-Za-z0-9._-]+)$/.exec(header);
    if (!match) throw new CustosError("BAD_TOKEN", "the Authorization header is not a bearer token");
    return login.verifyToken(match[1]!);
  }

  async function build(mode: "mtls" | "portal"): Promise<FastifyInstance> {
    const app = createHttpApp({
      tls: mode === "mtls" ? options.apiTls : { ...options.portalTls, requestCert: false },
      bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
      log: options.log,
      textContentTypes: ["application/x-ndjson", "application/fhir+json", "text/plain"],
    });
    if (mode === "portal") registerPortalHeaders(app);
    // Before any route, so that every route is in the OpenAPI document.
    await registerOpenApi(app, mode === "mtls" ? "api" : "portal");
    app.addHook("preHandler", async (request) => {
      const route = request.routeOptions.url ?? "";
      if (OPEN_ROUTES.has(route) || route.startsWith("/v1/login") || route.startsWith(OPENAPI_UI_PREFIX))
        return;
      request.caller =
        mode === "mtls" ? await callerFromCertificate(request) : await callerFromToken(request);
      // A standby node (another node sequences the log) serves reads only. On PostgreSQL it is a read
      // replica: trail queries too, their notices recorded in the outbox the sequencer drains.
      if (request.method === "POST" && !ledger.writable) {
        const viaOutbox = options.viaOutbox();
        if (viaOutbox && REPLICA_READ_ROUTES.has(route)) return;
        throw new CustosError(
          "STORE_BUSY",
          viaOutbox
            ? "this node is a read replica: another node sequences the log; send ingest, grants and other writes to it"
            : "this node is a standby: another node sequences the log; send writes and trail queries to it",
        );
      }
    });
    registerRateLimit(app, {
      keyOf: (request) => request.caller?.uri,
      now,
      ...(options.ratePerSecond
        ? { ratePerSecond: options.ratePerSecond, burst: 2 * options.ratePerSecond }
        : {}),
      // Patients behind one hospital NAT share an address: a minute's allowance of logins per address.
      login: { ratePerSecond: 1, burst: 60, pathPrefix: "/v1/login" },
      onLimited: (bucket) => metrics.rateLimited(bucket),
    });
    registerMetrics(app, {
      metrics,
      ...(mode === "mtls" ? { authorize: (request: FastifyRequest) => request.caller !== undefined } : {}),
    });
    registerHealth(app, options.health);

    await registerOpenApiRoutes(app);
    registerLogRoutes(app, ctx);
    registerTileRoutes(app, ctx);
    registerMirrorRoutes(app, ctx);
    registerRecordsRoutes(app, ctx, { ingested: (count) => metrics.recordsIngested(count) });
    registerNodeTrailRoutes(app, ctx);
    registerIdentityRoutes(app, ctx, refreshTls);
    if (mode === "mtls")
      registerRetentionRoutes(app, ctx, {
        policy: options.retention.policy,
        ...(options.retention.job ? { job: options.retention.job } : {}),
      });
    registerAlertRoutes(app, ctx, alerts);
    if (mode === "mtls") {
      registerAdminRoutes(app, ctx, refreshTls);
      registerBulkEnrollmentRoute(app, ctx);
    }
    // Read-only and naming no patient: served on the portal too, for its privacy-office view.
    registerKeyAuditRoute(app, ctx);
    registerStaffDirectoryRoutes(app, ctx, mode);
    if (mode === "mtls") registerGossipRoutes(app, { gossip, callerOf: (request) => ctx.callerOf(request) });
    if (mode === "portal") {
      registerLoginRoutes(app, ctx, login, options.portalOrigin);
      registerPortalRoutes(app, ctx, options.portalConfig);
      registerPortalSite(app, options.portalSite ? { dir: options.portalSite } : {});
    }
    return app;
  }

  const api = await build("mtls");
  const portal = options.portalTls ? await build("portal") : undefined;
  return portal ? { api, portal } : { api };
}
