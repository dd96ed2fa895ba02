// The service area's public surface: what other areas use of the node's HTTP service.

export { certificateCallers, socketCallers } from "./client-certificate.js";
export type { ReadContext, ServedCheckpoint, ServiceContext } from "./context.js";
export { entryVisibleTo } from "./entry-access.js";
export { sendError } from "./errors.js";
export { createHttpApp, listenAt, minTlsVersion, mutualTls } from "./http-base.js";
export { outboxSignatureCheck, outboxSignerOf } from "./outbox-signatures.js";
export { checkpointFreshness, type NodeRole, registerHealth } from "./plugins/health.js";
export { Counter, createMetrics, Gauge, type Metrics, type VerifyStatus } from "./plugins/metrics.js";
export { registerRateLimit } from "./plugins/rate-limit.js";
export {
  type PortalSettings,
  PortalSettingsSource,
  parsePortalSettings,
  portalSettingsPath,
  readPortalSettings,
  WEEKDAYS,
  writePortalSettings,
} from "./portal-settings.js";
export { RefusalBudget } from "./refusal-budget.js";
export { parseJsonBody, requestText } from "./request-text.js";
export { registerGossipRoutes } from "./routes/gossip-routes.js";
export { registerLogRoutes } from "./routes/log-routes.js";
export { registerMirrorRoutes } from "./routes/mirror-routes.js";
export { registerTileRoutes } from "./routes/tiles.js";
export { registerTrailRoutes, type TrailHooks } from "./routes/trail-routes.js";
export type { Listen } from "./server.js";
export { createNodeApps } from "./server.js";
export { currentCheckpoint, tagOfSubject } from "./trail-query.js";
