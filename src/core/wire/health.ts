// GET /v1/health and GET /v1/ready (src/service/plugins/health.ts): liveness and readiness for
// orchestrators and load balancers, answered without authentication and holding no personal data.

import { z } from "zod";

/** What a node does for the log (src/service/plugins/health.ts says what each takes). */
export const NODE_ROLES = ["sequencer", "standby", "replica"] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

export const HealthReply = z.object({ status: z.literal("ok") });

export const ReadyQuery = z.object({
  role: z
    .string()
    .optional()
    .describe(`200 only on a ready node of this role: ${NODE_ROLES.join(", ")}`),
});

export const WitnessStateReply = z.object({
  configured: z.number().describe("witnesses configured (--witness)"),
  quorum: z.number().describe("cosignatures the quorum needs"),
  cosigned: z.number().describe("cosignatures on the newest witnessed checkpoint"),
  size: z.number().describe("that checkpoint's size (0: none witnessed yet)"),
  behind: z.number().describe("entries of the log past it"),
  quorumSize: z
    .number()
    .describe("size of the newest checkpoint the quorum cosigned: what quorum readers are served (0: none)"),
  quorumBehind: z.number().describe("entries of the log past that one"),
  quorumStaleSeconds: z
    .number()
    .describe("seconds since the log signed a newer checkpoint than that one (0 while it is the newest)"),
});

/** Readiness, 200 or 503 alike: each named check is "ok" or a short reason it is not. */
export const ReadyReply = z.object({
  status: z.enum(["ok", "not ready"]),
  role: z.enum(NODE_ROLES).optional(),
  checks: z.record(z.string(), z.string()),
  witnesses: WitnessStateReply.optional(),
});
