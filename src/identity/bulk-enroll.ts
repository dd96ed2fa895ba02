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

function key(value: string, line: number, what: string): Uint8Array {
  let bytes: Uint8Array | undefined;
  try {
    bytes = fromBase64(value);
  } catch {
    bytes = undefined;
  }
  if (bytes?.length !== 32)
    throw new CustosError("BAD_ARGUMENT", `line ${line}: the ${what} is not 32 bytes of base64`);
  return bytes;
}

/** Parses and checks the whole file before anything is written (a bad line changes nothing). */
export function parseBulkCsv(text: string): BulkFile {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== HEADER)
    throw new CustosError("BAD_ARGUMENT", `line 1: the header must be "${HEADER}"`);
  const identities: BulkIdentity[] = [];
  const grants: BulkGrant[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "") continue;
    const line = i + 1;
    const cells = raw.split(",").map((c) => c.trim());
    if (cells.length !== 5)
      throw new CustosError("BAD_ARGUMENT", `line ${line}: expected 5 comma-separated fields`);
    const [kind, id, signing, encryption, auditor] = cells as [string, string, string, string, string];
    try {
      checkId(id);
    } catch (error) {
      throw new CustosError("BAD_ARGUMENT", `line ${line}: ${(error as Error).message}`);
    }
    if (kind === "grant") {
      if (!auditor) throw new CustosError("BAD_ARGUMENT", `line ${line}: a grant names its auditor`);
      grants.push({ line, patient: id, auditor: checkId(auditor) });
      continue;
    }
    if (!(BULK_ROLES as readonly string[]).includes(kind))
      throw new CustosError(
        "BAD_ARGUMENT",
        `line ${line}: kind must be one of ${[...BULK_ROLES, "grant"].join(", ")}`,
      );
    const name = `${kind}/${id}`;
    if (seen.has(name)) throw new CustosError("BAD_ARGUMENT", `line ${line}: ${name} is listed twice`);
    seen.add(name);
    if ((signing === "") !== (encryption === ""))
      throw new CustosError("BAD_ARGUMENT", `line ${line}: give both public keys or neither`);
    identities.push({
      line,
      role: kind as BulkRole,
      id,
      ...(signing
        ? {
            keys: {
              signingKey: key(signing, line, "signing key"),
              encryptionKey: key(encryption, line, "encryption key"),
            },
          }
        : {}),
    });
  }
  return { identities, grants };
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
  readonly enroll: BulkIdentity[];
  readonly alreadyEnrolled: number;
  /** auditor -> patients to grant */
  readonly grants: Map<string, string[]>;
  readonly alreadyGranted: number;
}

export function planBulk(deployment: Deployment, file: BulkFile): BulkPlan {
  const at = deployment.now();
  const enroll = file.identities.filter(
    (i) => !deployment.registry.active(i.role, deployment.subjectOf(i.role, i.id), at),
  );
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
  return { enroll, alreadyEnrolled: file.identities.length - enroll.length, grants, alreadyGranted };
}

export interface BulkRun {
  readonly passphrase?: string;
  readonly outDir?: string;
  readonly admin?: Identity;
  readonly days?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Carries out a plan: public-key identities in batches, then operator-made ones, then the grants. */
export async function runBulk(deployment: Deployment, plan: BulkPlan, run: BulkRun): Promise<void> {
  const withKeys = plan.enroll.filter((i) => i.keys !== undefined);
  const withoutKeys = plan.enroll.filter((i) => i.keys === undefined);
  const grantBatches = [...plan.grants.values()].reduce(
    (n, patients) => n + Math.ceil(patients.length / MAX_PATIENTS_PER_GRANT),
    0,
  );
  if (withoutKeys.length > 0 && (run.outDir === undefined || run.passphrase === undefined))
    throw new CustosError("BAD_ARGUMENT", "rows without public keys need --out DIR for their bundles");
  if (grantBatches > 0 && run.admin === undefined)
    throw new CustosError("BAD_ARGUMENT", "grants need an admin's bundle (--as ADMIN_BUNDLE) to sign them");
  const total = plan.enroll.length + grantBatches;
  let done = 0;
  for (let i = 0; i < withKeys.length; i += BULK_BATCH) {
    const batch = withKeys.slice(i, i + BULK_BATCH);
    done += await deployment.enrollPublicKeys(
      batch.map((b) => ({ role: b.role, id: b.id, ...b.keys! })),
      run.days,
    );
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
