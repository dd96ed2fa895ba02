// Alerts for the audit companies (GET /v1/alerts, POST /v1/alerts/:id/ack): witness refusals (possible
// forks) and split views gossip proved, each with both signed checkpoints, listed for each audit
// company until it acknowledges them (one company cannot close an alert for the others).

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import {
  AlertAckReply,
  AlertAckRequest,
  AlertParams,
  AlertsQuery,
  AlertsReply,
} from "../../core/wire/index.js";
import type { Caller } from "../../identity/index.js";
import type { AlertLog } from "../../witness/index.js";
import type { ServiceContext } from "../context.js";

export function registerAlertRoutes(app: FastifyInstance, ctx: ServiceContext, alerts: AlertLog): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const alertReader = async (request: FastifyRequest): Promise<Caller> => {
    const caller = ctx.callerOf(request);
    // Audit companies and admins see alerts; anyone else is refused (and the refusal recorded).
    if (caller.role !== "auditor" && caller.role !== "admin") await ctx.allow(caller, "manage-grants", {});
    else await ctx.allow(caller, "read-log", {});
    return caller;
  };

  r.get(
    "/v1/alerts",
    {
      schema: {
        summary: "Witness refusals (possible forks) with both signed checkpoints, until acknowledged",
        description:
          "Alerts the caller has not acknowledged (each audit company acknowledges for itself), oldest first; ?all=true lists acknowledged ones too.",
        tags: ["log"],
        querystring: AlertsQuery,
        response: { 200: AlertsReply },
      },
    },
    async (request) => {
      const caller = await alertReader(request);
      return { alerts: alerts.list(request.query.all === "true", caller.uri) };
    },
  );

  r.post(
    "/v1/alerts/:id/ack",
    {
      schema: {
        summary: "Acknowledge an alert (audit companies, admins), with a note on what was done about it",
        description:
          'Body (optional): {"note": "..."} of at most 1,000 characters, kept with the acknowledgement.',
        tags: ["log"],
        params: AlertParams,
        body: AlertAckRequest,
        response: { 200: AlertAckReply },
      },
    },
    async (request) => {
      const caller = await alertReader(request);
      const note = request.body?.note?.trim();
      return { alert: alerts.acknowledge(request.params.id, caller.uri, ctx.now(), note) };
    },
  );
}
