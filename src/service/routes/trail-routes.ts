// Trails out, on the node and on a serving mirror alike: POST /v1/trail, /v1/audit/trails,
// /v1/query-history and /v1/audit/notices, one implementation with one request and reply shape, so
// the SDK verifies and decrypts either's replies unchanged. What differs between the two is given as
// hooks (TrailHooks): how a patient ID becomes a tag (the node's blind index; a mirror holds no
// blind-index key and knows only a patient caller's own tag, from the key they enrolled with) and
// where a trail read's meta-audit notice goes (the node's log; a mirror's own read log, since only the
// sequencer appends to the log). The mirror's hooks are src/mirror/trail-hooks.ts.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { SECURITY_EVENTS_PATIENT } from "../../atna/index.js";
import { decodeNoticeEntry, ENTRY_KINDS, NOTICES_FILED_KEY } from "../../core/entry/index.js";
import { CustosError, isCustosError, toHex } from "../../core/index.js";
import {
  AuditTrailsReply,
  AuditTrailsRequest,
  MAX_NOTICES,
  NoticesReply,
  NoticesRequest,
  QuorumQuery,
  TrailReply,
  TrailRequest,
} from "../../core/wire/index.js";
import type { Caller } from "../../identity/index.js";
import { patientSubject, type Registry, type RegistryDirectory } from "../../identity/index.js";
import type { AppendItem } from "../../ledger/index.js";
import { noticeSealedTo, type Recipient, recipientFingerprint, sealNotice } from "../../records/index.js";
import type { ReadContext, ServedCheckpoint, ServiceContext } from "../context.js";
import { type FoundNotice, NOTICE_SCAN_LIMIT, noticesUnder, provenNotices } from "../notice-scan.js";
import { consistencyFrom, type TrailPage, tagOfSubject, trailMapProofAt, trailPage } from "../trail-query.js";

/** What the node and a mirror do differently when serving trails. */
export interface TrailHooks {
  /** The registry folded from the log: who is enrolled, and which patients an audit company is granted. */
  readonly registry: Registry;
  /** The readers a trail read's notice is sealed to (custodians), from the same registry. */
  readonly directory: RegistryDirectory;
  /**
   * The tag a patient ID is filed under, or undefined when this server cannot tell it (a mirror: any
   * ID but a patient caller's own). Undefined makes the request fail as described at `untold` below.
   */
  patientTag(patientId: string, caller: Caller): Uint8Array | undefined;
  /** Keeps the sealed notice of a trail read (the meta-audit); resolves once it is durable. */
  recordRead(notice: AppendItem, tag: Uint8Array, at: number): Promise<void>;
}

const NO_BLIND_INDEX_MESSAGE =
  "a mirror cannot look a patient up by ID (it holds no blind-index key): ask for all your granted patients (name none), or ask the node";

/** The node: tags from the deployment's blind index, reads recorded in the log. */
export function registerNodeTrailRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { deployment } = ctx;
  registerTrailRoutes(app, ctx, {
    registry: deployment.registry,
    directory: deployment.directory,
    patientTag: (patientId) => deployment.vault.patientTag(patientId),
    recordRead: (notice) => ctx.recordNotice(notice),
  });
}

export function registerTrailRoutes(app: FastifyInstance, ctx: ReadContext, hooks: TrailHooks): void {
  const { ledger, now } = ctx;
  const { registry, directory } = hooks;
  const r = app.withTypeProvider<ZodTypeProvider>();

  /**
   * A patient ID this server cannot turn into a tag (only a mirror has such). An audit company, once
   * shown to be enrolled, is told to ask without IDs or ask the node; anyone else is refused as the
   * node refuses them (a patient naming another patient, a role that reads no trails), the refusal
   * naming no patient since the tag is not known here.
   */
  async function untold(caller: Caller): Promise<never> {
    if (caller.role === "auditor") {
      await ctx.allow(caller, "read-log", {});
      throw new CustosError("NO_BLIND_INDEX", NO_BLIND_INDEX_MESSAGE);
    }
    await ctx.allow(caller, "read-trail", { patient: "" });
    throw new CustosError("NOT_AUTHORIZED", "no patient trail for this identity");
  }

  /** One trail's reply: the page at the (quorum's) checkpoint, with consistency and trail map proofs. */
  async function trailReply(
    caller: Caller,
    tag: Uint8Array,
    body: Parameters<typeof serveTrail>[3] & { trustedSize?: number },
    quorum: number | undefined,
  ) {
    const checkpoint = await ctx.checkpoint(quorum);
    const consistency = await consistencyFrom(ledger, body.trustedSize, checkpoint.size);
    const trailMap = await trailMapProofAt(ledger, checkpoint, tag);
    const page = await serveTrail(caller, tag, checkpoint.size, body);
    return {
      checkpoint: checkpoint.note,
      consistency,
      ...behindOf(checkpoint),
      ...page,
      ...(trailMap ? { trailMap } : {}),
    };
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
    // The meta-audit: this read of the trail is itself a notice the patient can read.
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
      await hooks.recordRead(notice, tag, at);
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
        body: TrailRequest,
        querystring: QuorumQuery,
        response: { 200: TrailReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      const body = request.body;
      const patientId = body.patientId ?? (caller.role === "patient" ? caller.id : undefined);
      if (!patientId) throw new CustosError("BAD_ARGUMENT", "name the patient (patientId)");
      const tag = hooks.patientTag(patientId, caller) ?? (await untold(caller));
      await ctx.allow(caller, "read-trail", { patient: patientSubject(tag) }, { tag });
      return trailReply(caller, tag, body, request.query.quorum);
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
        querystring: QuorumQuery,
        response: { 200: AuditTrailsReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "auditor") await ctx.allow(caller, "read-trail", {});
      const body = request.body;
      let targets: { patientId: string | null; tag: Uint8Array }[];
      if (body.patientIds) {
        const named = body.patientIds.map((id) => ({ patientId: id, tag: hooks.patientTag(id, caller) }));
        if (named.some((target) => target.tag === undefined)) await untold(caller);
        targets = named.map(({ patientId, tag }) => ({ patientId, tag: tag! }));
      } else {
        targets = registry
          .grantedPatients(caller.id, now())
          .map((s) => ({ patientId: null, tag: tagOfSubject(s) }));
      }
      const checkpoint = await ctx.checkpoint(request.query.quorum);
      const consistency = await consistencyFrom(ledger, body.trustedSize, checkpoint.size);
      const patients = [];
      for (const target of targets) {
        try {
          await ctx.allow(
            caller,
            "read-trail",
            { patient: patientSubject(target.tag) },
            target.patientId ?? { tag: target.tag },
          );
          const trailMap = await trailMapProofAt(ledger, checkpoint, target.tag);
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
      return { checkpoint: checkpoint.note, consistency, ...behindOf(checkpoint), patients };
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
        querystring: QuorumQuery,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "patient") await ctx.allow(caller, "read-query-history", {});
      // A patient's own tag: every server can tell it (a mirror from the key they enrolled with).
      const tag = hooks.patientTag(caller.id, caller);
      if (!tag) throw new CustosError("NOT_AUTHORIZED", "only the patient reads who looked at their trail");
      await ctx.allow(caller, "read-query-history", { patient: patientSubject(tag) }, { tag });
      const checkpoint = await ctx.checkpoint(request.query.quorum);
      const consistency = await consistencyFrom(ledger, request.body?.trustedSize, checkpoint.size);
      const notices = await noticesUnder(ledger, tag, checkpoint.size, NOTICE_SCAN_LIMIT);
      const items = await provenNotices(ledger, notices, checkpoint.size);
      return { checkpoint: checkpoint.note, consistency, ...behindOf(checkpoint), items };
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
        querystring: QuorumQuery,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      if (caller.role !== "auditor") await ctx.allow(caller, "read-trail", {});
      // Enrolled and unrevoked, checked once (a refusal here concerns no patient).
      await ctx.allow(caller, "read-log", {});
      const at = now();
      const enrolled = registry.active("auditor", caller.subject, at);
      if (!enrolled) throw new CustosError("NOT_AUTHENTICATED", "this audit company is not enrolled");
      const reader = recipientFingerprint(enrolled.encryptionKey);
      const checkpoint = await ctx.checkpoint(request.query.quorum);
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
      return { checkpoint: checkpoint.note, consistency, ...behindOf(checkpoint), items };
    },
  );

  r.post(
    "/v1/office/security-events",
    {
      schema: {
        summary: "The privacy office: the deployment's security events trail, with proofs",
        description: `The trail \`${SECURITY_EVENTS_PATIENT}\` (security events that name no patient: ATNA logins, security alerts; docs/atna.md), served to the privacy office (custodian) as /v1/trail serves a patient's: newest first, every entry with an inclusion proof against \`checkpoint\`, encrypted, with the key envelopes sealed to the caller. \`patientId\` may be left out. Each read is recorded in that trail's query history.`,
        tags: ["trails"],
        body: TrailRequest,
        querystring: QuorumQuery,
        response: { 200: TrailReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      const body = request.body;
      if (body.patientId !== undefined && body.patientId !== SECURITY_EVENTS_PATIENT)
        throw new CustosError("BAD_ARGUMENT", `this route serves the trail ${SECURITY_EVENTS_PATIENT} only`);
      await ctx.allow(caller, "read-security-events", {});
      const tag = hooks.patientTag(SECURITY_EVENTS_PATIENT, caller) ?? (await untold(caller));
      return trailReply(caller, tag, body, request.query.quorum);
    },
  );

  r.post(
    "/v1/office/refusals",
    {
      schema: {
        summary: "The privacy office: every refused request, sealed to it",
        description: `Refusal notices sealed to the calling privacy office (custodian), every patient's and those that concern no patient, newest first, at most ${MAX_NOTICES}, each with an inclusion proof against \`checkpoint\`, in the shape of /v1/query-history. The client decrypts them with its own key. The newest ${OFFICE_SCAN_LIMIT.toLocaleString("en")} notices of the log are looked at. Not itself recorded.`,
        tags: ["trails"],
        body: NoticesRequest,
        querystring: QuorumQuery,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "read-refusals", {});
      const enrolled = registry.active("custodian", caller.subject, now());
      if (!enrolled) throw new CustosError("NOT_AUTHENTICATED", "this privacy office is not enrolled");
      const checkpoint = await ctx.checkpoint(request.query.quorum);
      const consistency = await consistencyFrom(ledger, request.body?.trustedSize, checkpoint.size);
      const found = await refusalsSealedTo(
        ledger,
        recipientFingerprint(enrolled.encryptionKey),
        checkpoint.size,
        MAX_NOTICES,
      );
      const items = await provenNotices(ledger, found, checkpoint.size);
      return { checkpoint: checkpoint.note, consistency, ...behindOf(checkpoint), items };
    },
  );
}

/** Entries filed as notices looked at, at most, for the privacy office's refusals (newest first). */
const OFFICE_SCAN_LIMIT = 200_000;
const OFFICE_CHUNK = 2048;

/**
 * The privacy office's refusals: every refusal notice sealed to this custodian's key, newest first, at
 * most `max`. Every notice is filed under the notices-filed marker (since this version files by notice
 * key); the marker's rows are read newest first, refusals kept by their entry's kind before any
 * content is read (reads of trails, the far more numerous notices, are skipped unread).
 */
async function refusalsSealedTo(
  ledger: ReadContext["ledger"],
  reader: Uint8Array,
  size: number,
  max: number,
): Promise<FoundNotice[]> {
  const found: FoundNotice[] = [];
  let before = size;
  let scanned = 0;
  while (scanned < OFFICE_SCAN_LIMIT && found.length < max) {
    const indexes = await ledger.store.findByLookupKey({
      key: NOTICES_FILED_KEY,
      toIndex: before,
      descending: true,
      limit: OFFICE_CHUNK,
    });
    if (indexes.length === 0) break;
    scanned += indexes.length;
    before = indexes[indexes.length - 1]!;
    const refusals = (await ledger.getEntriesAt(indexes)).filter(
      (stored) => stored.data[1] === ENTRY_KINDS.refusal,
    );
    const hashes = refusals.map((stored) => decodeNoticeEntry(stored.data).contentHash);
    const contents = hashes.length > 0 ? await ledger.store.getContents(hashes) : [];
    refusals.forEach((stored, i) => {
      const content = contents[i];
      if (found.length < max && content !== undefined && noticeSealedTo(content, reader))
        found.push({ index: stored.index, kind: ENTRY_KINDS.refusal, entry: stored.data, content });
    });
    if (indexes.length < OFFICE_CHUNK) break;
  }
  return found;
}

/** A reply's `behind`, when it is proven against an older checkpoint than the newest. */
function behindOf(checkpoint: ServedCheckpoint): { behind?: { entries: number; seconds: number } } {
  return checkpoint.behind === undefined ? {} : { behind: checkpoint.behind };
}
