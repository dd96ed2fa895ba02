// What the portal's page needs before anyone signs in: the deployment it belongs to, the node its login
// challenges are bound to, the log's verifier key and the witness policy (cosigner keys and quorum).
// The page's own code comes from this node too, so this is the node's policy, not an independent one.
// Beside it, `site`: what the deployment tells people (DIR/portal.json: hospital, time zone, working
// hours, privacy contact, witness organisations), re-read whenever the file changes.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { PORTAL_CONFIG_ROUTE, PortalConfigReply } from "../../core/wire/index.js";
import type { ServiceContext } from "../context.js";
import type { PortalSettings } from "../portal-settings.js";

export { PORTAL_CONFIG_ROUTE } from "../../core/wire/index.js";

export interface PortalConfigSource {
  /** The node's identity URI. */
  readonly node: string;
  /** Witness cosigner verifier keys (C2SP signed-note verifier keys). */
  readonly witnessKeys: readonly string[];
  /** How many of them must have cosigned a checkpoint. */
  readonly quorum: number;
  /** The deployment's settings for the page, as they stand now. */
  readonly settings?: () => PortalSettings;
}

export function registerPortalRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  source: PortalConfigSource,
): void {
  const { meta } = ctx.deployment.vault.ledger;
  const config = {
    deployment: ctx.deployment.name,
    node: source.node,
    log: { origin: meta.origin, verifierKey: meta.verifierKey },
    witnesses: { keys: [...source.witnessKeys], quorum: source.quorum },
  };
  app.withTypeProvider<ZodTypeProvider>().get(
    PORTAL_CONFIG_ROUTE,
    {
      schema: {
        summary: "The portal's configuration: deployment, node, log key and witness policy (no login)",
        tags: ["portal"],
        response: { 200: PortalConfigReply },
      },
    },
    async (_request, reply) => {
      reply.header("cache-control", "no-store");
      return { ...config, site: source.settings?.() ?? {} };
    },
  );
}
