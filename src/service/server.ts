// `custos serve`: the node's HTTP API on mutual TLS, and the portal port for browsers (server-side TLS
// plus signed-challenge login). Every request is authenticated (client certificate or token), then
// authorized against the log-derived registry; every refusal is recorded in the log. Request and
// response schemas (zod) validate bodies and generate the OpenAPI document at /openapi.json, with a
// browsable page at /docs.
//
// Logs never hold a patient ID, a user ID or a record: patient IDs travel in request bodies, not URLs,
// and only the route pattern, status and timing are logged.

import { createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { jsonSchemaTransform } from "fastify-type-provider-zod";
import type { SyslogFeed } from "../atna/syslog-listener.js";
import { CustosError } from "../core/errors.js";
import { authorize, type Caller } from "../identity/authorize.js";
import type { Identity } from "../identity/bundle.js";
import type { Deployment } from "../identity/deployment.js";
import { ensurePortalCertificate, type PortalTls, serverNames } from "../identity/portal-certificate.js";
import { verifyStore } from "../ledger/verify/verifier.js";
import { readVerifyState, type VerifyState } from "../ledger/verify/verify-state.js";
import { readArchivedRanges } from "../records/archive/archive-register.js";
import { RETENTION_STATE_FILE_NAME, RetentionJob } from "../records/retention.js";
import { readRetentionPolicy } from "../records/retention-policy.js";
import { AlertLog } from "../witness/alerts.js";
import { GossipChecker, ledgerReference } from "../witness/gossip.js";
import { Gossiping } from "../witness/gossiping.js";
import type { WitnessEndpoint } from "../witness/witness-client.js";
import { countCosignatures, Witnessing } from "../witness/witnessing.js";
import { certificateCallers } from "./client-certificate.js";
import type { ServiceContext } from "./context.js";
import { entryVisibleTo } from "./entry-access.js";
import { createHttpApp, type Listen, listenAt, minTlsVersion } from "./http-base.js";
import { LoginService } from "./login.js";
import { NoticeRelay } from "./notice-relay.js";
import { outboxSignatureCheck, outboxSignerOf } from "./outbox-signatures.js";
import { checkpointFreshness, type NodeRole, registerHealth } from "./plugins/health.js";
import { createMetrics, Gauge, registerMetrics, type VerifyStatus } from "./plugins/metrics.js";
import { registerRateLimit } from "./plugins/rate-limit.js";
import { PortalSettingsSource } from "./portal-settings.js";
import { PORTAL_SITE_ROUTES, registerPortalHeaders, registerPortalSite } from "./portal-site.js";
import { RefusalBudget } from "./refusal-budget.js";
import { registerAdminRoutes } from "./routes/admin-routes.js";
import { registerGossipRoutes } from "./routes/gossip-routes.js";
import { registerIdentityRoutes, registerLoginRoutes } from "./routes/identity-routes.js";
import { registerLogRoutes } from "./routes/log-routes.js";
import { registerMirrorRoutes } from "./routes/mirror-routes.js";
import { PORTAL_CONFIG_ROUTE, registerPortalRoutes } from "./routes/portal-routes.js";
import { auditRecordJsonSchema, registerRecordsRoutes } from "./routes/records-routes.js";
import { registerRetentionRoutes } from "./routes/retention-routes.js";
import { registerTileRoutes } from "./routes/tiles.js";
import { registerNodeTrailRoutes } from "./routes/trail-routes.js";
import { SharedWitnessedCheckpoint } from "./shared-checkpoint.js";
import { startNodeSyslogFeed } from "./syslog-feed.js";
import { currentCheckpoint } from "./trail-query.js";

export type { Listen } from "./http-base.js";

export interface ServeOptions {
  readonly deployment: Deployment;
  /** The node's own identity (role node): its TLS certificate and token-signing key. */
  readonly identity: Identity;
  readonly api: Listen;
  /** The browser-facing port (no client certificate; signed-challenge login). */
  readonly portal?: Listen;
  /** Accept TLS 1.2 as well as 1.3 (off unless a setting asks for it). */
  readonly allowTls12?: boolean;
  readonly bodyLimit?: number;
  readonly now?: () => number;
  /** How often to look for a re-issued CRL (ms). */
  readonly crlCheckMs?: number;
  /** Structured request logs (pino) to stdout. */
  readonly log?: boolean;
  /** Per-identity request rate (default 200/s, burst 400). */
  readonly ratePerSecond?: number;
  /** How often the node re-verifies what was appended (ms, default 60 s; 0 = never). */
  readonly verifyEveryMs?: number;
  /** Witnesses to submit each new checkpoint to (C2SP tlog-witness); their cosignatures are served. */
  readonly witnesses?: readonly WitnessEndpoint[];
  /** How many witness cosignatures the portal's page demands of a checkpoint (default: all witnesses). */
  readonly witnessQuorum?: number;
  /**
   * How often to read the witnesses' checkpoints and evidence and check them against this log (ms;
   * default 10 s when witnesses are configured; 0 = never).
   */
  readonly gossipEveryMs?: number;
  /**
   * The portal's TLS certificate (browsers accept no Ed25519 one): an operator's own, else the node's
   * self-signed ECDSA P-256 certificate, made once and kept in the data directory.
   */
  readonly portalTls?: PortalTls;
  /**
   * The browser origins (https://host[:port]) users reach the portal at, e.g. behind a proxy. Login
   * challenges are issued to these only. Default: the portal certificate's names at the portal port.
   */
  readonly portalOrigins?: readonly string[];
  /** The portal's built site (index.html, assets/); default the package's dist/portal. */
  readonly portalSite?: string;
  /** The ATNA feed: syslog over mutual TLS (RFC 5425) carrying DICOM audit messages (docs/atna.md). */
  readonly syslog?: Listen;
}

export interface RunningServer {
  readonly api: Listen;
  readonly portal?: Listen;
  readonly syslog?: Listen;
  /** The certificate the portal port presents (PEM) and its base64 SHA-256 SPKI fingerprint. */
  readonly portalCertificate?: {
    readonly pem: string;
    readonly fingerprint: string;
    readonly source: PortalTls["source"];
  };
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
/** How often a node that does not sequence folds new registry entries from the log (ms). */
const REGISTRY_FOLLOW_MS = 250;
/** The POST routes a read replica serves: reads, whose notices it records through the outbox. */
const REPLICA_READ_ROUTES = new Set<string>([
  "/v1/mirror/contents",
  "/v1/trail",
  "/v1/audit/trails",
  "/v1/query-history",
  "/v1/audit/notices",
]);
const OPEN_ROUTES = new Set<string>([
  "/v1/health",
  "/v1/ready",
  "/openapi.json",
  PORTAL_CONFIG_ROUTE,
  ...PORTAL_SITE_ROUTES,
]);

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { deployment, identity } = options;
  if (identity.role !== "node")
    throw new CustosError("CONFIG", "custos serve needs a node identity (role node)");
  const now = options.now ?? Date.now;
  const nodeKeyPem = identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString();
  const login = new LoginService(
    identity.uri,
    identity.signingKey,
    createPublicKey(identity.signingKey),
    now,
  );
  const witnessKeys = (options.witnesses ?? []).map((w) => w.verifierKey);
  const quorum = options.witnessQuorum ?? witnessKeys.length;
  if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > witnessKeys.length) {
    throw new CustosError(
      "CONFIG",
      `the witness quorum must be 0 to ${witnessKeys.length} (the number of witnesses configured), got ${quorum}`,
    );
  }
  const portalTls: PortalTls | undefined = options.portal
    ? (options.portalTls ??
      (await ensurePortalCertificate(
        deployment.dir,
        deployment.vault.keystore,
        serverNames(identity.bundle.signingCertificate),
        now,
      )))
    : undefined;
  const minVersion = minTlsVersion(options.allowTls12);
  const tlsBase = () => ({
    key: nodeKeyPem,
    cert: identity.bundle.signingCertificate,
    ca: deployment.anchor.caPem,
    ...(deployment.anchor.crlPem ? { crl: deployment.anchor.crlPem } : {}),
    minVersion,
  });
  // Built anew each time: a re-issued CRL takes effect on the next handshake (refreshTls).
  const apiTls = () => ({ ...tlsBase(), requestCert: true, rejectUnauthorized: true });
  // The portal asks for no client certificate, so it needs neither the CA nor the CRL.
  const portalTlsOptions = () => ({
    key: portalTls?.key ?? nodeKeyPem,
    cert: portalTls?.cert ?? identity.bundle.signingCertificate,
    minVersion,
  });
  const ledger = deployment.vault.ledger;
  // Retention expiry runs only where the log is sequenced (docs/operations.md, "Retention").
  const retentionPolicy = readRetentionPolicy(deployment.dir);
  // Read now so that an invalid DIR/portal.json stops the node at start, naming the setting.
  const portalSettings = new PortalSettingsSource(deployment.dir, (message) => portal?.log.warn(message));
  const retentionJob = ledger.writable
    ? new RetentionJob({
        ledger,
        policy: retentionPolicy,
        rotate: (tag) => deployment.vault.sealer.epochs.rotate(tag),
        now,
        statePath: join(deployment.dir, RETENTION_STATE_FILE_NAME),
        archives: () => readArchivedRanges(deployment.dir),
      })
    : undefined;

  // The node re-checks what was appended since the last clean `custos verify` (its verify-state.json),
  // incrementally, in the background; the result is a metric and a readiness check. It never runs a
  // full verify itself: that would hold the event loop for as long as the log is big (22 s at 1M
  // entries, measured). Without a state file the status stays unknown (-1) until an operator runs
  // `custos verify` once.
  let verifyStatus: VerifyStatus = -1;
  let verifyState: VerifyState | undefined;
  let verifying = false;
  async function backgroundVerify(): Promise<void> {
    if (verifying) return;
    verifying = true;
    try {
      if (!verifyState) {
        const saved = join(deployment.dir, "verify-state.json");
        verifyState = existsSync(saved) ? readVerifyState(saved) : undefined;
        if (!verifyState) return;
      }
      const report = await verifyStore(ledger.store, {
        ...(verifyState ? { state: verifyState, incremental: true } : {}),
      });
      verifyStatus = report.ok ? 1 : 0;
      if (report.ok && report.nextState) verifyState = report.nextState;
      if (!report.ok) api.log.error({ findings: report.findings.length }, "the store does not verify");
    } catch (error) {
      verifyStatus = 0;
      api.log.error({ code: (error as CustosError).code }, "background verify failed");
    } finally {
      verifying = false;
    }
  }
  const metrics = createMetrics({
    now,
    queueDepth: () => ledger.queueDepth,
    logSize: () => ledger.size(),
    latestCheckpoint: () => ledger.latestCheckpoint(),
    verifyStatus: () => verifyStatus,
    epochKeys: () => deployment.vault.sealer.epochs.stats(),
  });
  // Trail reads and refusals: appended here, or on a read replica recorded in the outbox for the
  // sequencer, which drains it (src/service/notice-relay.ts).
  const notices = new NoticeRelay(ledger, now, (message, code) => api?.log.warn({ code }, message), {
    signer: outboxSignerOf(identity),
    check: outboxSignatureCheck(() => deployment.registry, deployment.name, now),
  });
  metrics.registry.add(
    new Gauge(
      "custos_outbox_depth",
      "Query and refusal notices recorded by read replicas, not yet in the log.",
      async () => (await notices.backlog())?.depth,
    ),
  );
  metrics.registry.add(
    new Gauge(
      "custos_outbox_rejected",
      "Outbox rows set aside and never appended: not a patient's notice, unsigned, or not signed by an enrolled node.",
      async () => (await notices.backlog())?.rejected,
    ),
  );
  metrics.registry.add(
    new Gauge(
      "custos_outbox_oldest_age_seconds",
      "Age of the oldest notice waiting in the outbox (0 when none waits).",
      async () => {
        const backlog = await notices.backlog();
        if (backlog === undefined) return undefined;
        return backlog.oldestAt === undefined ? 0 : Math.max(0, (now() - backlog.oldestAt) / 1000);
      },
    ),
  );

  // A sequencer that lost its store to another node stands by until `custos serve` reopens the log.
  function nodeRole(): NodeRole {
    if (ledger.writable) return ledger.writeState?.state === "superseded" ? "standby" : "sequencer";
    return (ledger.store as { serverReadOnly?: boolean }).serverReadOnly === true ? "replica" : "standby";
  }
  // Every failed write is logged with its cause (disk full, read-only, lost session), never content.
  ledger.onWriteFailure(({ cause, retryInMs }) => {
    const line = { code: cause.code, cause: cause.message, retryInMs };
    if (options.log) api?.log.error(line, "a write to the log's store failed; appends pause");
    else
      process.stderr.write(
        `custos: a write to the log's store failed: ${cause.message}; retrying in ${retryInMs} ms\n`,
      );
  });

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

  // Witness refusals and split views found by gossip: one alert log, listed by GET /v1/alerts.
  const alerts = new AlertLog(deployment.dir);
  const witnessTls = {
    key: nodeKeyPem,
    cert: identity.bundle.signingCertificate,
    ca: deployment.anchor.caPem,
  };
  const witnessing =
    options.witnesses && options.witnesses.length > 0 && ledger.writable
      ? new Witnessing(
          ledger,
          options.witnesses,
          deployment.dir,
          witnessTls,
          (message) => api?.log.warn(message),
          alerts,
        )
      : undefined;
  const gossip = new Gossiping({
    checker: new GossipChecker(ledger.meta, ledgerReference(ledger)),
    alerts,
    witnesses: options.witnesses ?? [],
    tls: witnessTls,
    now,
    log: (message) => api?.log.warn(message),
  });
  const gossipEvery = options.gossipEveryMs ?? 10_000;
  // PostgreSQL: the sequencer publishes its witnessed checkpoint; read replicas with witnesses serve it.
  const sharedWitnessed = new SharedWitnessedCheckpoint(ledger, witnessing);

  const refusalBudget = new RefusalBudget(now);
  const ctx: ServiceContext = {
    deployment,
    ledger,
    now,
    async checkpoint() {
      const witnessed = witnessing?.latest;
      if (witnessed) return { note: witnessed.note, size: witnessed.size };
      const published = witnessKeys.length > 0 ? await sharedWitnessed.read() : undefined;
      return published ?? currentCheckpoint(ledger);
    },
    async allow(caller, operation, target, patient) {
      let decision = authorize(deployment.registry, caller, operation, target, now());
      if (!decision.allowed) {
        // An enrollment or grant appended a moment ago (by the sequencer, seen here as a replica) counts
        // at once: fold in what the log gained before refusing.
        await deployment.registry.refresh(ledger.store).catch(() => undefined);
        decision = authorize(deployment.registry, caller, operation, target, now());
      }
      if (decision.allowed) return;
      metrics.refusal(operation);
      const recording = refusalBudget.take(caller.uri);
      const notice =
        recording.kind === "notice"
          ? deployment.refusalNotice(caller, operation, decision.code, patient)
          : recording.kind === "summary"
            ? deployment.refusalNotice(
                caller,
                operation,
                `${decision.code}; over its refusal budget, ${recording.unrecorded} refusals of this identity since the last summary were not recorded one by one`,
              )
            : undefined;
      if (notice) await notices.record(notice).catch(() => undefined);
      throw new CustosError(decision.code, decision.reason);
    },
    callerOf(request) {
      if (!request.caller) throw new CustosError("NOT_AUTHENTICATED", "the request is not authenticated");
      return request.caller;
    },
    mayReadEntry: (caller, entry) => entryVisibleTo(deployment.registry, caller, entry, now()),
    recordNotice: (item) => notices.record(item),
  };
  // A read replica keeps its own trail map (the sequencer's is in its memory): built from the store
  // now, so the first trail reply does not wait for it.
  if (!ledger.writable)
    ctx.checkpoint().then(
      (checkpoint) => ledger.warmTrailMap(checkpoint.size),
      () => undefined,
    );

  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;

  async function build(mode: "mtls" | "portal"): Promise<FastifyInstance> {
    const app = createHttpApp({
      tls: mode === "mtls" ? apiTls() : { ...portalTlsOptions(), requestCert: false },
      bodyLimit,
      log: options.log,
      textContentTypes: ["application/x-ndjson", "application/fhir+json", "text/plain"],
    });
    if (mode === "portal") registerPortalHeaders(app);
    app.addHook("preHandler", async (request) => {
      const route = request.routeOptions.url ?? "";
      if (OPEN_ROUTES.has(route) || route.startsWith("/v1/login") || route.startsWith("/docs")) return;
      request.caller =
        mode === "mtls" ? await callerFromCertificate(request) : await callerFromToken(request);
      // A standby node (another node sequences the log) serves reads only. On PostgreSQL it is a read
      // replica: trail queries too, their notices recorded in the outbox the sequencer drains.
      if (request.method === "POST" && !ledger.writable) {
        if (notices.viaOutbox && REPLICA_READ_ROUTES.has(route)) return;
        throw new CustosError(
          "STORE_BUSY",
          notices.viaOutbox
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
    registerHealth(app, {
      role: nodeRole,
      checks: async () => ({
        // The sequencer must be able to write now (not pausing after failed writes, the disk
        // writable with space left, its database session holding the lock); others must read.
        store: ledger.writable
          ? await ledger.writeReadiness()
          : (await ledger.store.getSize()) >= 0
            ? "ok"
            : "unreadable",
        checkpoint: checkpointFreshness(await ledger.latestCheckpoint(), await ledger.size(), now(), 30),
        verify: verifyStatus === 0 ? "the store does not verify" : "ok",
        outbox: await notices.readiness(),
      }),
      witnesses: async () => {
        if (witnessKeys.length === 0) return undefined;
        const witnessed = witnessing?.latest ?? (await sharedWitnessed.read());
        const size = witnessed?.size ?? 0;
        return {
          configured: witnessKeys.length,
          quorum,
          cosigned: witnessed ? countCosignatures(witnessed.note) : 0,
          size,
          behind: Math.max(0, (await ledger.size()) - size),
        };
      },
    });

    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Custos node API",
          description:
            'A tamper-evident, end-to-end encrypted audit trail for accesses to health records. The API port requires a client certificate from the deployment CA; the portal port a bearer token from the signed-challenge login. Errors are `{"error":{"code","message"}}` with a stable code.',
          version: "0.1.0",
        },
        components: {
          // The record POST /v1/records takes as JSON (its body is also NDJSON or FHIR, so the route
          // validates it itself rather than through a body schema).
          schemas: { AuditRecord: auditRecordJsonSchema() },
          securitySchemes: {
            // OpenAPI 3.1's "mutualTLS" scheme is not in the plugin's 3.0 types.
            mutualTLS: { type: "mutualTLS" } as unknown as { type: "http"; scheme: string },
            bearer: { type: "http", scheme: "bearer" },
          },
        },
        security: [{ mutualTLS: [] }, { bearer: [] }],
      },
      transform: jsonSchemaTransform,
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });

    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
    registerLogRoutes(app, ctx);
    registerTileRoutes(app, ctx);
    registerMirrorRoutes(app, ctx);
    registerRecordsRoutes(app, ctx, { ingested: (count) => metrics.recordsIngested(count) });
    registerNodeTrailRoutes(app, ctx);
    registerIdentityRoutes(app, ctx, refreshTls);
    if (mode === "mtls")
      registerRetentionRoutes(app, ctx, {
        policy: retentionPolicy,
        ...(retentionJob ? { job: retentionJob } : {}),
      });
    const alertReader = async (request: FastifyRequest) => {
      const caller = ctx.callerOf(request);
      // Audit companies and admins see alerts; anyone else is refused (and the refusal recorded).
      if (caller.role !== "auditor" && caller.role !== "admin") await ctx.allow(caller, "manage-grants", {});
      else await ctx.allow(caller, "read-log", {});
      return caller;
    };
    app.get(
      "/v1/alerts",
      {
        schema: {
          summary: "Witness refusals (possible forks) with both signed checkpoints, until acknowledged",
          description:
            "Alerts the caller has not acknowledged (each audit company acknowledges for itself), oldest first; ?all=true lists acknowledged ones too.",
          tags: ["log"],
        },
      },
      async (request) => {
        const caller = await alertReader(request);
        const all = (request.query as { all?: string } | undefined)?.all === "true";
        // Each audit company acknowledges for itself: an alert stays open for the others.
        return { alerts: alerts.list(all, caller.uri) };
      },
    );
    app.post(
      "/v1/alerts/:id/ack",
      {
        schema: {
          summary: "Acknowledge an alert (audit companies, admins), with a note on what was done about it",
          description:
            'Body (optional): {"note": "..."} of at most 1,000 characters, kept with the acknowledgement.',
          tags: ["log"],
        },
      },
      async (request) => {
        const caller = await alertReader(request);
        const id = Number((request.params as { id: string }).id);
        if (!Number.isSafeInteger(id) || id < 1)
          throw new CustosError("BAD_ARGUMENT", "an alert ID is a positive number");
        return { alert: alerts.acknowledge(id, caller.uri, now(), acknowledgementNote(request.body)) };
      },
    );
    if (mode === "mtls") registerAdminRoutes(app, ctx, refreshTls);
    if (mode === "mtls") registerGossipRoutes(app, { gossip, callerOf: (request) => ctx.callerOf(request) });
    if (mode === "portal") {
      registerLoginRoutes(app, ctx, login, portalOrigin);
      registerPortalRoutes(app, ctx, {
        node: identity.uri,
        witnessKeys,
        quorum,
        settings: () => portalSettings.current(),
      });
      registerPortalSite(app, options.portalSite ? { dir: options.portalSite } : {});
    }
    return app;
  }

  const api = await build("mtls");
  const portal = options.portal ? await build("portal") : undefined;

  let syslog: SyslogFeed | undefined;
  function refreshTls(): void {
    syslog?.refreshTls();
    for (const app of [api, portal]) {
      if (!app) continue;
      const server = app.server as unknown as { setSecureContext?: (o: object) => void };
      server.setSecureContext?.(app === api ? apiTls() : portalTlsOptions());
    }
  }

  // Every node checks the current CRL: pick up a re-issued one, and keep it from expiring.
  const crlTimer = setInterval(() => {
    deployment
      .maintainCrl()
      .then((changed) => {
        if (changed) refreshTls();
      })
      .catch((error: unknown) => api.log.error({ code: (error as CustosError).code }, "CRL refresh failed"));
  }, options.crlCheckMs ?? 30_000);
  crlTimer.unref();
  // A read replica or standby follows what the sequencer appends (new enrollments, grants and
  // revocations) within a fraction of a second; the sequencer refreshes on its own appends.
  const followTimer = ledger.writable
    ? undefined
    : setInterval(() => {
        deployment.registry.refresh(ledger.store).catch(() => undefined);
      }, REGISTRY_FOLLOW_MS);
  followTimer?.unref();
  witnessing?.start();
  notices.start();
  sharedWitnessed.start();
  if (gossipEvery > 0 && (options.witnesses?.length ?? 0) > 0) gossip.start(gossipEvery);
  const verifyEvery = options.verifyEveryMs ?? 60_000;
  const verifyTimer = verifyEvery > 0 ? setInterval(() => void backgroundVerify(), verifyEvery) : undefined;
  verifyTimer?.unref();
  retentionJob?.start((error) =>
    api.log.error({ code: (error as CustosError).code ?? "INTERNAL" }, "retention expiry tick failed"),
  );

  const apiListen = await listenAt(api, options.api);
  let portalListen: Listen | undefined;
  // A challenge binds the browser origin it was asked from; only this portal's own origins get one,
  // so a look-alike site relaying the node's login cannot have a user sign for it.
  function portalOrigin(origin: string): boolean {
    if (options.portalOrigins) return options.portalOrigins.includes(origin);
    if (!portalListen || !portalTls) return false;
    const port = portalListen.port;
    const hosts = new Set([...serverNames(portalTls.cert), portalListen.host]);
    for (const host of hosts) {
      const shown = host.includes(":") ? `[${host}]` : host;
      if (origin === `https://${shown}:${port}` || (port === 443 && origin === `https://${shown}`))
        return true;
    }
    return false;
  }
  if (portal && options.portal) {
    portalListen = await listenAt(portal, options.portal);
  }
  if (options.syslog) {
    syslog = await startNodeSyslogFeed({
      listen: options.syslog,
      deployment,
      ctx,
      tls: tlsBase,
      metrics,
      log: (message, fields) => api.log.warn(fields, message),
    }).catch(async (error: unknown) => {
      await api.close();
      await portal?.close();
      throw error;
    });
  }
  return {
    api: apiListen,
    ...(portalListen ? { portal: portalListen } : {}),
    ...(syslog ? { syslog: { host: syslog.host, port: syslog.port } } : {}),
    ...(portalTls
      ? {
          portalCertificate: {
            pem: portalTls.cert,
            fingerprint: portalTls.fingerprint,
            source: portalTls.source,
          },
        }
      : {}),
    close: async () => {
      clearInterval(crlTimer);
      witnessing?.stop();
      gossip.stop();
      if (verifyTimer) clearInterval(verifyTimer);
      await retentionJob?.stop();
      if (followTimer) clearInterval(followTimer);
      await syslog?.close();
      await api.close();
      await notices.stop();
      sharedWitnessed.stop();
      await portal?.close();
    },
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters other than newline are refused
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;

/** The note an acknowledgement may carry: `{note}` of 1 to 1,000 characters without control characters. */
function acknowledgementNote(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  const note = (body as { note?: unknown }).note;
  if (note === undefined) return undefined;
  if (typeof note !== "string" || note.trim() === "" || note.length > 1000 || CONTROL.test(note))
    throw new CustosError("BAD_ARGUMENT", "an acknowledgement's note is text of 1 to 1,000 characters");
  return note.trim();
}
