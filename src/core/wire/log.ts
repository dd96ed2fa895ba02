// The log itself: its identity, inclusion and consistency proofs (RFC 9162) and receipts, served by
// the node and a serving mirror alike (src/service/routes/log-routes.ts).

import { z } from "zod";

/** A leaf index or tree size from a query string or path: a checked integer. */
export const Count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Hashes = z.array(z.string()).describe("base64 SHA-256 hashes");

export const LogReply = z.object({
  origin: z.string(),
  verifierKey: z.string(),
  size: z.number(),
  sequencing: z.boolean().describe("false on a standby node (reads only)"),
});

export const InclusionQuery = z.object({ index: Count, size: Count });
export const InclusionReply = z.object({ index: z.number(), size: z.number(), proof: Hashes });

export const ConsistencyQuery = z.object({ from: Count, to: Count });
export const ConsistencyReply = z.object({ from: z.number(), to: z.number(), proof: Hashes });

export const ReceiptParams = z.object({ index: Count });
export const ReceiptReply = z.object({
  index: z.number(),
  leafHash: z.string(),
  entry: z
    .string()
    .optional()
    .describe(
      "The entry (base64), for those who may see it: an entry naming a patient goes to that patient, an audit company granted the patient, the custodian, nodes, and for a record the source that submitted it",
    ),
  checkpoint: z.string(),
  inclusion: Hashes,
  tlogProof: z.string(),
});
