// The client area's public surface: the SDK's clients (records, admin), the mutual-TLS transport and
// the verifying reader. The package's own surface (src/index.ts) picks the SDK's part of it.

export { AdminClient, type BulkEnrollmentReply, type Enrolled, type Enrollment } from "./admin-client.js";
export {
  type AuditTrailsResult,
  type CheckpointSummary,
  type ClientOptions,
  CustosClient,
  type TrailQuery,
  type TrailResult,
} from "./custos-client.js";
export { MtlsClient } from "./mtls-client.js";
export { matchesRecordFilter, type RecordFilter } from "./record-filter.js";
export {
  checkPageFollows,
  checkTrailStart,
  MemoryTrustStore,
  type NoticesResult,
  type ReaderOptions,
  TrailReader,
  type Transport,
  type TrustStore,
  type TrustStoreJson,
  type WitnessPolicy,
} from "./trail-reader.js";
export { VerificationError } from "./verify-reply.js";
