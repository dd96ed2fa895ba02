// The SDK's public surface ("custos"): the Node client (mutual TLS with an identity bundle), the
// platform-free reader it is built on, and everything in "custos/core" (proof verification, signed
// notes, the record schema, the error class and its codes). Only re-exports live here.

export {
  type AuditTrailsResult,
  type CheckpointSummary,
  type ClientOptions,
  CustosClient,
  type TrailQuery,
  type TrailResult,
} from "./client/custos-client.js";
export { matchesRecordFilter, type RecordFilter } from "./client/record-filter.js";
export {
  MemoryTrustStore,
  type NoticesResult,
  type ReaderOptions,
  TrailReader,
  type Transport,
  type TrustStore,
  type TrustStoreJson,
  type WitnessPolicy,
} from "./client/trail-reader.js";
export { VerificationError } from "./client/verify-reply.js";
export * from "./core/index.js";
export { Identity, type IdentityBundle, parseBundle, readBundle } from "./identity/bundle.js";
