// The identity area's public surface: the deployment CA and certificates, identity bundles, roles,
// trust checks, the registry read from the log, authorization, and the operator's key actions.

export { type ArchiveRecipient, resolveArchiveReader, rewrapForArchive } from "./archive-readers.js";
export { authorize, type Caller, OPERATIONS, type Operation, type Target } from "./authorize.js";
export {
  BULK_BATCH,
  type BulkCounts,
  type BulkRow,
  bulkCsvRows,
  checkBulkRows,
  parseBulkCsv,
  planBulk,
  publicKeyBatches,
  registryCounts,
  runBulk,
} from "./bulk-enroll.js";
export { Identity, type IdentityBundle, parseBundle, readBundle, writeBundle } from "./bundle.js";
export { CA_KEY_SECRET, DeploymentCa } from "./ca.js";
export { Deployment, type DeploymentOptions } from "./deployment.js";
export {
  completeBundle,
  createEnrollmentRequest,
  type EnrollmentCertificates,
  type EnrollmentKeys,
  type EnrollmentRequest,
  verifyEnrollmentRequest,
} from "./enrollment-request.js";
export { KEY_AUDIT_KINDS, KEY_AUDIT_MAX_LIMIT, type KeyAuditKind, keyAudit } from "./key-audit.js";
export { keyStatus } from "./key-status.js";
export { upgradeLegacyDirectory } from "./legacy-upgrade.js";
export { appendSignedHold, changeHold, holdDraft, standingHolds } from "./legal-holds.js";
export { type Challenge, loginMessage } from "./login-message.js";
export {
  offlineReadItems,
  operatorActionItem,
  operatorOf,
  recordOperatorAction,
} from "./operator-actions.js";
export {
  ensurePortalCertificate,
  operatorPortalCertificate,
  PORTAL_CERT_FILE,
  type PortalTls,
  serverNames,
} from "./portal-certificate.js";
export { lawfulReadNotice, rewrapHistory } from "./recovery.js";
export { patientSubject, REGISTRY_LOOKUP_KEY, Registry, RegistryDirectory } from "./registry.js";
export { checkRole, isRole, parseIdentityUri, ROLES, type Role } from "./roles.js";
export { checkEntrySignatures, type SignatureFinding, type SignatureReport } from "./signature-check.js";
export { type Principal, TrustAnchor } from "./trust.js";
