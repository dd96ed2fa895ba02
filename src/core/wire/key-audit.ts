// GET /v1/admin/key-audit (src/service/routes/key-audit-routes.ts, docs/identity.md "Key audit"): the
// log's acts on keys and access, one page per call. The kinds are the table src/identity/key-audit.ts
// derives events by.

import { z } from "zod";

export const KEY_AUDIT_KINDS = [
  "ca",
  "enrollment",
  "revocation",
  "grant",
  "grant-end",
  "grant-change",
  "key-envelope",
  "erasure",
  "operator-action",
  "legal-hold",
] as const;
export type KeyAuditKind = (typeof KEY_AUDIT_KINDS)[number];
/** Events per page, at most. */
export const KEY_AUDIT_MAX_LIMIT = 1000;

const Time = z.iso.datetime({ offset: true });

export const KeyAuditQuery = z
  .object({
    party: z
      .string()
      .max(200)
      .regex(/^[a-z-]+\/[^/]+$/, "ROLE/ID")
      .optional(),
    from: Time.optional(),
    to: Time.optional(),
    after: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(KEY_AUDIT_MAX_LIMIT).optional(),
  })
  .strict();

export const KeyAuditEvent = z.object({
  index: z.number(),
  kind: z.enum(KEY_AUDIT_KINDS),
  time: z.string(),
  timeFrom: z.enum(["entry", "checkpoint"]),
  parties: z.array(z.string()),
  detail: z.string(),
});

export const KeyAuditReply = z.object({
  events: z.array(KeyAuditEvent),
  next: z.number().optional(),
  size: z.number(),
  scanned: z.object({ from: z.number(), to: z.number() }),
});
