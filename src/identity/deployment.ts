// A node's view of its deployment: the encrypted-records vault, the CA (where this node holds its key),
// the trust anchor (CA certificate + CRL) and the identity registry derived from the log. Enrollment,
// revocation, grants and refusal records go through here so that each is one signed log entry.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  encodeGrantChangeEntry,
  encodeGrantEntry,
  encodeGrantRevocationEntry,
  encodeIdentityEntry,
  MAX_PATIENTS_PER_GRANT,
} from "../core/entry/index.js";
import { CustosError } from "../core/index.js";
import { Keystore, type MasterKeyProvider } from "../crypto/keystore/index.js";
import type { AppendItem } from "../ledger/index.js";
import { KEYSTORE_FILE_NAME, RESTORE_FROM_BACKUP_HINT } from "../ledger/index.js";
import { legacyDirectoryIn, legacyDirectoryMessage, Vault, type VaultOptions } from "../records/index.js";

/** How a deployment's vault is opened; its readers always come from the registry. */
export type DeploymentOptions = Omit<VaultOptions, "readers">;

import type { Caller, Operation } from "./authorize.js";
import type { Identity } from "./bundle.js";
import {
  CA_KEY_SECRET,
  type CertifiedIdentity,
  type CertifyRequest,
  caDir,
  DeploymentCa,
  type IssuedIdentity,
  type IssueRequest,
} from "./ca.js";
import { refusalNoticeOf } from "./refusal-notice.js";
import { patientSubject, REGISTRY_LOOKUP_KEY, Registry, RegistryDirectory } from "./registry.js";
import { checkId, type Role } from "./roles.js";
import { TrustAnchor } from "./trust.js";

/** Keeps an issued identity (writes its bundle) before it is published; returns how to undo that. */
export type SaveIssued = (issued: IssuedIdentity) => (() => void) | undefined;

export class Deployment {
  readonly dir: string;
  readonly vault: Vault;
  readonly registry: Registry;
  readonly directory: RegistryDirectory;
  #anchor: TrustAnchor;
  readonly #now: () => number;

  private constructor(
    dir: string,
    vault: Vault,
    registry: Registry,
    directory: RegistryDirectory,
    anchor: TrustAnchor,
    now: () => number,
  ) {
    this.dir = dir;
    this.vault = vault;
    this.registry = registry;
    this.directory = directory;
    this.#anchor = anchor;
    this.#now = now;
  }

  static hasCa(dir: string): boolean {
    return existsSync(join(caDir(dir), "ca.pem"));
  }

  /** Creates the deployment CA in an initialized data directory and records it in the log. */
  static async initCa(
    dir: string,
    masterKey: MasterKeyProvider,
    name: string,
    options: DeploymentOptions & { readonly crlUrls?: readonly string[] } = {},
  ): Promise<Deployment> {
    const { crlUrls, ...rest } = options;
    const keystore = await Keystore.open(join(dir, KEYSTORE_FILE_NAME), masterKey);
    const ca = await DeploymentCa.init(dir, keystore, name, options.now, crlUrls);
    // A legacy data directory gets its CA first, then `custos keys upgrade` moves its parties over.
    const deployment = await Deployment.open(dir, masterKey, { ...rest, allowLegacyDirectory: true });
    await deployment.#appendRegistry(
      encodeIdentityEntry(
        {
          time: deployment.#now(),
          action: "ca",
          role: "ca",
          subject: name,
          serials: [ca.certificate.serialNumber],
          signingKey: ca.publicKey,
        },
        (m) => ca.sign(m),
      ),
    );
    return deployment;
  }

  static async open(
    dir: string,
    masterKey: MasterKeyProvider,
    options: DeploymentOptions = {},
  ): Promise<Deployment> {
    if (!Deployment.hasCa(dir)) {
      if (!existsSync(join(dir, KEYSTORE_FILE_NAME))) {
        throw new CustosError(
          "NOT_FOUND",
          `no keystore and no deployment CA in ${dir}. ${RESTORE_FROM_BACKUP_HINT("them")}`,
        );
      }
      const keystore = await Keystore.open(join(dir, KEYSTORE_FILE_NAME), masterKey);
      if (legacyDirectoryIn(keystore)) throw new CustosError("CONFIG", legacyDirectoryMessage(dir));
      throw new CustosError(
        "NOT_FOUND",
        `no deployment CA in ${dir}; run \`custos ca init\` first for a new deployment. ${RESTORE_FROM_BACKUP_HINT("the CA (ca/ca.pem, crl.pem, state.json)")}`,
      );
    }
    const crlPath = join(caDir(dir), "crl.pem");
    const anchor = await TrustAnchor.load(
      readFileSync(join(caDir(dir), "ca.pem"), "utf8"),
      existsSync(crlPath) ? readFileSync(crlPath, "utf8") : undefined,
    );
    let registry: Registry | undefined;
    let directory: RegistryDirectory | undefined;
    const vault = await Vault.open(dir, masterKey, {
      ...options,
      readers: async (ledger, tagOf) => {
        registry = await Registry.load(ledger.store, anchor.caPublicKey);
        directory = new RegistryDirectory(registry, anchor.deployment, tagOf);
        return directory;
      },
    });
    return new Deployment(dir, vault, registry!, directory!, anchor, options.now ?? Date.now);
  }

  get name(): string {
    return this.#anchor.deployment;
  }

  /** The deployment's clock (ms): the one its entries are stamped with. */
  now(): number {
    return this.#now();
  }

  get anchor(): TrustAnchor {
    return this.#anchor;
  }

  /** Re-reads the CA certificate and CRL from disk (after `custos revoke` or `custos ca crl`). */
  async reloadTrust(): Promise<void> {
    const crlPath = join(caDir(this.dir), "crl.pem");
    this.#anchor = await TrustAnchor.load(this.#anchor.caPem, readFileSync(crlPath, "utf8"));
  }

  /**
   * Keeps the CRL fresh on a running node: re-issues it when it has under three days left (if this
   * node holds the CA key) and picks up a CRL re-issued on disk. Returns true when the CRL changed.
   */
  async maintainCrl(): Promise<boolean> {
    const crlPath = join(caDir(this.dir), "crl.pem");
    const before = this.#anchor.crlPem;
    const nextUpdate = this.#anchor.crlNextUpdate;
    if (
      nextUpdate !== undefined &&
      nextUpdate - this.#now() < 3 * 86_400_000 &&
      this.vault.keystore.has(CA_KEY_SECRET)
    ) {
      await this.#ca().writeCrl();
    }
    const onDisk = readFileSync(crlPath, "utf8");
    if (onDisk === before) return false;
    this.#anchor = await TrustAnchor.load(this.#anchor.caPem, onDisk);
    return true;
  }

  /** The CRL distribution points certificates issued from now on name (`custos ca crl-url`). */
  get crlUrls(): readonly string[] {
    return this.#ca().crlUrls;
  }

  /** Sets the CRL distribution points for certificates issued from now on; [] names none. */
  setCrlUrls(urls: readonly string[]): readonly string[] {
    return this.#ca().setCrlUrls(urls);
  }

  /** The registry subject for an identity: the ID, or the patient tag for a patient. */
  subjectOf(role: Role, id: string): string {
    return role === "patient" ? patientSubject(this.vault.patientTag(id)) : id;
  }

  #ca(): DeploymentCa {
    if (!this.vault.keystore.has(CA_KEY_SECRET)) {
      throw new CustosError("KEY_MISSING", "this node does not hold the deployment CA's key");
    }
    return DeploymentCa.open(this.dir, this.vault.keystore, this.#now);
  }

  async #appendRegistry(entry: Uint8Array): Promise<number> {
    const [result] = await this.vault.ledger.append([{ entry, lookupKeys: [REGISTRY_LOOKUP_KEY] }]);
    await this.registry.refresh(this.vault.ledger.store);
    return result!.index;
  }

  /** The registry subject of an identity that may be enrolled now; refuses an active duplicate. */
  #enrollable(role: Role, id: string): string {
    checkId(id);
    const subject = this.subjectOf(role, id);
    if (this.registry.active(role, subject, this.#now())) {
      throw new CustosError(
        "CONFLICT",
        `${role} ${id} is already enrolled; revoke it first to issue new keys`,
      );
    }
    return subject;
  }

  /**
   * Issues an identity's keys and certificates and publishes it in the log. Refuses an active
   * duplicate. `save` (writing the bundle) runs before the entry is appended, and what it returns
   * undoes it if the append fails: a failed enrollment leaves neither a bundle nor an entry.
   */
  async enroll(request: IssueRequest, save?: SaveIssued): Promise<IssuedIdentity & { index: number }> {
    const subject = this.#enrollable(request.role, request.id);
    const ca = this.#ca();
    const { origin, verifierKey } = this.vault.ledger.meta;
    const issued = await ca.issue({ ...request, log: { origin, verifierKey } });
    const index = await this.#publish(ca, request.role, subject, issued, save && (() => save(issued)));
    return { ...issued, index };
  }

  /**
   * Certifies a holder's own public keys (an enrollment request whose proof of possession the caller
   * checked) and publishes the identity in the log. The private keys never reach this node.
   */
  async enrollKeys(request: CertifyRequest): Promise<CertifiedIdentity & { index: number }> {
    const subject = this.#enrollable(request.role, request.id);
    const ca = this.#ca();
    const certified = await ca.certify(request);
    const index = await this.#publish(ca, request.role, subject, certified);
    return { ...certified, index };
  }

  #enrollmentEntry(ca: DeploymentCa, role: Role, subject: string, certified: CertifiedIdentity): Uint8Array {
    return encodeIdentityEntry(
      {
        time: this.#now(),
        action: "enroll",
        role,
        subject,
        serials: certified.serials,
        signingKey: certified.signingPublicKey,
        encryptionKey: certified.encryptionPublicKey,
        certificateHashes: certified.certificateHashes,
        notAfter: certified.notAfter,
      },
      (m) => ca.sign(m),
    );
  }

  async #publish(
    ca: DeploymentCa,
    role: Role,
    subject: string,
    certified: CertifiedIdentity,
    save?: () => (() => void) | undefined,
  ): Promise<number> {
    const entry = this.#enrollmentEntry(ca, role, subject, certified);
    const undo = save?.();
    try {
      return await this.#appendRegistry(entry);
    } catch (error) {
      undo?.();
      throw error;
    }
  }

  /**
   * Revokes an identity: its certificates go on the CRL and the revocation into the log. If the append
   * fails, the CRL files are put back as they were.
   */
  async revoke(role: Role, id: string): Promise<{ serials: string[]; index: number }> {
    const subject = this.subjectOf(role, id);
    const identity = this.registry.identity(role, subject);
    if (!identity || identity.revokedAt !== undefined) {
      throw new CustosError("NOT_FOUND", `${role} ${id} is not an enrolled, unrevoked identity`);
    }
    const ca = this.#ca();
    const entry = encodeIdentityEntry(
      { time: this.#now(), action: "revoke", role, subject, serials: identity.serials },
      (m) => ca.sign(m),
    );
    const before = ca.snapshot();
    await ca.revoke(identity.serials);
    let index: number;
    try {
      index = await this.#appendRegistry(entry);
    } catch (error) {
      ca.restore(before);
      throw error;
    }
    await this.reloadTrust();
    return { serials: [...identity.serials], index };
  }

  /**
   * Replaces an enrolled identity's keys (a lost key, docs/identity.md): its certificates are revoked
   * and the new keys enrolled in one log append, so a failure anywhere leaves the identity as it was
   * (the revocation is not appended alone, the CRL files are put back, a saved bundle is removed).
   * `keys` is either a bundle the node makes (`issue`, written by `save`) or a holder's own keys.
   */
  async replaceKeys(keys: { readonly issue: IssueRequest; readonly save?: SaveIssued }): Promise<{
    readonly revoked: { readonly serials: string[]; readonly index: number };
    readonly enrolled: IssuedIdentity & { readonly index: number };
  }>;
  async replaceKeys(keys: { readonly certify: CertifyRequest }): Promise<{
    readonly revoked: { readonly serials: string[]; readonly index: number };
    readonly enrolled: CertifiedIdentity & { readonly index: number };
  }>;
  async replaceKeys(
    keys: { readonly issue: IssueRequest; readonly save?: SaveIssued } | { readonly certify: CertifyRequest },
  ): Promise<{
    readonly revoked: { readonly serials: string[]; readonly index: number };
    readonly enrolled: (IssuedIdentity | CertifiedIdentity) & { readonly index: number };
  }> {
    const { role, id } = "issue" in keys ? keys.issue : keys.certify;
    const subject = this.subjectOf(role, id);
    const identity = this.registry.identity(role, subject);
    if (!identity || identity.revokedAt !== undefined) {
      throw new CustosError("NOT_FOUND", `${role} ${id} is not an enrolled, unrevoked identity`);
    }
    const ca = this.#ca();
    const { origin, verifierKey } = this.vault.ledger.meta;
    const made =
      "issue" in keys
        ? await ca.issue({ ...keys.issue, log: { origin, verifierKey } })
        : await ca.certify(keys.certify);
    const revocation = encodeIdentityEntry(
      { time: this.#now(), action: "revoke", role, subject, serials: identity.serials },
      (m) => ca.sign(m),
    );
    const enrollment = this.#enrollmentEntry(ca, role, subject, made);
    const before = ca.snapshot();
    const undo = "issue" in keys ? keys.save?.(made as IssuedIdentity) : undefined;
    let results: { index: number }[];
    try {
      await ca.revoke(identity.serials);
      results = await this.vault.ledger.append([
        { entry: revocation, lookupKeys: [REGISTRY_LOOKUP_KEY] },
        { entry: enrollment, lookupKeys: [REGISTRY_LOOKUP_KEY] },
      ]);
    } catch (error) {
      ca.restore(before);
      undo?.();
      throw error;
    }
    await this.registry.refresh(this.vault.ledger.store);
    await this.reloadTrust();
    return {
      revoked: { serials: [...identity.serials], index: results[0]!.index },
      enrolled: { ...made, index: results[1]!.index },
    };
  }

  #checkGrant(admin: Identity, auditor: string, patients: readonly string[]): Uint8Array[] {
    if (admin.role !== "admin") throw new CustosError("NOT_AUTHORIZED", "only an admin signs grants");
    const at = this.#now();
    const enrolled = this.registry.active("admin", admin.id, at);
    if (!enrolled)
      throw new CustosError("NOT_AUTHORIZED", `admin ${admin.id} is not enrolled or was revoked`);
    if (!this.registry.active("auditor", auditor, at)) {
      throw new CustosError("NOT_FOUND", `audit company ${auditor} is not enrolled`);
    }
    if (patients.length === 0 || patients.length > MAX_PATIENTS_PER_GRANT) {
      throw new CustosError("BAD_ARGUMENT", `a grant names 1 to ${MAX_PATIENTS_PER_GRANT} patients`);
    }
    return patients.map((p) => {
      const tag = this.vault.patientTag(checkId(p));
      if (!this.registry.identity("patient", patientSubject(tag))) {
        throw new CustosError("NOT_FOUND", "a granted patient is not enrolled");
      }
      return tag;
    });
  }

  /** An admin grants an audit company read access to patients for a period; signed, in the log. */
  async grant(
    admin: Identity,
    grant: { auditor: string; patients: readonly string[]; from?: number; to?: number },
  ): Promise<number> {
    const patientTags = this.#checkGrant(admin, grant.auditor, grant.patients);
    const entry = encodeGrantEntry(
      {
        time: this.#now(),
        auditor: grant.auditor,
        patientTags,
        from: grant.from ?? this.#now(),
        ...(grant.to !== undefined ? { to: grant.to } : {}),
        admin: admin.id,
      },
      (m) => admin.sign(m),
    );
    const index = await this.#appendRegistry(entry);
    // New readers: the next record of each patient starts a new key epoch.
    for (const patient of grant.patients) this.vault.rotate(patient);
    return index;
  }

  /** An admin ends an audit company's access to patients from `at` (default now). */
  async endGrant(
    admin: Identity,
    end: { auditor: string; patients: readonly string[]; at?: number },
  ): Promise<number> {
    const patientTags = this.#checkGrant(admin, end.auditor, end.patients);
    const entry = encodeGrantRevocationEntry(
      { time: this.#now(), auditor: end.auditor, patientTags, from: end.at ?? this.#now(), admin: admin.id },
      (m) => admin.sign(m),
    );
    const index = await this.#appendRegistry(entry);
    for (const patient of end.patients) this.vault.rotate(patient);
    return index;
  }

  /**
   * An admin changes the period of an audit company's grants to patients: one signed entry after which
   * each patient's access is exactly [from, to) (open-ended without `to`), whatever periods granted
   * it before. Every patient must have been granted to the audit company (a period, past or present);
   * otherwise NOT_FOUND and nothing is written.
   */
  async changeGrant(
    admin: Identity,
    change: { auditor: string; patients: readonly string[]; from: number; to?: number },
  ): Promise<number> {
    const patientTags = this.#checkGrant(admin, change.auditor, change.patients);
    this.checkGrantExists(change.auditor, patientTags);
    const entry = encodeGrantChangeEntry(
      {
        time: this.#now(),
        auditor: change.auditor,
        patientTags,
        from: change.from,
        ...(change.to !== undefined ? { to: change.to } : {}),
        admin: admin.id,
      },
      (m) => admin.sign(m),
    );
    const index = await this.#appendRegistry(entry);
    for (const patient of change.patients) this.vault.rotate(patient);
    return index;
  }

  /** Refuses (NOT_FOUND) a change of period for a patient the audit company was never granted. */
  checkGrantExists(auditor: string, patientTags: readonly Uint8Array[]): void {
    for (const tag of patientTags) {
      if (!this.registry.wasGranted(auditor, patientSubject(tag)))
        throw new CustosError(
          "NOT_FOUND",
          `audit company ${auditor} has no grant to change for a patient named (grant it first)`,
        );
    }
  }

  /**
   * Records a refused request in the log. When a patient is concerned the notice is sealed to that
   * patient, to every audit company granted the patient at that moment and to the custodian(s), filed
   * under the patient's tag, so the patient and their auditors see who tried. Otherwise it is sealed to
   * the custodian(s) and admins.
   */
  async recordRefusal(
    caller: Pick<Caller, "uri" | "role">,
    operation: Operation,
    reason: string,
    patient?: string | { tag: Uint8Array },
  ): Promise<number | undefined> {
    const item = this.refusalNotice(caller, operation, reason, patient);
    if (item === undefined) return undefined;
    const [result] = await this.vault.ledger.append([item]);
    return result!.index;
  }

  /**
   * The sealed refusal notice recordRefusal appends, for a node that records it elsewhere (a read
   * replica's outbox). Undefined when nobody could ever read it.
   */
  refusalNotice(
    caller: Pick<Caller, "uri" | "role">,
    operation: Operation,
    reason: string,
    patient?: string | { tag: Uint8Array },
  ): AppendItem | undefined {
    return refusalNoticeOf(this, caller, operation, reason, patient);
  }

  /**
   * Enrolls identities whose holders made their own keys, many per log append (bulk onboarding,
   * src/identity/bulk-enroll.ts): one CA-signed registry entry each recording the public keys, no
   * certificate (the holder asks for its certificates later). Skips nobody: the caller leaves out
   * identities already active, or marks them `replace` (new keys for an active identity). An identity
   * still on the registry unrevoked (active and replaced, or expired) is revoked in the same append
   * (its certificates on the CRL, put back if the append fails). Each call is one atomic append.
   */
  async enrollPublicKeys(
    requests: readonly {
      role: Role;
      id: string;
      signingKey: Uint8Array;
      encryptionKey: Uint8Array;
      replace?: boolean;
    }[],
    days = 365,
  ): Promise<number> {
    if (requests.length === 0) return 0;
    const ca = this.#ca();
    const at = this.#now();
    const notAfter = at + days * 86_400_000;
    const serials: string[] = [];
    const items: AppendItem[] = [];
    const subjects = new Set<string>();
    for (const r of requests) {
      const subject = this.subjectOf(r.role, checkId(r.id));
      if (subjects.has(`${r.role}\n${subject}`))
        throw new CustosError("BAD_ARGUMENT", `${r.role} ${r.id} is listed twice`);
      subjects.add(`${r.role}\n${subject}`);
      const existing = this.registry.identity(r.role, subject);
      if (existing && existing.revokedAt === undefined) {
        if (!r.replace && this.registry.active(r.role, subject, at))
          throw new CustosError("CONFLICT", `${r.role} ${r.id} is already enrolled`);
        serials.push(...existing.serials);
        items.push({
          entry: encodeIdentityEntry(
            { time: at, action: "revoke", role: r.role, subject, serials: existing.serials },
            (m) => ca.sign(m),
          ),
          lookupKeys: [REGISTRY_LOOKUP_KEY],
        });
      } else if (r.replace) {
        throw new CustosError("NOT_FOUND", `${r.role} ${r.id} is not an enrolled, unrevoked identity`);
      }
      items.push({
        entry: encodeIdentityEntry(
          {
            time: at,
            action: "enroll",
            role: r.role,
            subject,
            serials: [],
            signingKey: r.signingKey,
            encryptionKey: r.encryptionKey,
            notAfter,
          },
          (m) => ca.sign(m),
        ),
        lookupKeys: [REGISTRY_LOOKUP_KEY],
      });
    }
    const before = serials.length > 0 ? ca.snapshot() : undefined;
    try {
      if (serials.length > 0) await ca.revoke(serials);
      await this.vault.ledger.append(items);
    } catch (error) {
      if (before) ca.restore(before);
      throw error;
    }
    await this.registry.refresh(this.vault.ledger.store);
    if (serials.length > 0) await this.reloadTrust();
    return requests.length;
  }

  async close(): Promise<void> {
    await this.vault.close();
  }
}
