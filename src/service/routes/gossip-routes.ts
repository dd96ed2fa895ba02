// POST /v1/gossip: anyone enrolled hands this node (or a mirror) the checkpoints they hold; each is
// checked against the receiver's own copy, and a proven split view raises an alert (with both notes)
// that stays listed in GET /v1/alerts until acknowledged. Bounded: a few notes, each at most 16 KiB.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { GossipReply, GossipRequest } from "../../core/wire/index.js";
import type { Caller } from "../../identity/index.js";
import type { Gossiping } from "../../witness/index.js";

const GOSSIP_BODY_LIMIT = 512 * 1024;

export function registerGossipRoutes(
  app: FastifyInstance,
  options: { readonly gossip: Gossiping; readonly callerOf: (request: FastifyRequest) => Caller },
): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    "/v1/gossip",
    {
      bodyLimit: GOSSIP_BODY_LIMIT,
      schema: {
        summary: "Hand over checkpoints you hold; each is checked against this copy of the log",
        description:
          "Any enrolled identity (mutual TLS). A checkpoint not signed by the log's key is ignored; one that the receiver's signed log proves inconsistent (same size with another root, or not a prefix) raises an alert carrying both notes; a bigger one is unverified.",
        tags: ["log"],
        body: GossipRequest,
        response: { 200: GossipReply },
      },
    },
    async (request) => {
      const caller = options.callerOf(request);
      // A patient's URI names the patient: alerts and logs say only the role.
      const peer = caller.role === "patient" ? "a patient" : caller.uri;
      const outcomes = await options.gossip.offer(request.body.checkpoints, `gossip from ${peer}`);
      return {
        results: outcomes.map(({ verdict, alert }) => ({
          status: verdict.status,
          ...(verdict.status !== "ignored" ? { size: verdict.size } : {}),
          ...(verdict.status === "inconsistent" ? { kind: verdict.kind } : {}),
          ...(verdict.status !== "consistent" ? { reason: verdict.reason } : {}),
          ...(alert ? { alert: alert.id } : {}),
        })),
      };
    },
  );
}
