// GET /v1/admin/key-audit (docs/identity.md "Key audit"): the log's acts on keys and access, filtered
// by party and time, one page per call (src/identity/key-audit.ts). Admins and the privacy office
// (custodian), on the API port (mutual TLS) and on the portal's (a login token), where the privacy
// office's and an administrator's view lists it.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { KeyAuditQuery, KeyAuditReply } from "../../core/wire/index.js";
import { keyAudit } from "../../identity/index.js";
import type { ServiceContext } from "../context.js";

export function registerKeyAuditRoute(app: FastifyInstance, ctx: ServiceContext): void {
  const { deployment } = ctx;
  app.withTypeProvider<ZodTypeProvider>().get(
    "/v1/admin/key-audit",
    {
      schema: {
        summary:
          "The key audit: enrollments, revocations, grants, key envelopes, erasures, operator actions, legal holds (admins, the privacy office)",
        description:
          "In log order from `after`, at most `limit` events and 50,000 entries scanned per call; `next` is where to go on (absent at the log's end). `party` is ROLE/ID (a patient by ID, matched by tag and shown only by tag). A key envelope carries no time: it is dated by the hour of the first checkpoint covering it (`timeFrom: checkpoint`).",
        tags: ["admin"],
        querystring: KeyAuditQuery,
        response: { 200: KeyAuditReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "read-key-audit", {});
      const q = request.query;
      const page = await keyAudit(
        {
          store: deployment.vault.ledger.store,
          registry: deployment.registry,
          patientTag: (id) => deployment.vault.patientTag(id),
        },
        {
          ...(q.party !== undefined ? { party: q.party } : {}),
          ...(q.from !== undefined ? { from: Date.parse(q.from) } : {}),
          ...(q.to !== undefined ? { to: Date.parse(q.to) } : {}),
          ...(q.after !== undefined ? { after: q.after } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
        },
      );
      return {
        ...page,
        events: page.events.map((e) => ({
          ...e,
          parties: [...e.parties],
          time: new Date(e.time).toISOString(),
        })),
      };
    },
  );
}
