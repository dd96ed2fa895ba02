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
  /** Whether the placing entry carries the admin's signature (entries made before holds were signed do not). */
  signed: z.boolean(),
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

/** What an admin asks before building a hold entry: the patient's tag (absent: the whole deployment). */
export const HoldDraftRequest = z.object({ patient: z.string().regex(ID_PATTERN).optional() }).strict();
export const HoldDraftReply = z.object({
  /** The node's clock (ms since 1970): the hold entry's time. */
  time: z.number(),
  /** The caller's identity URI: the hold entry's admin. */
  admin: z.string(),
  /** The patient's tag, base64. */
  patientTag: z.string().optional(),
});

/**
 * A hold entry the admin built and signed (base64; custos hold builds it). The unsigned form of
 * earlier releases (action, patient, reference) is refused with BAD_SIGNATURE, naming this one.
 */
export const HoldRequest = z
  .object({
    entry: z.string().max(4096).optional(),
    action: z.enum(["place", "lift"]).optional(),
    patient: z.string().regex(ID_PATTERN).optional(),
    reference: z.string().min(1).max(MAX_HOLD_REFERENCE_BYTES).optional(),
  })
  .strict();
export const HoldReply = z.object({ index: z.number() });
