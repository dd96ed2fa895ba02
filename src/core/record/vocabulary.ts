// The closed vocabularies of an audit record, as `as const` tables that feed the schema, the FHIR
// mapping, the CLI and (later) the API's OpenAPI document alike.

export const ACTIONS = ["create", "delete", "change", "query", "print", "copy"] as const;
export type Action = (typeof ACTIONS)[number];

export const OUTCOMES = ["success", "minor-failure", "serious-failure", "major-failure"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** FHIR R4 AuditEvent.outcome codes (http://hl7.org/fhir/audit-event-outcome). */
export const FHIR_OUTCOME_CODES: Readonly<Record<Outcome, string>> = {
  success: "0",
  "minor-failure": "4",
  "serious-failure": "8",
  "major-failure": "12",
};

/** Limits on every string of a record. */
export const LIMITS = {
  id: 128,
  sourceSystem: 128,
  purposeOfUse: 64,
  detail: 1000,
  /** An IPv4/IPv6 address or a host name (RFC 1123 allows 253 characters). */
  networkAddress: 253,
  /** A FHIR resource type (or another system's object type), e.g. "Observation". */
  resourceType: 64,
  userName: 200,
  userRole: 128,
  department: 128,
  /** The query a source received (a FHIR search URL, or a POST body's parameters). */
  query: 4096,
} as const;
