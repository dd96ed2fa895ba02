// POST /v1/gossip (src/service/routes/gossip-routes.ts): checkpoints a client holds, each checked
// against the receiver's copy of the log. Bounded: a few notes, each at most 16 KiB.

import { z } from "zod";

export const MAX_GOSSIP_CHECKPOINTS = 16;
export const MAX_GOSSIP_NOTE_CHARS = 16 * 1024;

export const GossipRequest = z
  .object({
    checkpoints: z.array(z.string().min(1).max(MAX_GOSSIP_NOTE_CHARS)).min(1).max(MAX_GOSSIP_CHECKPOINTS),
  })
  .strict();

const Verdict = z.object({
  status: z.enum(["consistent", "inconsistent", "unverified", "ignored"]),
  size: z.number().optional(),
  kind: z.string().optional(),
  reason: z.string().optional(),
  alert: z.number().optional().describe("the alert raised (or already raised) for this split view"),
});
export const GossipReply = z.object({ results: z.array(Verdict) });
