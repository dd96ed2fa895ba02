// Every operation of the node's two HTTP ports as its OpenAPI document names it (src/service/openapi.ts):
// the `operationId` generated clients call it by, whether it answers without a client certificate or
// token, the media types it takes and gives when not JSON, and the error codes (src/core/errors.ts) it
// answers with besides those every operation of its kind does (openapi.ts `commonErrors`). A route
// registered without an entry here makes the document fail to build, and test/service/openapi.test.ts
// compares this table, the document and the routes Fastify registers.

import type { ErrorCode } from "../core/index.js";

export interface OperationDoc {
  readonly operationId: string;
  /** Codes this operation answers besides the common ones of its kind. */
  readonly errors?: readonly ErrorCode[];
  /** Answered without a client certificate (API port) or a bearer token (portal port). */
  readonly public?: true;
  /** The media type of the 200 reply when it is not JSON. */
  readonly produces?: string;
  /** The request body, when it is not (only) the route's JSON schema: media type -> schema. */
  readonly consumes?: Readonly<Record<string, Record<string, unknown>>>;
}

/** What a submitted record (or batch of them) is in each media type POST /v1/records takes. */
const RECORD_BODIES: Readonly<Record<string, Record<string, unknown>>> = {
  "application/json": {
    oneOf: [
      { $ref: "#/components/schemas/AuditRecord" },
      { type: "array", items: { $ref: "#/components/schemas/AuditRecord" }, minItems: 1 },
    ],
  },
  "application/x-ndjson": {
    type: "string",
    description: "One AuditRecord (JSON) per line.",
  },
  "application/fhir+json": {
    type: "object",
    description:
      "A FHIR R4 AuditEvent, or a Bundle of them (docs/fhir-mapping.md says how each element maps to the record).",
    required: ["resourceType"],
    properties: { resourceType: { type: "string", enum: ["AuditEvent", "Bundle"] } },
  },
};

/** A bulk enrollment's rows (POST /v1/admin/bulk-enrollments), as JSON or NDJSON. */
const BULK_ROW: Record<string, unknown> = {
  type: "object",
  required: ["kind", "id"],
  additionalProperties: false,
  properties: {
    kind: { type: "string", enum: ["patient", "auditor", "ehr-source", "custodian", "grant"] },
    id: { type: "string", description: "The identity's ID; for a grant, the patient's." },
    signingKey: { type: "string", description: "The holder's raw Ed25519 public key, base64." },
    encryptionKey: { type: "string", description: "The holder's raw X25519 public key, base64." },
    auditor: { type: "string", description: "A grant's audit company." },
  },
};
const BULK_BODIES: Readonly<Record<string, Record<string, unknown>>> = {
  "application/json": { type: "array", items: BULK_ROW },
  "application/x-ndjson": { type: "string", description: "One row (JSON) per line." },
};

/** Keyed by `METHOD /path` as the OpenAPI document writes the path. */
export const API_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  // Operations: probes, metrics and this document.
  "GET /v1/health": { operationId: "getHealth", public: true },
  "GET /v1/ready": { operationId: "getReadiness", public: true },
  "GET /metrics": { operationId: "getMetrics", produces: "text/plain; version=0.0.4" },
  "GET /openapi.json": { operationId: "getOpenApiDocument", public: true },

  // The log: its identity, proofs, receipts and the C2SP tiles.
  "GET /v1/log": { operationId: "getLog" },
  "GET /v1/checkpoint": { operationId: "getCheckpoint", errors: ["NOT_FOUND"] },
  "GET /v1/proof/inclusion": { operationId: "getInclusionProof", errors: ["NOT_FOUND"] },
  "GET /v1/proof/consistency": { operationId: "getConsistencyProof", errors: ["NOT_FOUND"] },
  "GET /v1/receipt/{index}": { operationId: "getReceipt", errors: ["NOT_FOUND"] },
  "GET /checkpoint": { operationId: "getTlogCheckpoint", errors: ["NOT_FOUND"], produces: "text/plain" },
  "GET /tile/{path}": { operationId: "getTile", errors: ["NOT_FOUND"], produces: "application/octet-stream" },
  "POST /v1/gossip": { operationId: "offerCheckpoints" },
  "GET /v1/alerts": { operationId: "listAlerts" },
  "POST /v1/alerts/{id}/ack": { operationId: "acknowledgeAlert", errors: ["NOT_FOUND", "CONFLICT"] },

  // Mirrors.
  "POST /v1/mirror/contents": { operationId: "getMirrorContents" },
  "GET /v1/mirror/keys": { operationId: "getMirrorKeys", errors: ["NOT_FOUND"] },

  // Records in, trails out.
  "POST /v1/records": {
    operationId: "submitRecords",
    errors: ["INVALID_RECORD", "KEY_MISSING", "CONFLICT"],
    consumes: RECORD_BODIES,
  },
  "POST /v1/trail": {
    operationId: "readTrail",
    errors: ["NOT_FOUND", "CONFLICT", "KEY_MISSING", "NO_BLIND_INDEX"],
  },
  "POST /v1/audit/trails": {
    operationId: "readAuditTrails",
    errors: ["NOT_FOUND", "CONFLICT", "KEY_MISSING", "NO_BLIND_INDEX"],
  },
  "POST /v1/query-history": { operationId: "readQueryHistory", errors: ["NOT_FOUND", "CONFLICT"] },
  "POST /v1/audit/notices": { operationId: "readAuditNotices", errors: ["NOT_FOUND", "CONFLICT"] },
  "POST /v1/office/security-events": {
    operationId: "readSecurityEvents",
    errors: ["NOT_FOUND", "CONFLICT", "KEY_MISSING", "NO_BLIND_INDEX"],
  },
  "POST /v1/office/refusals": { operationId: "readOfficeRefusals", errors: ["NOT_FOUND", "CONFLICT"] },
  "POST /v1/staff-directory": { operationId: "readStaffDirectory", errors: ["NOT_FOUND", "CONFLICT"] },

  // Identities, grants and the deployment's lifecycle.
  "GET /v1/whoami": { operationId: "whoami" },
  "POST /v1/grants": { operationId: "appendGrant", errors: ["BAD_SIGNATURE", "NOT_FOUND", "CONFLICT"] },
  "POST /v1/grant-periods": {
    operationId: "changeGrantPeriod",
    errors: ["BAD_SIGNATURE", "NOT_FOUND", "CONFLICT"],
  },
  "POST /v1/revocations": { operationId: "revokeIdentity", errors: ["NOT_FOUND", "CONFLICT"] },
  "GET /v1/retention": { operationId: "getRetention" },
  "GET /v1/holds": { operationId: "listHolds" },
  "POST /v1/holds/draft": { operationId: "draftHold" },
  "POST /v1/holds": {
    operationId: "changeHold",
    errors: ["BAD_SIGNATURE", "NOT_FOUND", "CONFLICT", "KEY_MISSING"],
  },
  "POST /v1/admin/enrollments": {
    operationId: "enrollIdentity",
    errors: ["BAD_SIGNATURE", "BAD_KEY", "CONFLICT", "WRONG_DEPLOYMENT"],
  },
  "POST /v1/admin/key-replacements": {
    operationId: "replaceKeys",
    errors: ["BAD_SIGNATURE", "BAD_KEY", "CONFLICT", "NOT_FOUND", "WRONG_DEPLOYMENT"],
  },
  "POST /v1/admin/bulk-enrollments": {
    operationId: "enrollInBulk",
    errors: ["CONFLICT", "NOT_FOUND"],
    consumes: BULK_BODIES,
  },
  "POST /v1/admin/patient-tags": { operationId: "getPatientTags", errors: ["NOT_FOUND"] },
  "GET /v1/admin/epoch-keys": { operationId: "getEpochKeyStats" },
  "POST /v1/admin/epoch-keys/end": { operationId: "endEpochs" },
  "GET /v1/admin/key-audit": { operationId: "getKeyAudit" },
  "POST /v1/admin/staff-directory": { operationId: "uploadStaffDirectory", errors: ["KEY_MISSING"] },

  // The portal port: login, the page's configuration and the page itself.
  "POST /v1/login/challenge": { operationId: "getLoginChallenge", public: true, errors: ["BAD_CHALLENGE"] },
  "POST /v1/login": {
    operationId: "login",
    public: true,
    errors: [
      "BAD_CHALLENGE",
      "BAD_SIGNATURE",
      "NOT_AUTHENTICATED",
      "BAD_CERTIFICATE",
      "UNKNOWN_CA",
      "CERT_EXPIRED",
      "CERT_NOT_YET_VALID",
      "CERT_REVOKED",
      "WRONG_DEPLOYMENT",
    ],
  },
  "GET /portal/config.json": { operationId: "getPortalConfig", public: true },
  "GET /": { operationId: "getPortalPage", public: true, produces: "text/html; charset=utf-8" },
  "GET /assets/{path}": {
    operationId: "getPortalAsset",
    public: true,
    errors: ["NOT_FOUND"],
    produces: "application/octet-stream",
  },
};
