// Live administration through the node (docs/identity.md#live-administration), admins only, over mutual
// TLS: enroll (a bundle the node makes, or certificates for a holder's own keys sent in a signed
// request), patient tags for the grants an admin signs itself (POST /v1/grants), and replacing a lost
// key. Each action is a log entry folded into this node's registry before the reply, so it counts at
// once here; read replicas and standbys fold it within a fraction of a second (server.ts).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { CustosError, toBase64 } from "../../core/index.js";
import {
  EndEpochsReply,
  EndEpochsRequest,
  EnrollmentBody,
  type EnrollmentBodyType,
  EnrollmentReply,
  EpochKeyStats,
  KeyReplacementReply,
  PatientTagsReply,
  PatientTagsRequest,
  type Role,
} from "../../core/wire/index.js";
import { type EnrollmentRequest, patientSubject, verifyEnrollmentRequest } from "../../identity/index.js";
import type { ServiceContext } from "../context.js";

export function registerAdminRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  /** Reloads the TLS context after a revocation, so the revoked certificates fail the handshake too. */
  onRevoked: () => void,
): void {
  const { deployment } = ctx;
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    "/v1/admin/enrollments",
    {
      schema: {
        summary: "Enroll an identity (admins): certify a holder's signed request, or issue a bundle",
        description:
          "With `request` (a custos-enrollment-request the holder signed with its new signing key) the node certifies the holder's public keys and returns the certificates. Without it, `role`, `id` and `passphrase` make the node issue keys and return the whole bundle, encrypted under that passphrase. Either way one CA-signed log entry, in force on every node at once.",
        tags: ["admin"],
        body: EnrollmentBody,
        response: { 200: EnrollmentReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-identities", {});
      return enroll(ctx, request.body);
    },
  );

  r.post(
    "/v1/admin/key-replacements",
    {
      schema: {
        summary: "Replace an identity's lost key (admins): revoke its certificates, enroll new keys",
        description:
          "The same body as an enrollment, for an identity enrolled now: its certificates are revoked (CRL and log), then the new keys are enrolled under the same identity. Two log entries.",
        tags: ["admin"],
        body: EnrollmentBody,
        response: { 200: KeyReplacementReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-identities", {});
      // The revocation and the new enrollment are one log append: a failure changes nothing.
      const { revoked, ...enrolled } = await enroll(ctx, request.body, true);
      onRevoked();
      return { ...enrolled, revoked: revoked! };
    },
  );

  r.post(
    "/v1/admin/patient-tags",
    {
      schema: {
        summary: "Patient tags for a grant an admin signs (admins)",
        description:
          "A grant entry names patients by tag (the node's blind index). The admin asks for the tags, builds and signs the entry itself and posts it to /v1/grants, so the node cannot forge a grant. Every patient must be enrolled.",
        tags: ["admin"],
        body: PatientTagsRequest,
        response: { 200: PatientTagsReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-grants", {});
      const tags = request.body.patients.map((patient) => {
        const tag = deployment.vault.patientTag(patient);
        if (!deployment.registry.identity("patient", patientSubject(tag)))
          throw new CustosError("NOT_FOUND", "a patient named is not enrolled");
        return toBase64(tag);
      });
      return { tags };
    },
  );

  r.get(
    "/v1/admin/epoch-keys",
    {
      schema: {
        summary: "The epoch-key cache of this node (admins)",
        description:
          "Counts since the node started: records sealed under a cached key (hits), new epochs started (misses, epochsStarted), epochs ended (by rotation, the sweep or this route) and the epochs live now. Also in /metrics.",
        tags: ["admin"],
        response: { 200: EpochKeyStats },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-identities", {});
      return deployment.vault.sealer.epochs.stats();
    },
  );

  r.post(
    "/v1/admin/epoch-keys/end",
    {
      schema: {
        summary: "End every live epoch now, clearing the epoch-key cache (admins)",
        description:
          "Each live epoch key is zero-filled and forgotten; each patient's next record starts a new epoch (a new key, wrapped again for its readers). For a suspected compromise of the node's memory, or before a memory dump for support. Answers how many epochs ended.",
        tags: ["admin"],
        body: EndEpochsRequest,
        response: { 200: EndEpochsReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-identities", {});
      const epochs = deployment.vault.sealer.epochs;
      const ended = epochs.stats().active;
      deployment.vault.rotate();
      return { ended, stats: epochs.stats() };
    },
  );
}

function nameOf(body: EnrollmentBodyType): { role: Role; id: string } {
  if (body.request) {
    if (body.role !== undefined || body.id !== undefined || body.passphrase !== undefined)
      throw new CustosError("BAD_ARGUMENT", "send either a request or role, id and passphrase, not both");
    return { role: body.request.role, id: body.request.id };
  }
  if (body.role === undefined || body.id === undefined)
    throw new CustosError("BAD_ARGUMENT", "an enrollment needs a request, or a role and an id");
  return { role: body.role, id: body.id };
}

/** An enrollment, or with `replace` a key replacement of an enrolled identity (`revoked` its index). */
async function enroll(ctx: ServiceContext, body: EnrollmentBodyType, replace = false) {
  const { deployment, now } = ctx;
  const { role, id } = nameOf(body);
  const options = {
    ...(body.days !== undefined ? { days: body.days } : {}),
    ...(body.hosts ? { hosts: body.hosts } : {}),
  };
  if (body.request) {
    const keys = verifyEnrollmentRequest(body.request as EnrollmentRequest, deployment.name, now());
    const request = { role, id, ...keys, ...options };
    const replaced = replace ? await deployment.replaceKeys({ certify: request }) : undefined;
    const certified = replaced?.enrolled ?? (await deployment.enrollKeys(request));
    const { origin, verifierKey } = deployment.vault.ledger.meta;
    return {
      ...(replaced ? { revoked: replaced.revoked.index } : {}),
      index: certified.index,
      uri: certified.uri,
      notAfter: certified.notAfter,
      certificates: {
        uri: certified.uri,
        signingCertificate: certified.signingCertificate,
        encryptionCertificate: certified.encryptionCertificate,
        caCertificate: deployment.anchor.caPem,
        log: { origin, verifierKey },
      },
    };
  }
  if (body.passphrase === undefined)
    throw new CustosError(
      "BAD_ARGUMENT",
      "a bundle the node makes needs a passphrase (8 characters or more)",
    );
  const request = { role, id, passphrase: body.passphrase, ...options };
  const replaced = replace ? await deployment.replaceKeys({ issue: request }) : undefined;
  const issued = replaced?.enrolled ?? (await deployment.enroll(request));
  return {
    ...(replaced ? { revoked: replaced.revoked.index } : {}),
    index: issued.index,
    uri: issued.uri,
    notAfter: issued.notAfter,
    bundle: issued.bundle as unknown as Record<string, unknown>,
  };
}
