// Bulk onboarding (`custos enroll --bulk FILE.csv`, docs/identity.md "Bulk onboarding"): patients,
// audit companies and grants from one CSV file, enrolled many per log append. Idempotent and
// resumable: an identity already active and a grant already in force are left out, so a run cut off
// (even by kill -9) is simply run again and enrolls only what is missing. Each append is atomic, so
// an interruption never leaves half an identity.
//
// CSV (RFC 4180, header line required): `kind,id,signing_key,encryption_key,auditor`
//   patient|auditor|ehr-source|custodian, ID, [holder's Ed25519 public key, X25519 public key (base64)]
//   grant, PATIENT_ID, , , AUDITOR_ID
// With both public keys the holder made its own keys and only they are recorded (the scale mode);
// without them the operator generates the identity and writes its bundle (slow: certificates).

import { rmSync } from "node:fs";
import { join } from "node:path";
import { MAX_PATIENTS_PER_GRANT } from "../core/entry/index.js";
import { CustosError, fromBase64 } from "../core/index.js";
import { type Identity, writeBundle } from "./bundle.js";
import type { Deployment } from "./deployment.js";
import { patientSubject } from "./registry.js";
import { checkId, type Role } from "./roles.js";

const BULK_ROLES = ["patient", "auditor", "ehr-source", "custodian"] as const;
type BulkRole = (typeof BULK_ROLES)[number];
const HEADER = "kind,id,signing_key,encryption_key,auditor";
/** Identities per log append: large enough to amortize the commit, small enough to lose little. */
export const BULK_BATCH = 2000;

export interface BulkIdentity {
  readonly line: number;
  readonly role: BulkRole;
  readonly id: string;
  readonly keys?: { readonly signingKey: Uint8Array; readonly encryptionKey: Uint8Array };
}

export interface BulkGrant {
  readonly line: number;
  readonly patient: string;
  readonly auditor: string;
}

export interface BulkFile {
  readonly identities: BulkIdentity[];
  readonly grants: BulkGrant[];
}

/** One row of a bulk file as the API takes it (a CSV line, or an element of a JSON array or NDJSON). */
export interface BulkRow {
  readonly kind: string;
  readonly id: string;
  /** The holder's Ed25519 and X25519 public keys (raw, base64); both or neither. */
  readonly signingKey?: string | undefined;
  readonly encryptionKey?: string | undefined;
  /** For a grant: the audit company. */
  readonly auditor?: string | undefined;
}

function key(value: string, where: string, what: string): Uint8Array {
  let bytes: Uint8Array | undefined;
  try {
    bytes = fromBase64(value);
  } catch {
    bytes = undefined;
  }
  if (bytes?.length !== 32)
    throw new CustosError("BAD_ARGUMENT", `${where}: the ${what} is not 32 bytes of base64`);
  return bytes;
}

/**
 * Checks rows (all of them, before anything is written: a bad row changes nothing). `where(n)` names
 * the n-th row in an error ("line 3" for a CSV file, "row 3" for the API); `line` records n.
 */
export function checkBulkRows(
  rows: readonly (BulkRow & { readonly line: number })[],
  where: (line: number) => string,
): BulkFile {
  const identities: BulkIdentity[] = [];
  const grants: BulkGrant[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const { line, kind, id } = row;
    const signing = row.signingKey ?? "";
    const encryption = row.encryptionKey ?? "";
    const auditor = row.auditor ?? "";
    try {
      checkId(id);
    } catch (error) {
      throw new CustosError("BAD_ARGUMENT", `${where(line)}: ${(error as Error).message}`);
    }
    if (kind === "grant") {
      if (!auditor) throw new CustosError("BAD_ARGUMENT", `${where(line)}: a grant names its auditor`);
      if (signing || encryption)
        throw new CustosError("BAD_ARGUMENT", `${where(line)}: a grant carries no keys`);
      try {
        checkId(auditor);
      } catch (error) {
        throw new CustosError("BAD_ARGUMENT", `${where(line)}: ${(error as Error).message}`);
      }
      grants.push({ line, patient: id, auditor });
      continue;
    }
    if (!(BULK_ROLES as readonly string[]).includes(kind))
      throw new CustosError(
        "BAD_ARGUMENT",
        `${where(line)}: kind must be one of ${[...BULK_ROLES, "grant"].join(", ")}`,
      );
    if (auditor) throw new CustosError("BAD_ARGUMENT", `${where(line)}: only a grant names an auditor`);
    const name = `${kind}/${id}`;
    if (seen.has(name)) throw new CustosError("BAD_ARGUMENT", `${where(line)}: ${name} is listed twice`);
    seen.add(name);
    if ((signing === "") !== (encryption === ""))
      throw new CustosError("BAD_ARGUMENT", `${where(line)}: give both public keys or neither`);
    identities.push({
      line,
      role: kind as BulkRole,
      id,
      ...(signing
        ? {
            keys: {
              signingKey: key(signing, where(line), "signing key"),
              encryptionKey: key(encryption, where(line), "encryption key"),
            },
          }
        : {}),
    });
  }
  return { identities, grants };
}

/** The rows of a CSV file (header checked), each with its line number. */
export function bulkCsvRows(text: string): (BulkRow & { line: number })[] {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== HEADER)
    throw new CustosError("BAD_ARGUMENT", `line 1: the header must be "${HEADER}"`);
  const rows: (BulkRow & { line: number })[] = [];
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "") continue;
    const line = i + 1;
    const cells = raw.split(",").map((c) => c.trim());
    if (cells.length !== 5)
      throw new CustosError("BAD_ARGUMENT", `line ${line}: expected 5 comma-separated fields`);
    const [kind, id, signingKey, encryptionKey, auditor] = cells as [string, string, string, string, string];
    rows.push({ line, kind, id, signingKey, encryptionKey, auditor });
  }
  return rows;
}

/** Parses and checks the whole file before anything is written (a bad line changes nothing). */
export function parseBulkCsv(text: string): BulkFile {
  return checkBulkRows(bulkCsvRows(text), (line) => `line ${line}`);
}

export interface BulkCounts {
  readonly patients: number;
  readonly auditors: number;
  readonly grantedPairs: number;
}

/** What the registry holds now, for the before and after lines. */
export function registryCounts(deployment: Deployment, file: BulkFile): BulkCounts {
  const at = deployment.now();
  const active = (role: Role) =>
    deployment.registry.withRole(role).filter((i) => deployment.registry.active(role, i.subject, at)).length;
  return {
    patients: active("patient"),
    auditors: active("auditor"),
    grantedPairs: file.grants.filter((g) => isGranted(deployment, g, at)).length,
  };
}

function isGranted(deployment: Deployment, grant: BulkGrant, at: number): boolean {
  return deployment.registry.isGranted(
    grant.auditor,
    patientSubject(deployment.vault.patientTag(grant.patient)),
    at,
  );
}

export interface BulkPlan {
  /** Not enrolled (or revoked, or expired): enrolled now. */
  readonly enroll: BulkIdentity[];
  /** Enrolled with other public keys than the row's, with `force`: their keys are replaced. */
  readonly replace: BulkIdentity[];
  /** Enrolled (with the row's keys, or a row without keys). */
  readonly alreadyEnrolled: number;
  /** Enrolled with other public keys than the row's, left as they are (no `force`). */
  readonly otherKeys: number;
  /** auditor -> patients to grant */
  readonly grants: Map<string, string[]>;
  readonly alreadyGranted: number;
}

const sameKey = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/**
 * What a run would do: the identities not active now, and the grants not in force now. With `force`,
 * identities enrolled with other public keys than their row's get the row's keys (revoked and enrolled
 * again); a row without keys is never replaced (nothing to compare it with: `custos replace-key`).
 */
export function planBulk(
  deployment: Deployment,
  file: BulkFile,
  options: { force?: boolean } = {},
): BulkPlan {
  const at = deployment.now();
  const enroll: BulkIdentity[] = [];
  const replace: BulkIdentity[] = [];
  let alreadyEnrolled = 0;
  let otherKeys = 0;
  for (const i of file.identities) {
    const active = deployment.registry.active(i.role, deployment.subjectOf(i.role, i.id), at);
    if (!active) enroll.push(i);
    else if (
      i.keys === undefined ||
      (sameKey(active.signingKey, i.keys.signingKey) && sameKey(active.encryptionKey, i.keys.encryptionKey))
    )
      alreadyEnrolled++;
    else if (options.force) replace.push(i);
    else otherKeys++;
  }
  const grants = new Map<string, string[]>();
  let alreadyGranted = 0;
  for (const grant of file.grants) {
    if (isGranted(deployment, grant, at)) {
      alreadyGranted++;
      continue;
    }
    const list = grants.get(grant.auditor) ?? [];
    list.push(grant.patient);
    grants.set(grant.auditor, list);
  }
  return { enroll, replace, alreadyEnrolled, otherKeys, grants, alreadyGranted };
}

/** The public-key enrollments and replacements of a plan, in log-append batches. */
export function publicKeyBatches(
  plan: BulkPlan,
): { role: Role; id: string; signingKey: Uint8Array; encryptionKey: Uint8Array; replace?: true }[][] {
  const all = [
    ...plan.enroll.filter((i) => i.keys !== undefined).map((i) => ({ role: i.role, id: i.id, ...i.keys! })),
    ...plan.replace.map((i) => ({ role: i.role, id: i.id, ...i.keys!, replace: true as const })),
  ];
  const batches = [];
  for (let i = 0; i < all.length; i += BULK_BATCH) batches.push(all.slice(i, i + BULK_BATCH));
  return batches;
}

export interface BulkRun {
  readonly passphrase?: string;
  readonly outDir?: string;
  readonly admin?: Identity;
  readonly days?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Carries out a plan: public-key identities (and replacements) in batches, then operator-made ones,
 * then the grants.
 */
export async function runBulk(deployment: Deployment, plan: BulkPlan, run: BulkRun): Promise<void> {
  const withoutKeys = plan.enroll.filter((i) => i.keys === undefined);
  const grantBatches = [...plan.grants.values()].reduce(
    (n, patients) => n + Math.ceil(patients.length / MAX_PATIENTS_PER_GRANT),
    0,
  );
  if (withoutKeys.length > 0 && (run.outDir === undefined || run.passphrase === undefined))
    throw new CustosError("BAD_ARGUMENT", "rows without public keys need --out DIR for their bundles");
  if (grantBatches > 0 && run.admin === undefined)
    throw new CustosError("BAD_ARGUMENT", "grants need an admin's bundle (--as ADMIN_BUNDLE) to sign them");
  const total = plan.enroll.length + plan.replace.length + grantBatches;
  let done = 0;
  for (const batch of publicKeyBatches(plan)) {
    done += await deployment.enrollPublicKeys(batch, run.days);
    run.onProgress?.(done, total);
  }
  for (const identity of withoutKeys) {
    const path = join(run.outDir!, `${identity.role}-${identity.id}.custos-id`);
    // The bundle is written first and removed again if the log refuses the entry (nothing half-done).
    await deployment.enroll(
      {
        role: identity.role,
        id: identity.id,
        passphrase: run.passphrase!,
        ...(run.days ? { days: run.days } : {}),
      },
      (issued) => {
        writeBundle(path, issued.bundle);
        return () => rmSync(path, { force: true });
      },
    );
    run.onProgress?.(++done, total);
  }
  for (const [auditor, patients] of plan.grants) {
    for (let i = 0; i < patients.length; i += MAX_PATIENTS_PER_GRANT) {
      await deployment.grant(run.admin!, {
        auditor,
        patients: patients.slice(i, i + MAX_PATIENTS_PER_GRANT),
      });
      run.onProgress?.(++done, total);
    }
  }
}
