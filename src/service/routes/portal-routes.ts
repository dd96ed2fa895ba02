// What the portal's page needs before anyone signs in: the deployment it belongs to, the node its login
// challenges are bound to, the log's verifier key and the witness policy (cosigner keys and quorum).
// The page's own code comes from this node too, so this is the node's policy, not an independent one.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { ServiceContext } from "../context.js";

export const PORTAL_CONFIG_ROUTE = "/portal/config.json";

export interface PortalConfigSource {
  /** The node's identity URI. */
  readonly node: string;
  /** Witness cosigner verifier keys (C2SP signed-note verifier keys). */
  readonly witnessKeys: readonly string[];
  /** How many of them must have cosigned a checkpoint. */
  readonly quorum: number;
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
        response: {
          200: z.object({
            deployment: z.string(),
            node: z.string().describe("the node's identity URI; login challenges are bound to it"),
            log: z.object({ origin: z.string(), verifierKey: z.string() }),
            witnesses: z.object({
              keys: z.array(z.string()).describe("witness cosigner verifier keys"),
              quorum: z.number().int().min(0).describe("cosignatures a checkpoint needs"),
            }),
          }),
        },
      },
    },
    async (_request, reply) => {
      reply.header("cache-control", "no-store");
      return config;
    },
  );
}
