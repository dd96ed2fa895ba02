// Records in (EHR sources), and the request and reply shapes of the trail routes (trail-routes.ts).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { toBase64 } from "../../core/bytes.js";
import { AuditRecordSchema, observerDeviceNames } from "../../core/record/index.js";
import { parseRecordInput, parseRecordValue } from "../../core/record/record-input.js";
import { ID_PATTERN } from "../../identity/roles.js";
import type { ServiceContext } from "../context.js";
import { DEFAULT_TRAIL_LIMIT, MAX_TRAIL_LIMIT } from "../trail-query.js";

export const PatientId = z
  .string()
  .regex(ID_PATTERN, "a patient ID is 1-128 letters, digits, '.', '_' or '-'");
const Time = z.iso.datetime({ offset: true }).describe("ISO 8601 time");
export const Window = {
  from: Time.optional().describe("only accesses at or after this time (server filters by hour)"),
  to: Time.optional().describe("only accesses before this time"),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_TRAIL_LIMIT)
    .optional()
    .describe(`records per page (default ${DEFAULT_TRAIL_LIMIT})`),
  before: z.number().int().min(0).optional().describe("paging: the `next` of the previous page"),
  trustedSize: z.number().int().min(0).optional().describe("size of the checkpoint the client last trusted"),
};
export const Item = z.object({
  index: z.number(),
  entry: z.string().describe("the log entry, base64"),
  content: z.string().nullable().describe("the encrypted content beside the tree, base64 (null if erased)"),
  proof: z
    .array(z.string())
    .optional()
    .describe(
      "inclusion proof against the checkpoint, base64 hashes; absent for an access record the page's next newer record of the patient links to by its leaf hash (`prev`), which proves it",
    ),
});
export const Consistency = z
  .object({ from: z.number(), to: z.number(), proof: z.array(z.string()) })
  .nullable()
  .describe("consistency proof from trustedSize to the checkpoint");
export const Page = z.object({ items: z.array(Item), next: z.number().nullable() });
export const TrailMapProof = z
  .object({
    tag: z.string().describe("the patient tag the proof is for, hex"),
    proof: z.string().describe("trail map proof (docs/formats.md, Trail map), base64"),
  })
  .optional()
  .describe(
    "the patient's trail head in the checkpoint's trail map (custos-trail-map/v1 line): proves the trail's newest record, or that the patient has none; absent when the checkpoint carries no trail map",
  );
export const NoticesReply = z.object({
  checkpoint: z.string(),
  consistency: Consistency,
  items: z.array(Item),
});
export const NoticesRequest = z
  .object({ trustedSize: z.number().int().min(0).optional() })
  .strict()
  .optional();

/** At most this many notices in one reply (the newest). */
export const MAX_NOTICES = 1000;
export const AuditTrailsRequest = z
  .object({ patientIds: z.array(PatientId).max(1000).optional(), ...Window })
  .strict();
export const AuditTrailsReply = z.object({
  checkpoint: z.string(),
  consistency: Consistency,
  patients: z.array(
    z.object({
      patientId: z.string().nullable(),
      /** The patient's tag; absent from a refusal of a patient named by ID. */
      tag: z.string().optional(),
      items: z.array(Item).optional(),
      next: z.number().nullable().optional(),
      trailMap: TrailMapProof,
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});

/** The record as JSON Schema (what a source writes), for the OpenAPI document's components. */
export function auditRecordJsonSchema(): Record<string, unknown> {
  const { $schema: _, ...schema } = z.toJSONSchema(AuditRecordSchema, {
    io: "input",
    unrepresentable: "any",
  });
  return schema;
}

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
        body: z.unknown(),
        response: {
          200: z.object({
            records: z.array(z.object({ index: z.number(), leafHash: z.string(), duplicate: z.boolean() })),
          }),
        },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "submit-records", {});
      const records =
        typeof request.body === "string" ? parseRecordInput(request.body) : parseRecordValue(request.body);
      for (const rec of records) {
        if (rec.sourceSystem === undefined || rec.sourceSystem === caller.id) continue;
        const device = observerDeviceNames(rec);
        await ctx.allow(caller, "submit-records", {
          source: rec.sourceSystem,
          ...(device ? { device } : {}),
        });
      }
      const results = await vault.ingest(records, caller.id);
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
