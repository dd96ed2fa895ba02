// Who am I, the admin's grants and revocations, and the signed-challenge login of the portal port
// (src/service/routes/identity-routes.ts).

import { z } from "zod";
import { ID_PATTERN, ROLES } from "./names.js";

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");

export const WhoamiReply = z.object({ identity: z.string(), role: z.string(), id: z.string() });

/** A grant entry the admin built and signed (`custos grant` builds it). */
export const GrantRequest = z.object({ entry: Base64 }).strict();
export const IndexReply = z.object({ index: z.number() });

export const RevocationRequest = z.object({ role: z.enum(ROLES), id: z.string().regex(ID_PATTERN) }).strict();
export const RevocationReply = z.object({ index: z.number(), serials: z.array(z.string()) });

export const LoginChallengeRequest = z.object({}).passthrough().optional();
export const LoginChallengeReply = z.object({
  challengeId: z.string(),
  challenge: z.string(),
  server: z.string(),
  origin: z.string(),
  expiresAt: z.number(),
});

export const LoginRequest = z
  .object({
    challengeId: z.string().max(64),
    certificate: z.string().max(16_384),
    signature: Base64.max(128),
  })
  .strict();
export const LoginReply = z.object({
  token: z.string(),
  expiresAt: z.number(),
  identity: z.string(),
  role: z.string(),
});
