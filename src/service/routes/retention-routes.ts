// The admin's view of the deployment's lifecycle: its retention policy and the expiry job's progress
// (GET /v1/retention), the legal holds that stand (GET /v1/holds), and placing or lifting one
// (POST /v1/holds). Patient IDs travel in request bodies only; replies name patients by tag.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { HoldReply, HoldRequest, HoldsReply, RetentionReply } from "../../core/wire/index.js";
import { changeHold, standingHolds } from "../../identity/index.js";
import type { RetentionJob } from "../../records/index.js";
import { describeRetention, type RetentionPolicy, retentionCutoff } from "../../records/index.js";
import type { ServiceContext } from "../context.js";

export function registerRetentionRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  retention: { readonly policy: RetentionPolicy; readonly job?: RetentionJob },
): void {
  const { deployment, now } = ctx;
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    "/v1/retention",
    {
      schema: {
        summary: "The retention policy and the expiry job's progress (admins)",
        tags: ["lifecycle"],
        response: { 200: RetentionReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-grants", {});
      const state = retention.job?.state;
      return {
        retention: describeRetention(retention.policy),
        cutoff: new Date(retentionCutoff(retention.policy, now())).toISOString(),
        running: retention.job !== undefined,
        cursor: state?.cursor ?? 0,
        deferred: state?.deferred.length ?? 0,
        requireArchive: retention.policy.requireArchive === true,
        waitingForArchive: state?.deferred.filter((d) => d.why === "no-archive").length ?? 0,
        expiredEpochs: state?.expiredEpochs ?? 0,
        erasedItems: state?.erasedItems ?? 0,
        ...(state?.lastRunAt === undefined ? {} : { lastRunAt: new Date(state.lastRunAt).toISOString() }),
        holds: await standingHolds(deployment),
      };
    },
  );

  r.get(
    "/v1/holds",
    {
      schema: {
        summary: "The legal holds that stand (admins)",
        tags: ["lifecycle"],
        response: { 200: HoldsReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-grants", {});
      return { holds: await standingHolds(deployment) };
    },
  );

  r.post(
    "/v1/holds",
    {
      schema: {
        summary: "Place or lift a legal hold on a patient or on the whole deployment (admins)",
        description:
          "While a hold stands, retention expiry and erasure of what it covers are refused (LEGAL_HOLD). A hold on a patient shows in the patient's query history.",
        tags: ["lifecycle"],
        body: HoldRequest,
        response: { 200: HoldReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-grants", {});
      const { action, patient, reference } = request.body;
      return changeHold(deployment, caller, { action, reference, ...(patient ? { patient } : {}) }, now());
    },
  );
}
