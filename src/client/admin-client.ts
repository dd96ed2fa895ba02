// An admin's client of a running node (docs/identity.md#live-administration): enrollments (a bundle
// the node makes, or certificates for a holder's signed request), grants the admin signs itself,
// revocations and key replacements, over mutual TLS. Bulk onboarding builds on these calls.

import {
  encodeGrantChangeEntry,
  encodeGrantEntry,
  encodeGrantRevocationEntry,
  encodeHoldEntry,
  type HoldAction,
} from "../core/entry/index.js";
import { CustosError, fromBase64 } from "../core/index.js";
import type {
  BulkRow,
  EnrollmentCertificates,
  EnrollmentRequest,
  KeyAuditKind,
  Role,
} from "../identity/index.js";
import { type Identity, type IdentityBundle, parseBundle } from "../identity/index.js";
import type { StaffMember } from "../records/browser.js";
import { MtlsClient } from "./mtls-client.js";

/** The node's reply to a staff directory upload. */
export interface StaffDirectoryUploaded {
  readonly index: number;
  readonly people: number;
  readonly readers: { readonly patient: number; readonly auditor: number; readonly custodian: number };
}

export interface Enrolled {
  readonly index: number;
  readonly uri: string;
  readonly notAfter: number;
  /** For a holder's request: its certificates. */
  readonly certificates?: EnrollmentCertificates;
  /** For keys the node made: the bundle, encrypted under the passphrase sent. */
  readonly bundle?: IdentityBundle;
}

export type Enrollment =
  | { readonly request: EnrollmentRequest; readonly days?: number; readonly hosts?: readonly string[] }
  | {
      readonly role: Role;
      readonly id: string;
      readonly passphrase: string;
      readonly days?: number;
      readonly hosts?: readonly string[];
    };

/** A page of the key audit as the node sends it (times as ISO 8601). */
export interface KeyAuditReply {
  readonly events: readonly {
    readonly index: number;
    readonly kind: KeyAuditKind;
    readonly time: string;
    readonly timeFrom: "entry" | "checkpoint";
    readonly parties: readonly string[];
    readonly detail: string;
  }[];
  readonly next?: number;
  readonly size: number;
  readonly scanned: { readonly from: number; readonly to: number };
}

export interface GrantChange {
  readonly auditor: string;
  readonly patients: readonly string[];
  /** Start of the grant, or for an end, when access ends (default now). */
  readonly from?: number;
  readonly to?: number;
  /** End the audit company's access from `from` instead of granting. */
  readonly end?: boolean;
}

/** A bulk enrollment's counts as the node replies (POST /v1/admin/bulk-enrollments). */
export interface BulkCountsReply {
  readonly patients: number;
  readonly auditors: number;
  readonly grantedPairs: number;
}
export interface BulkEnrollmentReply {
  readonly dryRun: boolean;
  readonly rows: number;
  readonly before: BulkCountsReply;
  readonly identities: {
    readonly listed: number;
    readonly alreadyEnrolled: number;
    readonly otherKeys: number;
    readonly enrolled: number;
    readonly replaced: number;
    readonly withoutKeys: readonly { readonly role: Role; readonly id: string }[];
  };
  readonly grants: {
    readonly listed: number;
    readonly alreadyInForce: number;
    readonly toSign: readonly { readonly auditor: string; readonly patients: readonly string[] }[];
  };
  readonly after?: BulkCountsReply;
}

export interface EpochKeyStats {
  readonly hits: number;
  readonly misses: number;
  readonly epochsStarted: number;
  readonly epochsEnded: number;
  readonly swept: number;
  readonly active: number;
}

export class AdminClient {
  readonly #http: MtlsClient;
  readonly #admin: Identity;
  readonly #now: () => number;

  constructor(url: string, admin: Identity, now: () => number = Date.now) {
    if (admin.role !== "admin") throw new CustosError("NOT_AUTHORIZED", "--as must be an admin's bundle");
    this.#http = new MtlsClient(url, admin);
    this.#admin = admin;
    this.#now = now;
  }

  async enroll(enrollment: Enrollment): Promise<Enrolled> {
    return this.#enrolled(await this.#http.call("POST", "/v1/admin/enrollments", enrollment));
  }

  /** Revokes an identity's certificates and enrolls new keys for it (a lost or stolen key). */
  async replaceKey(enrollment: Enrollment): Promise<Enrolled & { revoked: number }> {
    const reply = await this.#http.call<{ revoked: number }>(
      "POST",
      "/v1/admin/key-replacements",
      enrollment,
    );
    return { ...this.#enrolled(reply), revoked: reply.revoked };
  }

  /**
   * Enrolls the identities of a batch of bulk rows that the node's registry lacks (public keys only;
   * rows without keys and missing grants come back listed). `dryRun`: counts only.
   */
  async bulkEnroll(
    rows: readonly BulkRow[],
    options: { dryRun?: boolean; force?: boolean; days?: number } = {},
  ): Promise<BulkEnrollmentReply> {
    const params = new URLSearchParams();
    if (options.dryRun) params.set("dryRun", "true");
    if (options.force) params.set("force", "true");
    if (options.days !== undefined) params.set("days", String(options.days));
    const q = params.toString();
    return this.#http.call("POST", `/v1/admin/bulk-enrollments${q ? `?${q}` : ""}`, rows);
  }

  /** The node's epoch-key cache: hits, misses, epochs started, ended, swept, and live now. */
  async epochKeys(): Promise<EpochKeyStats> {
    return this.#http.call("GET", "/v1/admin/epoch-keys");
  }

  /** Ends every live epoch on the node now (keys zero-filled); answers how many ended. */
  async endEpochs(): Promise<{ ended: number; stats: EpochKeyStats }> {
    return this.#http.call("POST", "/v1/admin/epoch-keys/end", {});
  }

  /** One page of the key audit (GET /v1/admin/key-audit); pass a page's `next` as `after` to go on. */
  async keyAudit(query: {
    party?: string;
    from?: string;
    to?: string;
    after?: number;
    limit?: number;
  }): Promise<KeyAuditReply> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) params.set(name, String(value));
    const q = params.toString();
    return this.#http.call("GET", `/v1/admin/key-audit${q ? `?${q}` : ""}`);
  }

  /** Uploads the hospital's staff directory (names for user IDs); the node seals it to the readers. */
  async uploadStaffDirectory(people: readonly StaffMember[]): Promise<StaffDirectoryUploaded> {
    return this.#http.call("POST", "/v1/admin/staff-directory", { people });
  }

  async revoke(role: Role, id: string): Promise<{ index: number; serials: string[] }> {
    return this.#http.call("POST", "/v1/revocations", { role, id });
  }

  /**
   * Grants (or ends) an audit company's access to patients: asks the node for the patients' tags, signs
   * the grant entry with the admin's own key and posts it, so the node cannot forge one.
   */
  async grant(change: GrantChange): Promise<number> {
    const { tags } = await this.#http.call<{ tags: string[] }>("POST", "/v1/admin/patient-tags", {
      patients: change.patients,
    });
    if (tags.length !== change.patients.length)
      throw new CustosError("INTERNAL", "the node returned a tag count that does not match the patients");
    const now = this.#now();
    const record = {
      time: now,
      auditor: change.auditor,
      patientTags: tags.map((t) => fromBase64(t)),
      from: change.from ?? now,
      admin: this.#admin.id,
    };
    const sign = (message: Uint8Array) => this.#admin.sign(message);
    const entry = change.end
      ? encodeGrantRevocationEntry(record, sign)
      : encodeGrantEntry({ ...record, ...(change.to !== undefined ? { to: change.to } : {}) }, sign);
    const { index } = await this.#http.call<{ index: number }>("POST", "/v1/grants", {
      entry: Buffer.from(entry).toString("base64"),
    });
    return index;
  }

  /**
   * Places or lifts a legal hold: asks the node for its time and the patient's tag, builds the hold
   * entry, signs it with the admin's own key and posts it, so the node cannot forge a hold or a lift.
   */
  async hold(request: { action: HoldAction; reference: string; patient?: string }): Promise<number> {
    const draft = await this.#http.call<{ time: number; admin: string; patientTag?: string }>(
      "POST",
      "/v1/holds/draft",
      request.patient === undefined ? {} : { patient: request.patient },
    );
    if (draft.admin !== this.#admin.uri)
      throw new CustosError("INTERNAL", "the node names another admin than this bundle's");
    if ((draft.patientTag === undefined) !== (request.patient === undefined))
      throw new CustosError("INTERNAL", "the node's hold draft does not match the scope asked for");
    const entry = encodeHoldEntry(
      {
        time: draft.time,
        action: request.action,
        ...(draft.patientTag === undefined ? {} : { patientTag: fromBase64(draft.patientTag) }),
        reference: request.reference,
        admin: this.#admin.uri,
      },
      (message) => this.#admin.sign(message),
    );
    const { index } = await this.#http.call<{ index: number }>("POST", "/v1/holds", {
      entry: Buffer.from(entry).toString("base64"),
    });
    return index;
  }

  /**
   * Changes the period of an audit company's grants to patients (POST /v1/grant-periods): one entry
   * the admin signs, after which each patient's access is exactly [from, to).
   */
  async changeGrantPeriod(change: {
    readonly auditor: string;
    readonly patients: readonly string[];
    readonly from: number;
    readonly to?: number;
  }): Promise<number> {
    const { tags } = await this.#http.call<{ tags: string[] }>("POST", "/v1/admin/patient-tags", {
      patients: change.patients,
    });
    if (tags.length !== change.patients.length)
      throw new CustosError("INTERNAL", "the node returned a tag count that does not match the patients");
    const entry = encodeGrantChangeEntry(
      {
        time: this.#now(),
        auditor: change.auditor,
        patientTags: tags.map((t) => fromBase64(t)),
        from: change.from,
        ...(change.to !== undefined ? { to: change.to } : {}),
        admin: this.#admin.id,
      },
      (message) => this.#admin.sign(message),
    );
    const { index } = await this.#http.call<{ index: number }>("POST", "/v1/grant-periods", {
      entry: Buffer.from(entry).toString("base64"),
    });
    return index;
  }

  #enrolled(reply: unknown): Enrolled {
    const r = reply as {
      index: number;
      uri: string;
      notAfter: number;
      bundle?: unknown;
      certificates?: EnrollmentCertificates;
    };
    return {
      index: r.index,
      uri: r.uri,
      notAfter: r.notAfter,
      ...(r.certificates ? { certificates: r.certificates } : {}),
      ...(r.bundle ? { bundle: parseBundle(JSON.stringify(r.bundle), "the bundle the node returned") } : {}),
    };
  }
}
