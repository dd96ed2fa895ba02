// GET /v1/alerts and POST /v1/alerts/:id/ack (src/service/routes/alert-routes.ts): witness refusals
// and split views gossip proved (src/witness/alerts.ts), each with both signed notes, listed for each
// audit company until it acknowledges them.

import { z } from "zod";

export const ALERT_SOURCES = ["witness", "gossip"] as const;
/** An acknowledgement's note, in characters. */
export const MAX_ALERT_NOTE_CHARS = 1000;

export const Alert = z.object({
  id: z.number(),
  source: z
    .enum(ALERT_SOURCES)
    .optional()
    .describe("a witness refusing the node's checkpoint (absent in older alerts), or gossip"),
  kind: z.string().optional().describe("gossip: the kind of inconsistency, e.g. same-size-different-root"),
  key: z.string().optional().describe("gossip: names the conflicting pair (raised once)"),
  evidence: z
    .object({
      foreignNote: z.string(),
      referenceNote: z.string(),
      proof: z
        .object({
          fromSize: z.number(),
          fromRoot: z.string(),
          toSize: z.number(),
          hashes: z.array(z.string()).readonly(),
        })
        .optional(),
    })
    .optional()
    .describe("gossip: both notes signed by the log's key, and the proof that they cannot both hold"),
  at: z.number().describe("ms since 1970"),
  witness: z.string().describe("the witness (or gossip peer) that showed it"),
  size: z.number(),
  reason: z.string(),
  checkpoint: z.string().describe("the checkpoint the node submitted; for gossip, the reference's own"),
  witnessCheckpoint: z
    .string()
    .nullable()
    .describe("the checkpoint the witness holds, if it gave it; for gossip, the foreign one"),
  acknowledged: z
    .object({ by: z.string(), at: z.number(), note: z.string().optional() })
    .optional()
    .describe("the caller's own acknowledgement"),
});

export const AlertsQuery = z.object({
  all: z.string().optional().describe("`true` lists the alerts the caller acknowledged too"),
});
export const AlertsReply = z.object({ alerts: z.array(Alert) });

export const AlertParams = z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters other than newline are refused
const NO_CONTROL = /^[^\u0000-\u0009\u000b-\u001f\u007f]*$/;
export const AlertAckRequest = z
  .object({
    note: z
      .string()
      .max(MAX_ALERT_NOTE_CHARS)
      .regex(NO_CONTROL, "an acknowledgement's note has no control characters but newline")
      .refine((note) => note.trim() !== "", "an acknowledgement's note is not blank")
      .optional()
      .describe("what was done about it (1 to 1,000 characters), kept with the acknowledgement"),
  })
  .strict()
  .nullish();
export const AlertAckReply = z.object({ alert: Alert });

export type WireAlert = z.infer<typeof Alert>;
