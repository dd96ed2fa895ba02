// Trails out: POST /v1/trail, /v1/audit/trails, /v1/query-history and /v1/audit/notices, served alike
// by the node and a serving mirror (src/service/routes/trail-routes.ts) and read by the SDK and the
// portal (src/client/trail-reader.ts). Every item carries its proof against the reply's checkpoint.

import { z } from "zod";
import { ID_PATTERN } from "./names.js";

/** Records per page, at most, and when the request names no limit. */
export const MAX_TRAIL_LIMIT = 5000;
export const DEFAULT_TRAIL_LIMIT = 1000;
/** At most this many notices in an audit company's reply (the newest). */
export const MAX_NOTICES = 1000;

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
/** Most witnesses a quorum can name (`?quorum=`); far above any deployment's witness count. */
export const MAX_QUORUM = 64;
/**
 * `?quorum=N` on the trail, notice, checkpoint and receipt routes: prove the reply against the newest
 * checkpoint at least N witnesses cosigned, so a reader requiring N keeps reading while a witness is
 * down (the reply then says how far it is behind). Absent or 0: the newest witnessed checkpoint.
 */
export const QuorumQuery = z.object({
  quorum: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_QUORUM)
    .optional()
    .describe("serve the newest checkpoint cosigned by at least this many witnesses"),
});
export const Behind = z
  .object({
    entries: z
      .number()
      .int()
      .min(0)
      .describe("entries the node's newest signed checkpoint holds past this one"),
    seconds: z
      .number()
      .int()
      .min(0)
      .describe("how long ago the node signed the first checkpoint past this one"),
  })
  .optional()
  .describe(
    "present when the reply is proven against an older checkpoint than the node's newest (the witness quorum asked for has not cosigned the newer ones yet); the node's word, not proven",
  );
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

export const TrailRequest = z.object({ patientId: PatientId.optional(), ...Window }).strict();
export const TrailReply = z.object({
  checkpoint: z.string(),
  consistency: Consistency,
  behind: Behind,
  ...Page.shape,
  trailMap: TrailMapProof,
});

export const NoticesRequest = z
  .object({ trustedSize: z.number().int().min(0).optional() })
  .strict()
  .optional();
export const NoticesReply = z.object({
  checkpoint: z.string(),
  consistency: Consistency,
  behind: Behind,
  items: z.array(Item),
});

export const AuditTrailsRequest = z
  .object({ patientIds: z.array(PatientId).max(1000).optional(), ...Window })
  .strict();
export const AuditTrailsReply = z.object({
  checkpoint: z.string(),
  consistency: Consistency,
  behind: Behind,
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

export type WireItem = z.infer<typeof Item>;
export type WireBehind = NonNullable<z.infer<typeof Behind>>;
export type WireConsistency = z.infer<typeof Consistency>;
export type WireTrailMap = NonNullable<z.infer<typeof TrailMapProof>>;
export type TrailReplyBody = z.infer<typeof TrailReply>;
export type NoticesReplyBody = z.infer<typeof NoticesReply>;
export type AuditTrailsReplyBody = z.infer<typeof AuditTrailsReply>;
