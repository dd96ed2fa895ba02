// Live administration through the node (docs/identity.md#live-administration), admins only, over mutual
// TLS: enroll (a bundle the node makes, or certificates for a holder's own keys sent in a signed
// request), patient tags for the grants an admin signs itself (POST /v1/grants), and replacing a lost
// key. Each action is a log entry folded into this node's registry before the reply, so it counts at
// once here; read replicas and standbys fold it within a fraction of a second (server.ts).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { toBase64 } from "../../core/bytes.js";
import { CustosError } from "../../core/errors.js";
import {
  type EnrollmentRequest,
  REQUEST_FORMAT,
  verifyEnrollmentRequest,
} from "../../identity/enrollment-request.js";
import { patientSubject } from "../../identity/registry.js";
import { ID_PATTERN, ROLES } from "../../identity/roles.js";
import type { ServiceContext } from "../context.js";
import { registerKeyAuditRoute } from "./key-audit-routes.js";

/** Patients per tag request: a grant entry names at most 1500 (MAX_PATIENTS_PER_GRANT). */
const MAX_TAGS = 1500;

const Base64 = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");
const Host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, "a DNS name or an IP address");

export const EnrollmentRequestSchema = z
  .object({
    format: z.literal(REQUEST_FORMAT),
    version: z.literal(1),
    deployment: z.string().max(63),
    role: z.enum(ROLES),
    id: z.string().regex(ID_PATTERN),
    signingKey: Base64,
    encryptionKey: Base64,
    createdAt: z.number().int(),
    signature: Base64,
  })
  .strict();

const Certificates = z.object({
  uri: z.string(),
  signingCertificate: z.string(),
  encryptionCertificate: z.string(),
  caCertificate: z.string(),
  log: z.object({ origin: z.string(), verifierKey: z.string() }).optional(),
});

const Enrolled = z.object({ index: z.number(), uri: z.string(), notAfter: z.number() });

/** Body of POST /v1/admin/enrollments: a holder's request, or (without one) a bundle the node makes. */
export const EnrollmentBody = z
  .object({
    request: EnrollmentRequestSchema.optional(),
    role: z.enum(ROLES).optional(),
    id: z.string().regex(ID_PATTERN).optional(),
    /** The new bundle's passphrase (operator-generated keys only); it never leaves this request. */
    passphrase: z.string().min(8).max(1024).optional(),
    days: z.number().int().min(1).max(3650).optional(),
    hosts: z.array(Host).max(32).optional(),
  })
  .strict();

export type EnrollmentBodyType = z.infer<typeof EnrollmentBody>;

export function registerAdminRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  /** Reloads the TLS context after a revocation, so the revoked certificates fail the handshake too. */
  onRevoked: () => void,
): void {
  const { deployment, now } = ctx;
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
        response: {
          200: Enrolled.extend({
            certificates: Certificates.optional(),
            bundle: z.record(z.string(), z.unknown()).optional(),
          }),
        },
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
        response: {
          200: Enrolled.extend({
            revoked: z.number(),
            certificates: Certificates.optional(),
            bundle: z.record(z.string(), z.unknown()).optional(),
          }),
        },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "manage-identities", {});
      const { role, id } = nameOf(request.body);
      // Checked before anything changes: a bad request must not leave the identity revoked.
      if (request.body.request)
        verifyEnrollmentRequest(request.body.request as EnrollmentRequest, deployment.name, now());
      const revoked = await deployment.revoke(role, id);
      onRevoked();
      const enrolled = await enroll(ctx, request.body);
      return { ...enrolled, revoked: revoked.index };
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
        body: z.object({ patients: z.array(z.string().regex(ID_PATTERN)).min(1).max(MAX_TAGS) }).strict(),
        response: { 200: z.object({ tags: z.array(z.string()) }) },
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

  const EpochKeyStats = z.object({
    hits: z.number(),
    misses: z.number(),
    epochsStarted: z.number(),
    epochsEnded: z.number(),
    swept: z.number(),
    active: z.number(),
  });

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
        body: z.object({}).strict().optional(),
        response: { 200: z.object({ ended: z.number(), stats: EpochKeyStats }) },
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

  registerKeyAuditRoute(app, ctx);
}

function nameOf(body: EnrollmentBodyType): { role: (typeof ROLES)[number]; id: string } {
  if (body.request) {
    if (body.role !== undefined || body.id !== undefined || body.passphrase !== undefined)
      throw new CustosError("BAD_ARGUMENT", "send either a request or role, id and passphrase, not both");
    return { role: body.request.role, id: body.request.id };
  }
  if (body.role === undefined || body.id === undefined)
    throw new CustosError("BAD_ARGUMENT", "an enrollment needs a request, or a role and an id");
  return { role: body.role, id: body.id };
}

async function enroll(ctx: ServiceContext, body: EnrollmentBodyType) {
  const { deployment, now } = ctx;
  const { role, id } = nameOf(body);
  const options = {
    ...(body.days !== undefined ? { days: body.days } : {}),
    ...(body.hosts ? { hosts: body.hosts } : {}),
  };
  if (body.request) {
    const keys = verifyEnrollmentRequest(body.request as EnrollmentRequest, deployment.name, now());
    const certified = await deployment.enrollKeys({ role, id, ...keys, ...options });
    const { origin, verifierKey } = deployment.vault.ledger.meta;
    return {
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
      "BAD_PASSPHRASE",
      "a bundle the node makes needs a passphrase (8 characters or more)",
    );
  const issued = await deployment.enroll({ role, id, passphrase: body.passphrase, ...options });
  return {
    index: issued.index,
    uri: issued.uri,
    notAfter: issued.notAfter,
    bundle: issued.bundle as unknown as Record<string, unknown>,
  };
}
