export {
  type AuditRecord,
  type AuditRecordInput,
  AuditRecordSchema,
  decodeRecord,
  encodeRecord,
  InvalidRecordError,
  parseAuditRecord,
  parseIsoTime,
  type RecordIssue,
  validateAuditRecords,
} from "./audit-record.js";
export {
  auditEventToRecord,
  bundleToRecords,
  type ExportOptions,
  observerDeviceNames,
  recordsToSearchsetBundle,
  recordToAuditEvent,
  type SearchsetEntry,
  SYSTEMS as FHIR_SYSTEMS,
} from "./fhir-audit-event.js";
export { queryFromBase64 } from "./fhir-participants.js";
export { parseRecordInput, parseRecordValue } from "./record-input.js";
export { ACTIONS, type Action, FHIR_OUTCOME_CODES, LIMITS, OUTCOMES, type Outcome } from "./vocabulary.js";
