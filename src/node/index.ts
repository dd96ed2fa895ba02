// The node's runtime, as a library: `custos serve` is runNode(); startServer() serves one open
// deployment (the demo and tests use it); the background jobs each start and stop on their own.

export { BackgroundVerify } from "./background-verify.js";
export { CrlRefresh, DEFAULT_CRL_CHECK_MS } from "./crl-refresh.js";
export { NodeJobs, type NodeJobsOptions } from "./jobs.js";
export { nodeContext } from "./node-context.js";
export { deferredLog, type LogFields, type NodeLog } from "./node-log.js";
export { createNodeMetrics } from "./node-metrics.js";
export { DEFAULT_DRAIN_EVERY_MS, DEFAULT_MAX_BACKLOG_AGE_S, NoticeRelay } from "./notice-relay.js";
export { REGISTRY_FOLLOW_MS, RegistryFollow } from "./registry-follow.js";
export { type NodeOutput, type NodeRoles, serveRoles } from "./roles.js";
export { type RunNodeOptions, runNode } from "./run.js";
export { type Listen, type Listeners, type RunningServer, type ServeOptions, startServer } from "./server.js";
export { SharedWitnessedCheckpoint } from "./shared-checkpoint.js";
export { startNodeSyslogFeed } from "./syslog-feed.js";
