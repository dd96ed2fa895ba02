// The node's portal settings (GET /portal/config.json): the deployment, the node, the log and its
// witnesses, and the site's words (portal.json), checked before the page trusts any of it.

import { PortalError } from "./errors.js";
import { checkSiteSettings } from "./site.js";
import type { PortalConfig } from "./types.js";

function isString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 4096;
}

/** Checks the shape of GET /portal/config.json. */
export function checkPortalConfig(value: unknown): PortalConfig {
  const c = value as {
    deployment?: unknown;
    node?: unknown;
    log?: { origin?: unknown; verifierKey?: unknown };
    witnesses?: { keys?: unknown; quorum?: unknown };
    site?: unknown;
  } | null;
  const keys = c?.witnesses?.keys;
  const quorum = c?.witnesses?.quorum;
  if (
    typeof c !== "object" ||
    c === null ||
    !isString(c.deployment) ||
    !isString(c.node) ||
    !isString(c.log?.origin) ||
    !isString(c.log?.verifierKey) ||
    !Array.isArray(keys) ||
    keys.length > 64 ||
    !keys.every(isString) ||
    typeof quorum !== "number" ||
    !Number.isInteger(quorum) ||
    quorum < 0 ||
    quorum > keys.length
  ) {
    throw new PortalError("CONFIG", "The node's portal configuration is malformed.");
  }
  return {
    deployment: c.deployment,
    node: c.node,
    log: { origin: c.log!.origin as string, verifierKey: c.log!.verifierKey as string },
    witnesses: { keys: [...keys], quorum },
    site: checkSiteSettings(c.site),
  };
}
