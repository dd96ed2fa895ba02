// Trails served by a mirror from its verified copy: POST /v1/trail, /v1/audit/trails, /v1/query-history
// and /v1/audit/notices with the node's request and reply shapes, so the SDK verifies and decrypts a
// mirror's replies unchanged. A mirror holds no blind-index key, so it finds patients by their tag:
// a patient's from the registry entry enrolled with the key of the certificate they present, an audit
// company's patients from the grants in the log. A patient ID it cannot turn into a tag is refused
// with NO_BLIND_INDEX. Each read and each refusal goes to the mirror's own read log (read-log.ts),
// sealed like the node's meta-audit notices, since only the sequencer appends to the log.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { toHex } from "../../core/bytes.js";
import { ENTRY_KINDS } from "../../core/entry/index.js";
import { CustosError, isCustosError } from "../../core/errors.js";
import type { Caller } from "../../identity/authorize.js";
import { patientSubject, type Registry, type RegistryDirectory } from "../../identity/registry.js";
import { noticeSealedTo, sealNotice } from "../../records/notices.js";
import { type Recipient, recipientFingerprint } from "../../records/recipients.js";
import type { ReadContext } from "../context.js";
import { type FoundNotice, noticesUnder, provenNotices } from "../notice-scan.js";
import type { ReadLog } from "../read-log.js";
import { consistencyFrom, type TrailPage, tagOfSubject, trailMapProofAt, trailPage } from "../trail-query.js";
import {
  AuditTrailsReply,
  AuditTrailsRequest,
  Consistency,
  MAX_NOTICES,
  NoticesReply,
  NoticesRequest,
  Page,
  PatientId,
  TrailMapProof,
  Window,
} from "./records-routes.js";

export interface MirrorTrailOptions {
  readonly registry: Registry;
  readonly directory: RegistryDirectory;
  readonly readLog: ReadLog;
}

const NO_BLIND_INDEX_MESSAGE =
  "a mirror cannot look a patient up by ID (it holds no blind-index key): ask for all your granted patients (name none), or ask the node";

export function registerMirrorTrailRoutes(
  app: FastifyInstance,
  ctx: ReadContext,
  options: MirrorTrailOptions,
): void {
  const { registry, directory, readLog } = options;
  const { ledger, now } = ctx;
  const r = app.withTypeProvider<ZodTypeProvider>();

  /** The caller's own patient tag (patients), found from the key they enrolled with. */
  function ownTag(caller: Caller): Uint8Array | undefined {
    return caller.role === "patient" && caller.subject.startsWith("tag:")
      ? tagOfSubject(caller.subject)
      : undefined;
  }

  async function serveTrail(
    caller: Caller,
    tag: Uint8Array,
    size: number,
    window: { from?: string; to?: string; limit?: number; before?: number },
  ): Promise<TrailPage> {
    const at = now();
    const enrolled = registry.active(caller.role, caller.subject, at);
    const page = await trailPage(ledger, size, {
      patientTag: tag,
      ...(window.from ? { from: Date.parse(window.from) } : {}),
      ...(window.to ? { to: Date.parse(window.to) } : {}),
      ...(window.limit ? { limit: window.limit } : {}),
      ...(window.before !== undefined ? { before: window.before } : {}),
      ...(enrolled ? { reader: recipientFingerprint(enrolled.encryptionKey) } : {}),
    });
    // The meta-audit, kept at the mirror: the same notice the node would append, sealed to the same readers.
    const readers: Recipient[] = [...directory.custodians(at)];
    const patient = registry.active("patient", patientSubject(tag), at);
    if (patient) readers.unshift({ id: "patient", role: "patient", encryptionKey: patient.encryptionKey });
    if (readers.length > 0) {
      const notice = sealNotice(
        { kind: "query", time: at, patientTag: tag },
        {
          time: new Date(at).toISOString(),
          requester: caller.uri,
          role: caller.role,
          operation: "read-trail",
          returned: page.items.length,
        },
        readers,
      );
      readLog.record("query", at, tag, notice);
    }
    return page;
  }

  r.post(
    "/v1/trail",
    {
      schema: {
        summary: "One patient's access history from the mirror's verified copy, newest first, with proofs",
        description: `As on the node. A patient reads their own trail; ${NO_BLIND_INDEX_MESSAGE}. Each read is kept in the mirror's read log, sealed to the patient.`,
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
      if (caller.role === "patient") {
        if (body.patientId !== undefined && body.patientId !== caller.id) {
          // Another patient's ID: refused as the node refuses it (the mirror cannot tell whose tag it is).
          await ctx.allow(caller, "read-trail", { patient: "" });
        }
      } else if (caller.role === "auditor") {
        await ctx.allow(caller, "read-log", {});
        if (body.patientId === undefined)
          throw new CustosError("BAD_ARGUMENT", "name the patient (patientId)");
        throw new CustosError("NO_BLIND_INDEX", NO_BLIND_INDEX_MESSAGE);
      }
      const tag = ownTag(caller);
      await ctx.allow(caller, "read-trail", { patient: caller.subject }, tag ? { tag } : undefined);
      if (!tag) throw new CustosError("NOT_AUTHORIZED", "no patient trail for this identity");
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(ledger, body.trustedSize, checkpoint.size);
      const trailMap = await trailMapProofAt(ledger, checkpoint, tag);
      const page = await serveTrail(caller, tag, checkpoint.size, body);
      return { checkpoint: checkpoint.note, consistency, ...page, ...(trailMap ? { trailMap } : {}) };
    },
  );

  r.post(
    "/v1/audit/trails",
    {
      schema: {
        summary: "Audit companies: the trails of all granted patients, from the mirror's verified copy",
        description: `As on the node, for all granted patients (by tag, from the grants in the log); ${NO_BLIND_INDEX_MESSAGE}.`,
        tags: ["trails"],
        body: AuditTrailsRequest,
        response: { 200: AuditTrailsReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "auditor") await ctx.allow(caller, "read-trail", {});
      // Enrolled and unrevoked, checked once before anything is looked up.
      await ctx.allow(caller, "read-log", {});
      const body = request.body;
      if (body.patientIds !== undefined) throw new CustosError("NO_BLIND_INDEX", NO_BLIND_INDEX_MESSAGE);
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(ledger, body.trustedSize, checkpoint.size);
      const patients = [];
      for (const subject of registry.grantedPatients(caller.id, now())) {
        const tag = tagOfSubject(subject);
        try {
          await ctx.allow(caller, "read-trail", { patient: subject }, { tag });
          const trailMap = await trailMapProofAt(ledger, checkpoint, tag);
          const page = await serveTrail(caller, tag, checkpoint.size, body);
          patients.push({ patientId: null, tag: toHex(tag), ...page, ...(trailMap ? { trailMap } : {}) });
        } catch (error) {
          if (
            !isCustosError(error) ||
            (error.code !== "NOT_AUTHORIZED" && error.code !== "NOT_AUTHENTICATED")
          )
            throw error;
          patients.push({
            patientId: null,
            tag: toHex(tag),
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
        summary: "A patient's query history in the log (who read their trail, who was refused)",
        description:
          "The notices the node recorded, from the mirror's verified copy; reads served by this mirror are in its own read log, not here.",
        tags: ["trails"],
        body: NoticesRequest,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      const tag = ownTag(caller);
      await ctx.allow(
        caller,
        "read-query-history",
        { patient: caller.role === "patient" ? caller.subject : "" },
        tag ? { tag } : undefined,
      );
      if (!tag) throw new CustosError("NOT_AUTHORIZED", "only the patient reads who looked at their trail");
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(ledger, request.body?.trustedSize, checkpoint.size);
      const found = await noticesUnder(ledger, tag, checkpoint.size, MAX_NOTICES);
      return {
        checkpoint: checkpoint.note,
        consistency,
        items: await provenNotices(ledger, found, checkpoint.size),
      };
    },
  );

  r.post(
    "/v1/audit/notices",
    {
      schema: {
        summary: "Audit companies: refused requests concerning their granted patients (from the copy)",
        description: `As on the node: refusal notices in the log sealed to the company, newest first, at most ${MAX_NOTICES}.`,
        tags: ["trails"],
        body: NoticesRequest,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "auditor") await ctx.allow(caller, "read-trail", {});
      await ctx.allow(caller, "read-log", {});
      const at = now();
      const enrolled = registry.active("auditor", caller.subject, at);
      if (!enrolled) throw new CustosError("NOT_AUTHENTICATED", "this audit company is not enrolled");
      const reader = recipientFingerprint(enrolled.encryptionKey);
      const checkpoint = await ctx.checkpoint();
      const consistency = await consistencyFrom(ledger, request.body?.trustedSize, checkpoint.size);
      const found: FoundNotice[] = [];
      for (const subject of registry.grantedPatients(caller.id, at)) {
        const tag = tagOfSubject(subject);
        await ctx.allow(caller, "read-trail", { patient: subject }, { tag });
        found.push(
          ...(await noticesUnder(
            ledger,
            tag,
            checkpoint.size,
            MAX_NOTICES,
            (n) =>
              n.kind === ENTRY_KINDS.refusal && n.content !== undefined && noticeSealedTo(n.content, reader),
          )),
        );
      }
      found.sort((a, b) => b.index - a.index);
      const items = await provenNotices(ledger, found.slice(0, MAX_NOTICES), checkpoint.size);
      return { checkpoint: checkpoint.note, consistency, items };
    },
  );
}
