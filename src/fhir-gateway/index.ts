// The FHIR AuditEvent search gateway (docs/fhir-gateway.md): what other areas may use.

export { capabilityStatement } from "./capability.js";
export { FhirGateway, type GatewayOptions, type RunningGateway } from "./gateway.js";
export { type AuditEventSearch, parseSearch, SearchError } from "./search-params.js";
export { type GatewayReader, MAX_RECORDS_PER_SEARCH } from "./verified-records.js";
