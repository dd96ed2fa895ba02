// The admin's view of the deployment's lifecycle: its retention policy and the expiry job's progress
// (GET /v1/retention), the legal holds that stand (GET /v1/holds), and placing or lifting one
// (POST /v1/holds). Patient IDs travel in request bodies only; replies name patients by tag.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { CustosError, fromBase64, toBase64 } from "../../core/index.js";
import {
  HoldDraftReply,
  HoldDraftRequest,
  HoldReply,
  HoldRequest,
  HoldsReply,
  RetentionReply,
} from "../../core/wire/index.js";
import { appendSignedHold, holdDraft, standingHolds } from "../../identity/index.js";
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
    "/v1/holds/draft",
    {
      schema: {
        summary:
          "What an admin needs to build a legal hold entry: the node's time and the patient's tag (admins)",
        description:
          "The admin builds the legalHold entry with this time, its own identity URI and the patient's tag (none for the whole deployment), signs it with its identity key and posts it to /v1/holds, so the node cannot forge a hold or lift one.",
        tags: ["lifecycle"],
        body: HoldDraftRequest,
        response: { 200: HoldDraftReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-grants", {});
      const draft = holdDraft(deployment, caller, request.body.patient, now());
      return {
        time: draft.time,
        admin: draft.admin,
        ...(draft.patientTag ? { patientTag: toBase64(draft.patientTag) } : {}),
      };
    },
  );

  r.post(
    "/v1/holds",
    {
      schema: {
        summary:
          "Place or lift a legal hold on a patient or on the whole deployment, signed by the admin (admins)",
        description:
          "The body carries the legalHold entry the admin built (from POST /v1/holds/draft) and signed with its identity key; the node appends it only when it names and is signed by the caller, within 5 minutes of the node's clock. While a hold stands, retention expiry and erasure of what it covers are refused (LEGAL_HOLD). A hold on a patient shows in the patient's query history.",
        tags: ["lifecycle"],
        body: HoldRequest,
        response: { 200: HoldReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-grants", {});
      if (request.body.entry === undefined)
        throw new CustosError(
          "BAD_SIGNATURE",
          "a legal hold must be signed by the admin who places or lifts it: send the signed entry (custos hold builds it; see POST /v1/holds/draft)",
        );
      let entry: Uint8Array;
      try {
        entry = fromBase64(request.body.entry);
      } catch (error) {
        throw new CustosError("BAD_ENCODING", "entry is not canonical base64", { cause: error });
      }
      return appendSignedHold(deployment, caller, entry, now());
    },
  );
}
