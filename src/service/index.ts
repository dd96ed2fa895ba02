// The service area's public surface: what other areas use of the node's HTTP service.

export { certificateCallers } from "./client-certificate.js";
export type { ReadContext } from "./context.js";
export { entryVisibleTo } from "./entry-access.js";
export { sendError } from "./errors.js";
export { registerHealth } from "./plugins/health.js";
export { registerRateLimit } from "./plugins/rate-limit.js";
export {
  type PortalSettings,
  parsePortalSettings,
  portalSettingsPath,
  readPortalSettings,
  WEEKDAYS,
  writePortalSettings,
} from "./portal-settings.js";
export { ReadLog } from "./read-log.js";
export { parseJsonBody, requestText } from "./request-text.js";
export { registerGossipRoutes } from "./routes/gossip-routes.js";
export { registerLogRoutes } from "./routes/log-routes.js";
export { registerMirrorRoutes } from "./routes/mirror-routes.js";
export { registerTileRoutes } from "./routes/tiles.js";
export { registerMirrorTrailRoutes } from "./routes/trail-routes.js";
export type { Listen } from "./server.js";
export { type RunningServer, startServer } from "./server.js";
