// Who takes part in a deployment, and how an identity is named. One table feeds certificates, the
// log's identity registry, authorization, the CLI and the API.

import { CustosError } from "../core/index.js";
import { DEPLOYMENT_PATTERN, ID_PATTERN, ROLES, type Role } from "../core/wire/index.js";

// The vocabulary itself is part of the wire shapes (core/wire/names.ts), so the browser has it too.
export { DEPLOYMENT_PATTERN, ID_PATTERN, ROLES, type Role };

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export interface IdentityName {
  readonly deployment: string;
  readonly role: Role;
  readonly id: string;
}

export function checkDeployment(deployment: string): string {
  if (!DEPLOYMENT_PATTERN.test(deployment)) {
    throw new CustosError(
      "BAD_ARGUMENT",
      "a deployment name is 1-63 lower-case letters, digits and inner hyphens",
    );
  }
  return deployment;
}

export function checkId(id: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new CustosError(
      "BAD_ARGUMENT",
      "an ID is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
    );
  }
  return id;
}

export function checkRole(role: string): Role {
  if (!isRole(role)) throw new CustosError("BAD_ARGUMENT", `role must be one of ${ROLES.join(", ")}`);
  return role;
}

/** `custos://<deployment>/<role>/<id>` */
export function identityUri(name: IdentityName): string {
  return `custos://${checkDeployment(name.deployment)}/${checkRole(name.role)}/${checkId(name.id)}`;
}

export function parseIdentityUri(uri: string): IdentityName {
  const match = /^custos:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!match) throw new CustosError("BAD_CERTIFICATE", "the identity is not a custos:// URI");
  const [, deployment, role, id] = match as unknown as [string, string, string, string];
  if (!DEPLOYMENT_PATTERN.test(deployment) || !isRole(role) || !ID_PATTERN.test(id)) {
    throw new CustosError("BAD_CERTIFICATE", "the identity URI names no valid deployment, role and ID");
  }
  return { deployment, role, id };
}
