// Records in (EHR sources) and trails out (patients, audit companies), and the query history.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { toBase64, toHex } from "../../core/bytes.js";
import { ENTRY_KINDS } from "../../core/entry/index.js";
import { CustosError, isCustosError } from "../../core/errors.js";
import { AuditRecordSchema, observerDeviceNames } from "../../core/record/index.js";
import { parseRecordInput, parseRecordValue } from "../../core/record/record-input.js";
import type { Caller } from "../../identity/authorize.js";
import { patientSubject } from "../../identity/registry.js";
import { ID_PATTERN } from "../../identity/roles.js";
import { noticeSealedTo, sealNotice } from "../../records/notices.js";
import { type Recipient, recipientFingerprint } from "../../records/recipients.js";
import type { ServiceContext } from "../context.js";
import { type FoundNotice, NOTICE_SCAN_LIMIT, noticesUnder, provenNotices } from "../notice-scan.js";
import {
  consistencyFrom,
  DEFAULT_TRAIL_LIMIT,
  MAX_TRAIL_LIMIT,
  type TrailPage,
  tagOfSubject,
  trailMapProofAt,
  trailPage,
} from "../trail-query.js";

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
  const { deployment, now } = ctx;
  const { vault } = deployment;
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

  async function serveTrail(
    caller: Caller,
    tag: Uint8Array,
    size: number,
    window: { from?: string; to?: string; limit?: number; before?: number },
  ): Promise<TrailPage> {
    const at = now();
    const enrolled = deployment.registry.active(caller.role, caller.subject, at);
    const page = await trailPage(vault.ledger, size, {
      patientTag: tag,
      ...(window.from ? { from: Date.parse(window.from) } : {}),
      ...(window.to ? { to: Date.parse(window.to) } : {}),
      ...(window.limit ? { limit: window.limit } : {}),
      ...(window.before !== undefined ? { before: window.before } : {}),
      ...(enrolled ? { reader: recipientFingerprint(enrolled.encryptionKey) } : {}),
    });
    // The meta-audit: this read of the trail is itself a log entry the patient can read.
    const readers: Recipient[] = [...deployment.directory.custodians(at)];
    const patient = deployment.registry.active("patient", patientSubject(tag), at);
    if (patient) readers.unshift({ id: "patient", role: "patient", encryptionKey: patient.encryptionKey });
    if (readers.length > 0) {
      await ctx.recordNotice(
        sealNotice(
          { kind: "query", time: at, patientTag: tag },
          {
            time: new Date(at).toISOString(),
            requester: caller.uri,
            role: caller.role,
            operation: "read-trail",
            returned: page.items.length,
          },
          readers,
        ),
      );
    }
    return page;
  }

  r.post(
    "/v1/trail",
    {
      schema: {
        summary: "One patient's access history, newest first, with proofs",
        description:
          "A patient reads their own (patientId may be left out); an audit company reads a granted patient. Every entry comes with an inclusion proof against `checkpoint`; `consistency` proves the checkpoint extends the one the client trusted. Records are encrypted: the client decrypts them with the key envelopes included and filters by user, action, emergency and purpose itself. Each read is recorded for the patient.",
        tags: ["trails"],
        body: z.object({ patientId: PatientId.optional(), ...Window }).strict(),
        response: {
          200: z.object({
            checkpoint: z.string(),
            consistency: Consistency,
            ...Page.shape,
            trailMap: TrailMapProof,
          }),
        },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      const body = request.body;
      const patientId = body.patientId ?? (caller.role === "patient" ? caller.id : undefined);
      if (!patientId) throw new CustosError("BAD_ARGUMENT", "name the patient (patientId)");
      const tag = vault.patientTag(patientId);
      await ctx.allow(caller, "read-trail", { patient: patientSubject(tag) }, patientId);
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(vault.ledger, body.trustedSize, checkpoint.size);
      const trailMap = await trailMapProofAt(vault.ledger, checkpoint, tag);
      const page = await serveTrail(caller, tag, checkpoint.size, body);
      return { checkpoint: checkpoint.note, consistency, ...page, ...(trailMap ? { trailMap } : {}) };
    },
  );

  r.post(
    "/v1/audit/trails",
    {
      schema: {
        summary: "Audit companies: the trails of several patients (all granted patients if none are named)",
        description:
          "Each named patient the company is not granted is refused on its own (and the refusal recorded for that patient); the others are served as in /v1/trail. Patients not named are identified by tag only.",
        tags: ["trails"],
        body: AuditTrailsRequest,
        response: { 200: AuditTrailsReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "auditor") await ctx.allow(caller, "read-trail", {});
      const body = request.body;
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(vault.ledger, body.trustedSize, checkpoint.size);
      const targets = body.patientIds
        ? body.patientIds.map((id) => ({ patientId: id as string | null, tag: vault.patientTag(id) }))
        : deployment.registry
            .grantedPatients(caller.id, now())
            .map((s) => ({ patientId: null, tag: tagOfSubject(s) }));
      const patients = [];
      for (const target of targets) {
        try {
          await ctx.allow(
            caller,
            "read-trail",
            { patient: patientSubject(target.tag) },
            target.patientId ?? { tag: target.tag },
          );
          const trailMap = await trailMapProofAt(vault.ledger, checkpoint, target.tag);
          const page = await serveTrail(caller, target.tag, checkpoint.size, body);
          patients.push({
            patientId: target.patientId,
            tag: toHex(target.tag),
            ...page,
            ...(trailMap ? { trailMap } : {}),
          });
        } catch (error) {
          if (
            !isCustosError(error) ||
            (error.code !== "NOT_AUTHORIZED" && error.code !== "NOT_AUTHENTICATED")
          )
            throw error;
          // A refusal names no tag: a patient named by ID and refused must not hand the caller the
          // tag that would pick that patient's entries out of the log.
          patients.push({
            patientId: target.patientId,
            ...(target.patientId === null ? { tag: toHex(target.tag) } : {}),
            error: { code: error.code, message: error.message },
          });
        }
      }
      return { checkpoint: checkpoint.note, consistency, patients };
    },
  );

  r.post(
    "/v1/query-history",
    {
      schema: {
        summary: "A patient's query history: who read their trail, and who was refused",
        description: "The notices are sealed to the patient; the client decrypts them.",
        tags: ["trails"],
        body: NoticesRequest,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "patient") await ctx.allow(caller, "read-query-history", {});
      const tag = vault.patientTag(caller.id);
      await ctx.allow(caller, "read-query-history", { patient: patientSubject(tag) }, caller.id);
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(vault.ledger, request.body?.trustedSize, checkpoint.size);
      const notices = await noticesUnder(vault.ledger, tag, checkpoint.size, NOTICE_SCAN_LIMIT);
      const items = await provenNotices(vault.ledger, notices, checkpoint.size);
      return { checkpoint: checkpoint.note, consistency, items };
    },
  );

  r.post(
    "/v1/audit/notices",
    {
      schema: {
        summary: "Audit companies: refused requests concerning their granted patients",
        description: `Refusal notices filed under each patient the company is granted now and sealed to the company (refusals recorded while it held the grant), newest first, at most ${MAX_NOTICES}, each with an inclusion proof against \`checkpoint\`. The client decrypts them with its own key. Like a patient's query history, this read is not itself recorded.`,
        tags: ["trails"],
        body: NoticesRequest,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "auditor") await ctx.allow(caller, "read-trail", {});
      // Enrolled and unrevoked, checked once (a refusal here concerns no patient).
      await ctx.allow(caller, "read-log", {});
      const at = now();
      const enrolled = deployment.registry.active("auditor", caller.subject, at);
      if (!enrolled) throw new CustosError("NOT_AUTHENTICATED", "this audit company is not enrolled");
      const reader = recipientFingerprint(enrolled.encryptionKey);
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(vault.ledger, request.body?.trustedSize, checkpoint.size);
      const found: FoundNotice[] = [];
      for (const subject of deployment.registry.grantedPatients(caller.id, at)) {
        const tag = tagOfSubject(subject);
        await ctx.allow(caller, "read-trail", { patient: subject }, { tag });
        found.push(
          ...(await noticesUnder(
            vault.ledger,
            tag,
            checkpoint.size,
            MAX_NOTICES,
            (n) =>
              n.kind === ENTRY_KINDS.refusal && n.content !== undefined && noticeSealedTo(n.content, reader),
          )),
        );
      }
      found.sort((a, b) => b.index - a.index);
      const items = await provenNotices(vault.ledger, found.slice(0, MAX_NOTICES), checkpoint.size);
      return { checkpoint: checkpoint.note, consistency, items };
    },
  );
}

export interface RecordHooks {
  /** Called with the number of records each successful submission stored. */
  readonly ingested?: (count: number) => void;
}
