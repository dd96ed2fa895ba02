// Records in (EHR sources): POST /v1/records, validated whole before anything is stored.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toBase64 } from "../../core/index.js";
import { SubmitRecordsReply, SubmitRecordsRequest } from "../../core/wire/index.js";
import { wipePrepared } from "../../records/index.js";
import type { ServiceContext } from "../context.js";

export function registerRecordsRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  hooks: RecordHooks = {},
): void {
  const { vault } = ctx.deployment;
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    "/v1/records",
    {
      schema: {
        summary: "Submit audit records (EHR sources only)",
        description:
          "One record (components/schemas/AuditRecord) or an array as application/json, NDJSON (application/x-ndjson), or a FHIR R4 AuditEvent or Bundle (application/fhir+json). Validated whole: one bad record rejects the batch, naming its position and field. The reply comes once every record is durable and in the tree.",
        tags: ["records"],
        body: SubmitRecordsRequest,
        response: { 200: SubmitRecordsReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "submit-records", {});
      // Parsed, validated and prepared on the vault's prep workers (or here, without them).
      const records = await vault.prepare(request.body, caller.id);
      try {
        for (const rec of records) {
          if (rec.sourceSystem === undefined || rec.sourceSystem === caller.id) continue;
          await ctx.allow(caller, "submit-records", {
            source: rec.sourceSystem,
            ...(rec.devices ? { device: rec.devices } : {}),
          });
        }
      } catch (error) {
        wipePrepared(records); // refused: the canonical encodings are not kept
        throw error;
      }
      const results = await vault.ingestPrepared(records, caller.id);
      hooks.ingested?.(results.length);
      return {
        records: results.map((res) => ({
          index: res.index,
          leafHash: toBase64(res.leafHash),
          duplicate: res.duplicate,
        })),
      };
    },
  );
}

export interface RecordHooks {
  /** Called with the number of records each successful submission stored. */
  readonly ingested?: (count: number) => void;
}
