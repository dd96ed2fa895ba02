// The API's wire shapes, declared once (zod): the service validates requests and serializes replies
// with them and derives its OpenAPI document from them; the SDK and the portal type what they send
// and read with the same declarations. Browser-safe: nothing here imports a `node:` module.

export * from "./admin.js";
export * from "./alerts.js";
export * from "./gossip.js";
export * from "./health.js";
export * from "./identity.js";
export * from "./key-audit.js";
export * from "./log.js";
export * from "./mirror.js";
export * from "./names.js";
export * from "./portal.js";
export * from "./records.js";
export * from "./retention.js";
export * from "./trails.js";
