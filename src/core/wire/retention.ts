// The deployment's lifecycle for admins (src/service/routes/retention-routes.ts): the retention
// policy and the expiry job's progress, and legal holds. Patient IDs travel in request bodies only;
// replies name patients by tag.

import { z } from "zod";
import { MAX_HOLD_REFERENCE_BYTES } from "../entry/index.js";
import { ID_PATTERN } from "./names.js";

export const Hold = z.object({
  scope: z.string(),
  reference: z.string(),
  placedAt: z.string(),
  placedBy: z.string(),
  index: z.number(),
});

export const RetentionReply = z.object({
  retention: z.string(),
  cutoff: z.string(),
  running: z.boolean(),
  cursor: z.number(),
  deferred: z.number(),
  requireArchive: z.boolean(),
  waitingForArchive: z.number(),
  expiredEpochs: z.number(),
  erasedItems: z.number(),
  lastRunAt: z.string().optional(),
  holds: z.array(Hold),
});

export const HoldsReply = z.object({ holds: z.array(Hold) });

export const HoldRequest = z
  .object({
    action: z.enum(["place", "lift"]),
    patient: z.string().regex(ID_PATTERN).optional(),
    reference: z.string().min(1).max(MAX_HOLD_REFERENCE_BYTES),
  })
  .strict();
export const HoldReply = z.object({ index: z.number() });
