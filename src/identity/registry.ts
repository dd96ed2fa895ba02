// The identity registry and the grants, derived from the log: who is enrolled (role, public keys,
// certificate fingerprints), who was revoked, and which audit company may read which patients when.
// Nothing here is a mutable table: the state is a fold over the registry entries in log order, each
// checked against the key that must have signed it (the deployment CA for identities, an enrolled,
// unrevoked admin for grants). An entry that fails its check is ignored and reported as a finding.

import { createPublicKey, type KeyObject, verify } from "node:crypto";
import {
  decodeEntry,
  decodeGrantEntry,
  decodeIdentityEntry,
  ENTRY_KINDS,
  REGISTRY_LOOKUP_KEY,
  signedPart,
  verifyRegistrySignature,
} from "../core/entry/index.js";
import { BoundedCache, CustosError, toHex } from "../core/index.js";
import type { LedgerStore } from "../ledger/index.js";
import type { Recipient, RecipientDirectory } from "../records/index.js";
import type { Role } from "./roles.js";

/** DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410), before the 32 key bytes. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Every registry entry is filed under this lookup key, so the fold reads only them. */
export { REGISTRY_LOOKUP_KEY };

export interface RegisteredIdentity {
  readonly role: Role;
  /** The ID, or `tag:<hex>` for a patient. */
  readonly subject: string;
  readonly signingKey: Uint8Array;
  readonly encryptionKey: Uint8Array;
  readonly serials: readonly string[];
  readonly notAfter: number;
  readonly enrolledAt: number;
  readonly index: number;
  readonly revokedAt?: number;
}

export interface GrantPeriod {
  readonly from: number;
  readonly to?: number;
  readonly index: number;
}

export interface RegistryFinding {
  readonly index: number;
  readonly problem: string;
}

export function patientSubject(patientTag: Uint8Array): string {
  return `tag:${toHex(patientTag)}`;
}

function key(role: string, subject: string): string {
  return `${role}\n${subject}`;
}

export class Registry {
  readonly #identities = new Map<string, RegisteredIdentity>();
  /** auditor ID -> patient subject -> periods */
  readonly #grants = new Map<string, Map<string, GrantPeriod[]>>();
  readonly findings: RegistryFinding[] = [];
  readonly #byRole = new Map<Role, RegisteredIdentity[]>();
  /** role + signing key (hex) -> subject: how a mirror, without the blind-index key, finds a patient. */
  readonly #subjectByKey = new Map<string, string>();
  #caSeen = false;
  #next = 0;
  #refreshing: Promise<void> = Promise.resolve();

  /** The CA's key parsed once: identity entries are checked against it by the hundred thousand. */
  readonly #caKey: KeyObject;

  constructor(caPublicKey: Uint8Array) {
    if (caPublicKey.length !== 32) throw new CustosError("BAD_KEY", "the CA public key is 32 bytes");
    this.#caKey = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, caPublicKey]),
      format: "der",
      type: "spki",
    });
  }

  /** RFC 8032 Ed25519 over the entry's signed part, with the CA key parsed once. Never throws. */
  #signedByCa(bytes: Uint8Array): boolean {
    try {
      const { message, signature } = signedPart(bytes);
      return verify(null, message, this.#caKey, signature);
    } catch {
      return false;
    }
  }

  static async load(store: LedgerStore, caPublicKey: Uint8Array): Promise<Registry> {
    const registry = new Registry(caPublicKey);
    await registry.refresh(store);
    return registry;
  }

  /**
   * Folds in registry entries appended since the last refresh. Refreshes run one after another (a
   * node's follow timer and a request may ask at once), so no entry is folded twice.
   */
  refresh(store: LedgerStore): Promise<void> {
    const run = this.#refreshing.then(() => this.#refresh(store));
    this.#refreshing = run.catch(() => undefined);
    return run;
  }

  async #refresh(store: LedgerStore): Promise<void> {
    for (;;) {
      const indexes = await store.findByLookupKey({
        key: REGISTRY_LOOKUP_KEY,
        fromIndex: this.#next,
        limit: 10_000,
      });
      if (indexes.length === 0) return;
      // One batched read per 10,000 entries (a bulk enrollment appends thousands at once).
      const fresh = indexes.filter((index) => index >= this.#next);
      if (fresh.length === 0) return;
      const entries = await store.getEntriesAt(fresh);
      fresh.forEach((index, i) => {
        const entry = entries[i];
        if (entry?.index !== index)
          throw new CustosError("STORE_CORRUPT", `registry entry ${index} is missing from the store`);
        this.apply(index, entry.data);
        this.#next = index + 1;
      });
    }
  }

  /** Folds one registry entry (in log order). */
  apply(index: number, bytes: Uint8Array): void {
    this.#byRole.clear();
    try {
      const kind = decodeEntry(bytes).kind;
      if (kind === ENTRY_KINDS.identity) this.#applyIdentity(index, bytes);
      else if (
        kind === ENTRY_KINDS.grant ||
        kind === ENTRY_KINDS.grantRevocation ||
        kind === ENTRY_KINDS.grantChange
      )
        this.#applyGrant(index, bytes);
      else this.findings.push({ index, problem: "a non-registry entry is filed as a registry entry" });
    } catch (error) {
      this.findings.push({
        index,
        problem: error instanceof CustosError ? error.message : "malformed registry entry",
      });
    }
  }

  #applyIdentity(index: number, bytes: Uint8Array): void {
    const record = decodeIdentityEntry(bytes);
    if (!this.#signedByCa(bytes)) {
      this.findings.push({ index, problem: "identity entry not signed by the deployment CA" });
      return;
    }
    if (record.action === "ca") {
      this.#caSeen = true;
      return;
    }
    const k = key(record.role, record.subject);
    const existing = this.#identities.get(k);
    if (record.action === "enroll") {
      if (!record.signingKey || !record.encryptionKey || record.notAfter === undefined) {
        this.findings.push({ index, problem: "enrollment without keys or expiry" });
        return;
      }
      if (existing && existing.revokedAt === undefined) {
        this.findings.push({ index, problem: "enrollment of an identity that is already enrolled" });
        return;
      }
      this.#identities.set(k, {
        role: record.role as Role,
        subject: record.subject,
        signingKey: record.signingKey,
        encryptionKey: record.encryptionKey,
        serials: record.serials,
        notAfter: record.notAfter,
        enrolledAt: record.time,
        index,
      });
      this.#subjectByKey.set(key(record.role, toHex(record.signingKey)), record.subject);
    } else if (existing && existing.revokedAt === undefined) {
      this.#identities.set(k, { ...existing, revokedAt: record.time });
    }
  }

  #applyGrant(index: number, bytes: Uint8Array): void {
    const grant = decodeGrantEntry(bytes);
    const admin = this.#identities.get(key("admin", grant.admin));
    if (!admin || admin.revokedAt !== undefined) {
      this.findings.push({ index, problem: "grant signed by no enrolled, unrevoked admin" });
      return;
    }
    if (!verifyRegistrySignature(bytes, admin.signingKey)) {
      this.findings.push({ index, problem: "grant signature is not the named admin's" });
      return;
    }
    let byPatient = this.#grants.get(grant.auditor);
    if (!byPatient) {
      byPatient = new Map();
      this.#grants.set(grant.auditor, byPatient);
    }
    for (const tag of grant.patientTags) {
      const subject = patientSubject(tag);
      const periods = byPatient.get(subject) ?? [];
      if (grant.action === "change") {
        // The period is exactly this one from now on: earlier periods (and earlier ends) give way.
        byPatient.set(subject, [
          { from: grant.from, ...(grant.to !== undefined ? { to: grant.to } : {}), index },
        ]);
      } else if (grant.revocation) {
        const end = grant.from;
        const kept: GrantPeriod[] = [];
        for (const p of periods) {
          if (p.from >= end) continue;
          kept.push(p.to === undefined || p.to > end ? { ...p, to: end } : p);
        }
        byPatient.set(subject, kept);
      } else {
        periods.push({ from: grant.from, ...(grant.to !== undefined ? { to: grant.to } : {}), index });
        byPatient.set(subject, periods);
      }
    }
  }

  get hasCa(): boolean {
    return this.#caSeen;
  }

  /** The enrolled identity (revoked ones included, with revokedAt). */
  identity(role: Role, subject: string): RegisteredIdentity | undefined {
    return this.#identities.get(key(role, subject));
  }

  /** Enrolled, unrevoked and unexpired at `at`. */
  active(role: Role, subject: string, at: number): RegisteredIdentity | undefined {
    const identity = this.identity(role, subject);
    if (!identity || identity.revokedAt !== undefined || at > identity.notAfter) return undefined;
    return identity;
  }

  /**
   * The subject enrolled with this signing key (revoked ones included): a patient's `tag:<hex>` found
   * from the key of the certificate they present, where the blind-index key is not at hand (a mirror).
   */
  subjectOfKey(role: Role, signingKey: Uint8Array): string | undefined {
    return this.#subjectByKey.get(key(role, toHex(signingKey)));
  }

  identities(): RegisteredIdentity[] {
    return [...this.#identities.values()];
  }

  /** The identities of one role (cached until the next registry entry: asked on every seal). */
  withRole(role: Role): readonly RegisteredIdentity[] {
    let list = this.#byRole.get(role);
    if (!list) {
      list = [...this.#identities.values()].filter((i) => i.role === role);
      this.#byRole.set(role, list);
    }
    return list;
  }

  isGranted(auditor: string, patient: string, at: number): boolean {
    const periods = this.#grants.get(auditor)?.get(patient) ?? [];
    return periods.some((p) => p.from <= at && (p.to === undefined || at < p.to));
  }

  /** Whether the auditor holds (or held) a grant period for the patient: one a change of period can set. */
  wasGranted(auditor: string, patient: string): boolean {
    return (this.#grants.get(auditor)?.get(patient)?.length ?? 0) > 0;
  }

  /** Patient subjects the auditor is granted at `at`. */
  grantedPatients(auditor: string, at: number): string[] {
    const out: string[] = [];
    for (const [subject, periods] of this.#grants.get(auditor) ?? []) {
      if (periods.some((p) => p.from <= at && (p.to === undefined || at < p.to))) out.push(subject);
    }
    return out;
  }

  /** Audit companies granted this patient at `at`. */
  auditorsOf(patient: string, at: number): string[] {
    const out: string[] = [];
    for (const [auditor, byPatient] of this.#grants) {
      const periods = byPatient.get(patient) ?? [];
      if (periods.some((p) => p.from <= at && (p.to === undefined || at < p.to))) out.push(auditor);
    }
    return out.sort();
  }
}

/**
 * The readers of a patient's records, from the registry: the patient's enrolled encryption key, every
 * audit company granted the patient at the record's time, and the custodian(s).
 */
export class RegistryDirectory implements RecipientDirectory {
  readonly #registry: Registry;
  readonly #deployment: string;
  readonly #tagOf: (patientId: string) => Uint8Array;
  /** Recently used recipients (bounded: the registry itself holds every identity). */
  readonly #cache = new BoundedCache<Recipient>(100_000);

  constructor(registry: Registry, deployment: string, tagOf: (patientId: string) => Uint8Array) {
    this.#registry = registry;
    this.#deployment = deployment;
    this.#tagOf = tagOf;
  }

  #recipient(role: Recipient["role"], id: string, identity: RegisteredIdentity): Recipient {
    const cacheKey = `${role}\n${id}\n${toHex(identity.encryptionKey)}`;
    let recipient = this.#cache.get(cacheKey);
    if (!recipient) {
      recipient = {
        id: `custos://${this.#deployment}/${role}/${id}`,
        role,
        encryptionKey: identity.encryptionKey,
      };
      this.#cache.set(cacheKey, recipient);
    }
    return recipient;
  }

  async readersOf(patientId: string, at: number): Promise<readonly Recipient[]> {
    const subject = patientSubject(this.#tagOf(patientId));
    const readers: Recipient[] = [];
    const patient = this.#registry.active("patient", subject, at);
    if (patient) readers.push(this.#recipient("patient", patientId, patient));
    readers.push(...this.auditors(subject, at));
    for (const custodian of this.custodians(at)) readers.push(custodian);
    return readers;
  }

  /** The enrolled audit companies granted a patient (a `tag:<hex>` subject) at `at`. */
  auditors(patient: string, at: number): Recipient[] {
    const readers: Recipient[] = [];
    for (const auditor of this.#registry.auditorsOf(patient, at)) {
      const identity = this.#registry.active("auditor", auditor, at);
      if (identity) readers.push(this.#recipient("auditor", auditor, identity));
    }
    return readers;
  }

  custodians(at: number): Recipient[] {
    return this.#registry
      .withRole("custodian")
      .filter((i) => this.#registry.active("custodian", i.subject, at))
      .map((i) => this.#recipient("custodian", i.subject, i));
  }
}
