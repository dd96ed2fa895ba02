// The contract between the portal's logic (portal/src/lib) and its views (portal/src/ui). The logic
// runs in the page: it unlocks the identity bundle, logs in with a signed challenge, fetches replies
// from the node and verifies and decrypts them with the same code as the SDK (src/client,
// src/records, src/core). Nothing here ever leaves the page except the signed login and the queries.

import type { AuditRecord } from "../../../src/core/record/index.js";
import type { KeyAuditPage, KeyAuditQuery } from "./key-audit.js";

/** Served by the node at GET /portal/config.json (open route, no login). */
export interface PortalConfig {
  /** The deployment's name, e.g. "st-elsewhere"; a bundle from another deployment is refused. */
  readonly deployment: string;
  /** The node's identity URI (login challenges are bound to it). */
  readonly node: string;
  /** The log's origin line and note verifier key. */
  readonly log: { readonly origin: string; readonly verifierKey: string };
  /** Witness cosigner verifier keys and how many must have cosigned a checkpoint. */
  readonly witnesses: { readonly keys: readonly string[]; readonly quorum: number };
  /** What the deployment tells people (DIR/portal.json); never used for verification. */
  readonly site?: SiteSettings;
}

/** The deployment's settings for the page (src/service/portal-settings.ts); every field optional. */
export interface SiteSettings {
  readonly hospital?: string;
  /** IANA time zone, e.g. "Europe/Berlin". */
  readonly timeZone?: string;
  /** "HH:MM" start and end; days "sun".."sat". */
  readonly workingHours?: { readonly start: string; readonly end: string; readonly days: readonly string[] };
  readonly privacyContact?: {
    readonly name: string;
    readonly email?: string;
    readonly phone?: string;
    readonly url?: string;
  };
  /** Witness key name or URL -> the organisation that runs it. */
  readonly witnesses?: Readonly<Record<string, string>>;
}

export type PortalRole = "patient" | "auditor" | "custodian" | "admin" | "ehr" | "node" | string;

export interface SignedInIdentity {
  /** custos://<deployment>/<role>/<id> */
  readonly uri: string;
  readonly role: PortalRole;
  readonly id: string;
  readonly deployment: string;
}

/** Where a checkpoint stands: shown on every view. */
export interface VerificationStatus {
  /** Size of the checkpoint every entry shown was proven against. */
  readonly size: number;
  /** The checkpoint note as received (signed by the log, cosigned by witnesses). */
  readonly note: string;
  /** Witness names whose cosignatures verified, and when each cosigned (ms since epoch). */
  readonly cosigned: readonly { readonly name: string; readonly time: number }[];
  readonly quorum: number;
  readonly witnessCount: number;
  /**
   * Present when the node proved the reply against an older checkpoint than its newest, because the
   * newest is not yet cosigned by the quorum (a witness is down or slow): how many log entries and
   * seconds the checkpoint shown is behind. Entries after it are not shown.
   */
  readonly behind?: { readonly entries: number; readonly seconds: number };
}

/** Anything that failed to verify: the page shows it in red, naming the entry. */
export interface VerificationProblem {
  /** Stable error code, e.g. BAD_PROOF, TAMPERED_ENTRY, BAD_CHECKPOINT, FORK_DETECTED. */
  readonly code: string;
  /** One sentence for a person, naming the entry where one is known. */
  readonly message: string;
  /** The log index of the entry concerned, if any. */
  readonly index?: number;
}

/** One access, decrypted and verified. */
export interface AccessRow {
  /** Log index of the entry (unique). */
  readonly index: number;
  /** The patient ID as the auditor or the patient knows it (null when the node did not say). */
  readonly patientId: string | null;
  readonly record: AuditRecord;
  /**
   * Who the user is by the hospital's staff directory (the newest one sealed to this reader), where
   * the directory lists the record's user ID; the record's own name, role and department come first.
   */
  readonly staff?: StaffEntry;
}

/** One person of the hospital's staff directory, as a row borrows them. */
export interface StaffEntry {
  readonly name: string;
  readonly role?: string;
  readonly department?: string;
}

/** The staff directory this reader holds: when it was uploaded and how many people it names. */
export interface StaffDirectoryInfo {
  readonly index: number;
  /** ISO date-time of the upload. */
  readonly time: string;
  readonly people: number;
}

/** A patient an audit company is granted, as its reply named them. */
export interface GrantedPatient {
  /** Named by the node when asked by ID, else by the patient's verified records; null if neither. */
  readonly patientId: string | null;
  /** The tag (hex) the patient's entries are filed under, when the node's reply gave it. */
  readonly tag?: string;
  readonly error?: string;
}

/** A notice: someone read a trail (query) or was refused (refusal). */
export interface NoticeRow {
  readonly index: number;
  readonly kind: "query" | "refusal";
  readonly time: string;
  readonly requester: string;
  readonly role: string;
  readonly operation: string;
  readonly reason?: string;
  readonly returned?: number;
  /** For audit companies: the patient concerned, when known. */
  readonly patientId?: string | null;
  /** The tag (hex) of the patient the notice is filed under, when it concerns one (never exported). */
  readonly patientTag?: string;
}

/** A witness refusal with both signed checkpoints (evidence of a fork). */
export interface AlertRow {
  readonly id: number;
  readonly time: number;
  readonly witness: string;
  readonly message: string;
  /** The two notes that conflict, as text. */
  readonly evidence: readonly string[];
  /** Per note: whether this page verified it carries a valid signature of the log's own key. */
  readonly evidenceSigned: readonly boolean[];
  /** Who found it: a witness refusing the node's checkpoint, or gossip (the node's own check). */
  readonly source: "witness" | "gossip";
  readonly acknowledged: boolean;
  /** The note given with this identity's acknowledgement. */
  readonly acknowledgedNote?: string;
}

export interface AccessFilter {
  /** ISO date-times; from inclusive, to exclusive. */
  readonly from?: string;
  readonly to?: string;
  readonly action?: string;
  readonly user?: string;
  readonly emergency?: boolean;
  /** Auditors: limit to these patients (default: all granted). */
  readonly patientIds?: readonly string[];
}

export interface Loaded<T> {
  readonly rows: T[];
  readonly status: VerificationStatus;
  /** Entries in range this identity holds no key for. */
  readonly notReadable: number;
  /**
   * Entries that failed verification while the rest verified (an audit company's patients are
   * proven one by one): the rows hold nothing of the patient concerned; the page shows each in red.
   */
  readonly problems?: readonly VerificationProblem[];
}

export interface Session {
  readonly identity: SignedInIdentity;
  readonly config: PortalConfig;
  /** The patient's own accesses (patients), newest first; loads every page up to `max` rows. */
  myAccesses(filter?: AccessFilter, max?: number): Promise<Loaded<AccessRow>>;
  /** Accesses across the granted patients (audit companies), newest first. */
  patientAccesses(
    filter?: AccessFilter,
    max?: number,
  ): Promise<Loaded<AccessRow> & { patients: GrantedPatient[] }>;
  /** Who read my trail and who was refused (patients). */
  queryHistory(): Promise<Loaded<NoticeRow>>;
  /** The deployment's security events trail (the privacy office), newest first. */
  securityEvents(filter?: AccessFilter, max?: number): Promise<Loaded<AccessRow>>;
  /** Every refused request sealed to the privacy office (custodians), newest first. */
  officeRefusals(): Promise<Loaded<NoticeRow>>;
  /**
   * The staff directory the access rows were named from (loaded with the first accesses), or
   * undefined when none reaches this reader or the accesses are not loaded yet.
   */
  staffDirectory(): StaffDirectoryInfo | undefined;
  /** Fork and tamper alerts (audit companies, admins). */
  alerts(all?: boolean): Promise<AlertRow[]>;
  /** One page of the key audit (administrators, the privacy office), as the node lists it. */
  keyAudit(query?: KeyAuditQuery): Promise<KeyAuditPage>;
  /** Acknowledges an alert with a note on what was done about it (1 to 1,000 characters). */
  acknowledgeAlert(id: number, note: string): Promise<void>;
  signOut(): void;
}

/** Thrown by every Session method when a reply fails verification. */
export interface VerificationFailure extends Error {
  readonly problem: VerificationProblem;
}
