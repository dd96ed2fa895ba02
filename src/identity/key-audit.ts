// The key audit (issue 19.5, seed 001's key audit log; docs/identity.md "Key audit"): every act on
// keys and access the log holds, in log order: enrollments and key replacements, revocations, grants
// and their ends, key envelopes (an epoch key wrapped for a reader), erasures (keys and content
// destroyed), operator actions (master-key rotation, migrate-store, restore, offline read) and legal
// holds. Derived from the entries themselves, so it says nothing the log does not prove.
//
// Filtered by party (`ROLE/ID`; a patient is matched by their tag, computed by the node, never shown)
// and by time. A key envelope carries no time (the log keeps no more than hours, docs/encryption.md):
// it is dated by the first checkpoint that covers it ("logged by"), to the hour. The listing pages
// through the log: each call scans at most `scanBudget` entries from `after` and says where to go on.

import {
  decodeEntry,
  decodeErasureEntry,
  decodeGrantEntry,
  decodeHoldEntry,
  decodeIdentityEntry,
  decodeOperatorActionEntry,
  ENTRY_KINDS,
  keyEnvelopeFromEntry,
  operatorIsPatient,
  patientTagOfOperator,
} from "../core/entry/index.js";
import { CustosError, toHex } from "../core/index.js";
import { KEY_AUDIT_KINDS, KEY_AUDIT_MAX_LIMIT, type KeyAuditKind } from "../core/wire/index.js";
import type { LedgerStore, StoredCheckpoint } from "../ledger/index.js";
import { recipientFingerprint } from "../records/index.js";
import type { Registry } from "./registry.js";
import { patientSubject } from "./registry.js";
import { ROLES, type Role } from "./roles.js";

// The kinds and the page limit are part of the API's wire shapes (core/wire/key-audit.ts).
export { KEY_AUDIT_KINDS, KEY_AUDIT_MAX_LIMIT, type KeyAuditKind };

export interface KeyAuditEvent {
  readonly index: number;
  readonly kind: KeyAuditKind;
  /** Milliseconds since the epoch: the entry's own time, or for a key envelope the hour it was logged by. */
  readonly time: number;
  readonly timeFrom: "entry" | "checkpoint";
  /** The parties the entry concerns, as `role/subject` (a patient as `patient/tag:HEX`). */
  readonly parties: readonly string[];
  /** One line for people, without personal data. */
  readonly detail: string;
}

export interface KeyAuditQuery {
  /** `ROLE/ID`, e.g. `auditor/A1`, `patient/P001`. */
  readonly party?: string;
  readonly from?: number;
  readonly to?: number;
  /** Scan from this index (a previous page's `next`); default 0. */
  readonly after?: number;
  /** At most this many events (1 to 1000; default 200). */
  readonly limit?: number;
  /** At most this many entries scanned per call (default 50,000). */
  readonly scanBudget?: number;
}

export interface KeyAuditPage {
  readonly events: KeyAuditEvent[];
  /** Where the scan stopped: pass it as `after` to go on; undefined when the log's end was reached. */
  readonly next?: number;
  /** The log size the scan ran against. */
  readonly size: number;
  readonly scanned: { readonly from: number; readonly to: number };
}

const DEFAULT_LIMIT = 200;
const DEFAULT_SCAN = 50_000;
const CHUNK = 2_000;
const HOUR_MS = 3_600_000;

/** What a party filter matches: the subject in registry entries, and the keys it was ever known by. */
interface PartyMatch {
  readonly label: string;
  readonly role: Role;
  readonly subject: string;
  readonly patientTag?: string;
  readonly fingerprints: Set<string>;
}

export interface KeyAuditContext {
  readonly store: LedgerStore;
  readonly registry: Registry;
  /** The deployment's patient tag of an ID (HMAC); only used for a `patient/ID` filter. */
  readonly patientTag: (patientId: string) => Uint8Array;
}

function partyOf(ctx: KeyAuditContext, party: string): PartyMatch {
  const slash = party.indexOf("/");
  const role = party.slice(0, slash) as Role;
  const id = party.slice(slash + 1);
  if (slash <= 0 || id === "" || !(ROLES as readonly string[]).includes(role))
    throw new CustosError("BAD_ARGUMENT", `a party is ROLE/ID with ROLE one of ${ROLES.join(", ")}`);
  const tag = role === "patient" ? toHex(ctx.patientTag(id)) : undefined;
  const subject = tag === undefined ? id : patientSubject(ctx.patientTag(id));
  const fingerprints = new Set<string>();
  const known = ctx.registry.identity(role, subject);
  if (known) fingerprints.add(toHex(recipientFingerprint(known.encryptionKey)));
  return {
    label: `${role}/${subject}`,
    role,
    subject,
    ...(tag === undefined ? {} : { patientTag: tag }),
    fingerprints,
  };
}

/** `role/subject` of every registered encryption key, for naming an envelope's reader. */
function readersByFingerprint(registry: Registry): Map<string, string> {
  const map = new Map<string, string>();
  for (const identity of registry.identities())
    map.set(toHex(recipientFingerprint(identity.encryptionKey)), `${identity.role}/${identity.subject}`);
  return map;
}

/** An identity string (`custos://deployment/role/id`, `role/id` or `id`) names the party. */
function names(identity: string, party: PartyMatch): boolean {
  return (
    identity === party.subject ||
    identity === `${party.role}/${party.subject}` ||
    identity.endsWith(`/${party.role}/${party.subject}`)
  );
}

function loggedBy(checkpoints: readonly StoredCheckpoint[], index: number): number | undefined {
  let lo = 0;
  let hi = checkpoints.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (checkpoints[mid]!.size > index) hi = mid;
    else lo = mid + 1;
  }
  return checkpoints[lo]?.storedAt;
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

interface Described {
  readonly kind: KeyAuditKind;
  readonly time?: number;
  readonly parties: string[];
  readonly detail: string;
  /** Whether the entry concerns the filtered party. */
  readonly concerns: (party: PartyMatch) => boolean;
}

function describe(bytes: Uint8Array, readers: Map<string, string>): Described | undefined {
  switch (bytes[1]) {
    case ENTRY_KINDS.identity: {
      const r = decodeIdentityEntry(bytes);
      const kind: KeyAuditKind =
        r.action === "ca" ? "ca" : r.action === "revoke" ? "revocation" : "enrollment";
      const who = `${r.role}/${r.subject}`;
      const keys = r.encryptionKey
        ? ` encryption key ${toHex(recipientFingerprint(r.encryptionKey)).slice(0, 8)}`
        : "";
      const until = r.notAfter ? ` until ${iso(r.notAfter)}` : "";
      if (r.encryptionKey && r.action === "enroll")
        readers.set(toHex(recipientFingerprint(r.encryptionKey)), who);
      return {
        kind,
        time: r.time,
        parties: [who],
        detail:
          kind === "ca"
            ? "deployment CA established"
            : kind === "revocation"
              ? `revoked ${who} (${r.serials.length} certificate(s))`
              : `enrolled ${who}${keys}${until}`,
        concerns: (p) => {
          if (r.role !== p.role || r.subject !== p.subject) return false;
          if (r.encryptionKey) p.fingerprints.add(toHex(recipientFingerprint(r.encryptionKey)));
          return true;
        },
      };
    }
    case ENTRY_KINDS.grant:
    case ENTRY_KINDS.grantRevocation:
    case ENTRY_KINDS.grantChange: {
      const g = decodeGrantEntry(bytes);
      const tags = g.patientTags.map(toHex);
      const span = `from ${iso(g.from)}${g.to !== undefined ? ` to ${iso(g.to)}` : ""}`;
      return {
        kind: g.action === "end" ? "grant-end" : g.action === "change" ? "grant-change" : "grant",
        time: g.time,
        parties: [`auditor/${g.auditor}`, `admin/${g.admin}`],
        detail:
          g.action === "end"
            ? `access of auditor/${g.auditor} to ${tags.length} patient(s) ends ${iso(g.from)}, by admin/${g.admin}`
            : g.action === "change"
              ? `period of auditor/${g.auditor}'s access to ${tags.length} patient(s) set to ${span}, by admin/${g.admin}`
              : `auditor/${g.auditor} granted ${tags.length} patient(s) ${span}, by admin/${g.admin}`,
        concerns: (p) =>
          p.patientTag !== undefined
            ? tags.includes(p.patientTag)
            : (p.role === "auditor" && g.auditor === p.subject) ||
              (p.role === "admin" && g.admin === p.subject),
      };
    }
    case ENTRY_KINDS.keyEnvelope: {
      const { header } = keyEnvelopeFromEntry(decodeEntry(bytes));
      const fingerprint = toHex(header.recipient);
      const tag = toHex(header.patientTag);
      const reader = readers.get(fingerprint) ?? `${header.role} key ${fingerprint.slice(0, 8)}`;
      return {
        kind: "key-envelope",
        parties: [reader, `patient/tag:${tag}`],
        detail: `epoch key wrapped for ${reader} (${header.reason === "epochStart" ? "new epoch" : header.reason}), patient tag ${tag.slice(0, 8)}, epoch ${toHex(header.epochId).slice(0, 8)}`,
        concerns: (p) => p.patientTag === tag || p.fingerprints.has(fingerprint),
      };
    }
    case ENTRY_KINDS.erasure: {
      const e = decodeErasureEntry(bytes);
      return {
        kind: "erasure",
        time: e.time,
        parties: [e.authorizedBy],
        detail: `${e.contentHashes.length} item(s) destroyed (${e.reason}) of ${e.subject}, authorized by ${e.authorizedBy}`,
        concerns: (p) =>
          (p.patientTag !== undefined && e.subject.includes(p.patientTag)) || names(e.authorizedBy, p),
      };
    }
    case ENTRY_KINDS.operatorAction: {
      const a = decodeOperatorActionEntry(bytes);
      const tag = a.patientTag ? toHex(a.patientTag) : undefined;
      // A patient who acted is named by their tag; an entry written before that rule names them by
      // their identity URI, which carries their ID: shown as "a patient".
      const byTag = patientTagOfOperator(a.operator);
      const operator =
        byTag !== undefined
          ? `patient/tag:${toHex(byTag)}`
          : operatorIsPatient(a.operator)
            ? "a patient"
            : a.operator;
      return {
        kind: "operator-action",
        time: a.time,
        parties: [...new Set([operator, ...(tag ? [`patient/tag:${tag}`] : [])])],
        detail: `${a.action} by ${operator}${a.signed ? " (signed)" : ""}: ${a.detail}`,
        concerns: (p) =>
          (p.patientTag !== undefined && tag === p.patientTag) ||
          (byTag !== undefined && p.patientTag === toHex(byTag)) ||
          (!operatorIsPatient(a.operator) && names(a.operator, p)),
      };
    }
    case ENTRY_KINDS.legalHold: {
      const h = decodeHoldEntry(bytes);
      const tag = h.patientTag ? toHex(h.patientTag) : undefined;
      const on = tag ? `patient tag ${tag.slice(0, 8)}` : "the whole deployment";
      return {
        kind: "legal-hold",
        time: h.time,
        parties: [`admin/${h.admin}`, ...(tag ? [`patient/tag:${tag}`] : [])],
        detail: `legal hold ${h.action === "place" ? "placed on" : "lifted from"} ${on} (${h.reference}), by admin/${h.admin}`,
        concerns: (p) =>
          p.patientTag !== undefined ? tag === undefined || tag === p.patientTag : names(h.admin, p),
      };
    }
    default:
      return undefined;
  }
}

/** One page of the key audit; see the file's head. */
export async function keyAudit(ctx: KeyAuditContext, query: KeyAuditQuery = {}): Promise<KeyAuditPage> {
  const limit = query.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > KEY_AUDIT_MAX_LIMIT)
    throw new CustosError("BAD_ARGUMENT", `limit must be 1 to ${KEY_AUDIT_MAX_LIMIT}`);
  if (query.from !== undefined && query.to !== undefined && query.from > query.to)
    throw new CustosError("BAD_ARGUMENT", "from must not be after to");
  const party = query.party === undefined ? undefined : partyOf(ctx, query.party);
  const size = await ctx.store.getSize();
  const checkpoints = (await ctx.store.listCheckpoints()).sort((a, b) => a.size - b.size);
  let start = query.after ?? 0;
  if (!Number.isInteger(start) || start < 0)
    throw new CustosError("BAD_ARGUMENT", "after must be a log index");
  // Entries logged by a checkpoint stored over an hour before `from` carry earlier times: skip them.
  if (query.from !== undefined) {
    for (const c of checkpoints) if (c.storedAt + HOUR_MS < query.from) start = Math.max(start, c.size);
  }
  const end = Math.min(size, start + (query.scanBudget ?? DEFAULT_SCAN));
  const readers = readersByFingerprint(ctx.registry);
  const events: KeyAuditEvent[] = [];
  let reached = start;
  scan: for await (const chunk of ctx.store.scanEntries(start, end, CHUNK)) {
    for (const stored of chunk) {
      reached = stored.index + 1;
      const described = describe(stored.data, readers);
      if (described === undefined) continue;
      if (party && !described.concerns(party)) continue;
      const own = described.time;
      const time = own ?? loggedBy(checkpoints, stored.index);
      if (time === undefined) continue; // not yet covered by a checkpoint: listed once it is
      if (query.from !== undefined && time < query.from) continue;
      if (query.to !== undefined && time > query.to) continue;
      events.push({
        index: stored.index,
        kind: described.kind,
        time,
        timeFrom: own === undefined ? "checkpoint" : "entry",
        parties: described.parties,
        detail: described.detail,
      });
      if (events.length === limit) break scan;
    }
  }
  return {
    events,
    ...(reached < size ? { next: reached } : {}),
    size,
    scanned: { from: start, to: reached },
  };
}
