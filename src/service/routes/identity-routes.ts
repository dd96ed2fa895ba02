// Who am I, logging in (portal port), and the admin's grants and revocations.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { decodeGrantEntry, verifyRegistrySignature } from "../../core/entry/index.js";
import { CustosError, fromBase64, isCustosError } from "../../core/index.js";
import {
  GrantRequest,
  IndexReply,
  LoginChallengeReply,
  LoginChallengeRequest,
  LoginReply,
  LoginRequest,
  RevocationReply,
  RevocationRequest,
  WhoamiReply,
} from "../../core/wire/index.js";
import type { Caller } from "../../identity/index.js";
import { REGISTRY_LOOKUP_KEY } from "../../identity/index.js";
import type { ServiceContext } from "../context.js";
import type { LoginService } from "../login.js";

export function registerIdentityRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  onRevoked: () => void,
): void {
  const { deployment, now } = ctx;
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    "/v1/whoami",
    {
      schema: {
        summary: "The caller's identity as this node sees it",
        tags: ["identity"],
        response: { 200: WhoamiReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "read-log", {});
      return { identity: caller.uri, role: caller.role, id: caller.id };
    },
  );

  r.post(
    "/v1/grants",
    {
      schema: {
        summary: "Append a grant or the end of one, signed by the admin who sends it",
        description: "The body carries the grant entry the admin built and signed (custos grant builds it).",
        tags: ["identity"],
        body: GrantRequest,
        response: { 200: IndexReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-grants", {});
      const bytes = base64Bytes(request.body.entry, "entry");
      const grant = checkedGrant(bytes, caller);
      if (grant.action === "change")
        throw new CustosError("BAD_ARGUMENT", "a change of a grant's period goes to POST /v1/grant-periods");
      return { index: await appendGrant(bytes) };
    },
  );

  r.post(
    "/v1/grant-periods",
    {
      schema: {
        summary: "Change the period of grants in force: one entry, signed by the admin who sends it",
        description:
          "The body carries a grant-change entry the admin built and signed (custos grant --change builds it): for each patient it names, the audit company's access is exactly [from, to) from that entry on, whatever periods granted it before. Every patient must have been granted to the audit company (NOT_FOUND otherwise, nothing written).",
        tags: ["identity"],
        body: GrantRequest,
        response: { 200: IndexReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-grants", {});
      const bytes = base64Bytes(request.body.entry, "entry");
      const grant = checkedGrant(bytes, caller);
      if (grant.action !== "change")
        throw new CustosError(
          "BAD_ARGUMENT",
          "not a change of period: grants and their ends go to POST /v1/grants",
        );
      deployment.checkGrantExists(grant.auditor, grant.patientTags);
      return { index: await appendGrant(bytes) };
    },
  );

  /** A grant entry signed by the admin who sends it, for an enrolled audit company. */
  function checkedGrant(bytes: Uint8Array, caller: Caller): ReturnType<typeof decodeGrantEntry> {
    const grant = decodeGrant(bytes);
    if (grant.admin !== caller.id || !verifyRegistrySignature(bytes, caller.signingKey)) {
      throw new CustosError("BAD_SIGNATURE", "the grant must be signed by the admin who sends it");
    }
    if (!deployment.registry.active("auditor", grant.auditor, now())) {
      throw new CustosError("NOT_FOUND", `audit company ${grant.auditor} is not enrolled`);
    }
    return grant;
  }

  /** Appends a checked grant entry; its new readers count at once (a new key epoch for each patient). */
  async function appendGrant(bytes: Uint8Array): Promise<number> {
    const ledger = deployment.vault.ledger;
    const [result] = await ledger.append([{ entry: bytes, lookupKeys: [REGISTRY_LOOKUP_KEY] }]);
    await deployment.registry.refresh(ledger.store);
    deployment.vault.rotate();
    return result!.index;
  }

  r.post(
    "/v1/revocations",
    {
      schema: {
        summary: "Revoke an identity (admins): CRL and log at once",
        tags: ["identity"],
        body: RevocationRequest,
        response: { 200: RevocationReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-identities", {});
      const result = await deployment.revoke(request.body.role, request.body.id);
      onRevoked();
      return { index: result.index, serials: result.serials };
    },
  );
}

/** Base64 from a request; a malformed one (length, padding, stray bits) is the caller's error. */
function base64Bytes(text: string, name: string): Uint8Array {
  try {
    return fromBase64(text);
  } catch (error) {
    throw new CustosError("BAD_ENCODING", `${name} is not canonical base64`, { cause: error });
  }
}

/** A grant entry from a request; its text fields are strict UTF-8, whose decoder throws a TypeError. */
function decodeGrant(bytes: Uint8Array): ReturnType<typeof decodeGrantEntry> {
  try {
    return decodeGrantEntry(bytes);
  } catch (error) {
    if (isCustosError(error)) throw error;
    throw new CustosError("BAD_ENCODING", "the grant entry is malformed", { cause: error });
  }
}

/** The signed-challenge login (portal port only). */
export function registerLoginRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  login: LoginService,
  /** Whether a browser origin is one of this portal's own (only those are given challenges). */
  ownOrigin: (origin: string) => boolean,
): void {
  const { deployment, now } = ctx;
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    "/v1/login/challenge",
    {
      schema: {
        summary: "Start a login: a single-use challenge bound to this node and the request's Origin (60 s)",
        tags: ["login"],
        body: LoginChallengeRequest,
        response: { 200: LoginChallengeReply },
      },
    },
    async (request) => {
      const origin = request.headers.origin;
      if (typeof origin !== "string" || origin.length === 0 || origin.length > 512) {
        throw new CustosError("BAD_CHALLENGE", "a login needs the request's Origin header");
      }
      if (!ownOrigin(origin)) {
        throw new CustosError(
          "BAD_CHALLENGE",
          "logins are accepted only from this node's own portal address (behind a proxy, list it with --portal-origin)",
        );
      }
      return login.issueChallenge(origin);
    },
  );
  r.post(
    "/v1/login",
    {
      schema: {
        summary:
          "Finish a login: the challenge signed with the identity's Ed25519 key; returns a 5-minute token",
        tags: ["login"],
        body: LoginRequest,
        response: { 200: LoginReply },
      },
    },
    async (request) => {
      const { challengeId, certificate, signature } = request.body;
      const origin = request.headers.origin ?? "";
      // The challenge is consumed whatever happens next: it can never be replayed.
      const { principal, signatureBytes } = await (async () => ({
        principal: await deployment.anchor.verify(certificate, "signing", now()),
        signatureBytes: base64Bytes(signature, "signature"),
      }))().catch((error: unknown) => {
        login.discard(challengeId);
        throw error;
      });
      login.consume(challengeId, origin, principal.publicKey, signatureBytes);
      const caller: Caller = {
        uri: principal.uri,
        role: principal.role,
        id: principal.id,
        subject: deployment.subjectOf(principal.role, principal.id),
        signingKey: principal.publicKey,
      };
      await ctx.allow(caller, "read-log", {});
      return { ...(await login.issueToken(caller)), identity: caller.uri, role: caller.role };
    },
  );
}
