// How a deployment's participants are named on the wire: the roles (one `as const` table that feeds
// certificates, the log's registry, authorization, the CLI, the API's schemas and the portal) and the
// shape of an ID and of a deployment name, as they appear in `custos://<deployment>/<role>/<id>`.

export const ROLES = ["patient", "auditor", "ehr-source", "admin", "witness", "node", "custodian"] as const;
export type Role = (typeof ROLES)[number];

/** IDs are short, URI-safe and case-sensitive: letters, digits and . _ - (no slash, no colon). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A deployment name is a DNS-label-like word: it is the host part of every identity URI. */
export const DEPLOYMENT_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
