// The key audit in the page (GET /v1/admin/key-audit, docs/identity.md "Key audit"): every act on keys
// and access the log holds (enrollments, revocations, grants and their ends, key envelopes, erasures,
// operator actions, legal holds), for administrators and the privacy office. The node derives it from
// its log's entries; the page shows it as the node lists it (it is not proven entry by entry here,
// unlike a trail), checks its shape, and follows its pages. It names no patient: a patient appears
// only by tag.

import { PortalError } from "./errors.js";

export interface KeyAuditEvent {
  /** The log entry. */
  readonly index: number;
  readonly kind: string;
  /** ISO time: the entry's own, or for a key envelope the hour of the first checkpoint covering it. */
  readonly time: string;
  readonly timeFrom: "entry" | "checkpoint";
  /** `role/subject` of each party (a patient as `patient/tag:HEX`). */
  readonly parties: readonly string[];
  /** The node's one line, naming no patient. */
  readonly detail: string;
}

export interface KeyAuditPage {
  readonly events: KeyAuditEvent[];
  /** Where to go on (`after`); absent at the log's end. */
  readonly next?: number;
  /** The log size the listing ran against. */
  readonly size: number;
}

export interface KeyAuditQuery {
  /** `ROLE/ID`: what concerns one party (a patient by ID: the node matches their tag). */
  readonly party?: string;
  readonly after?: number;
  readonly limit?: number;
}

/** Words for each kind the node lists (src/core/wire/key-audit.ts KEY_AUDIT_KINDS). */
export const KEY_AUDIT_WORDS: Readonly<Record<string, string>> = {
  ca: "Deployment set up",
  enrollment: "Identity enrolled",
  revocation: "Identity revoked",
  grant: "Audit company granted patients",
  "grant-end": "Grant ended",
  "grant-change": "Grant period changed",
  "key-envelope": "Key given to a reader",
  erasure: "Keys or content erased",
  "operator-action": "Operator action",
  "legal-hold": "Legal hold",
};

/** The request path for one page. */
export function keyAuditPath(query: KeyAuditQuery = {}): string {
  const params = new URLSearchParams();
  if (query.party) params.set("party", query.party);
  if (query.after !== undefined) params.set("after", String(query.after));
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  const search = params.toString();
  return `/v1/admin/key-audit${search ? `?${search}` : ""}`;
}

const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Checks the shape of a page the node sent; PortalError CONFIG when it is malformed. */
export function checkKeyAuditPage(value: unknown): KeyAuditPage {
  const page = value as { events?: unknown; next?: unknown; size?: unknown } | null;
  const malformed = () => new PortalError("CONFIG", "The node's key audit is malformed.");
  if (typeof page !== "object" || page === null || !Array.isArray(page.events) || !isIndex(page.size))
    throw malformed();
  if (page.next !== undefined && !isIndex(page.next)) throw malformed();
  const events = page.events.map((e: Partial<Record<keyof KeyAuditEvent, unknown>> | null): KeyAuditEvent => {
    if (
      typeof e !== "object" ||
      e === null ||
      !isIndex(e.index) ||
      typeof e.kind !== "string" ||
      typeof e.time !== "string" ||
      Number.isNaN(Date.parse(e.time)) ||
      (e.timeFrom !== "entry" && e.timeFrom !== "checkpoint") ||
      !Array.isArray(e.parties) ||
      !e.parties.every((p) => typeof p === "string") ||
      typeof e.detail !== "string"
    )
      throw malformed();
    return {
      index: e.index,
      kind: e.kind,
      time: e.time,
      timeFrom: e.timeFrom === "entry" ? "entry" : "checkpoint",
      parties: e.parties as string[],
      detail: e.detail,
    };
  });
  return { events, size: page.size, ...(page.next !== undefined ? { next: page.next } : {}) };
}

/**
 * Follows the listing's pages from the log's start until its end or `max` events, and gives them
 * newest first; `complete` says whether the end was reached.
 */
export async function readKeyAudit(
  page: (query: KeyAuditQuery) => Promise<KeyAuditPage>,
  query: Omit<KeyAuditQuery, "after" | "limit"> = {},
  max = 5_000,
): Promise<{ events: KeyAuditEvent[]; complete: boolean; size: number }> {
  const events: KeyAuditEvent[] = [];
  let after: number | undefined;
  let size = 0;
  for (;;) {
    const reply = await page({ ...query, limit: 1000, ...(after !== undefined ? { after } : {}) });
    events.push(...reply.events);
    size = reply.size;
    if (reply.next === undefined || events.length >= max) {
      const complete = reply.next === undefined && events.length <= max;
      return { events: events.slice(0, max).reverse(), complete, size };
    }
    if (after !== undefined && reply.next <= after)
      throw new PortalError("CONFIG", "The node's key audit does not move on.");
    after = reply.next;
  }
}
