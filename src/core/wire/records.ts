// Records in: POST /v1/records (EHR sources). The body is one record or many, in one of several media
// types, and is parsed and validated whole by core/record (parseRecordInput, AuditRecordSchema).

import { z } from "zod";
import { AuditRecordSchema } from "../record/index.js";

/** Parsed by core/record, not by the route's schema: JSON, NDJSON or FHIR, one record or many. */
export const SubmitRecordsRequest = z.unknown();
export const SubmitRecordsReply = z.object({
  records: z.array(z.object({ index: z.number(), leafHash: z.string(), duplicate: z.boolean() })),
});

/** The record as JSON Schema (what a source writes), for the OpenAPI document's components. */
export function auditRecordJsonSchema(): Record<string, unknown> {
  const { $schema: _, ...schema } = z.toJSONSchema(AuditRecordSchema, {
    io: "input",
    unrepresentable: "any",
  });
  return schema;
}
