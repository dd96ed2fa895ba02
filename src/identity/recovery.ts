// Recovery on identity bundles (docs/identity.md, "Recovery"): with the custodian's key, a patient's
// history is re-wrapped for the audit companies granted the patient now (history from before their
// grant included) and for the patient's current key (a replacement after a loss gets every epoch).
// Each act is one atomic append: the new key envelopes and a notice sealed to the patient, the granted
// audit companies and the custodian, so the patient sees who re-opened their history in their query
// history. The custodian's lawful reading of a trail is recorded the same way.

import { CustosError, fromHex } from "../core/index.js";
import type { AppendItem } from "../ledger/index.js";
import type { Recipient, RecordOpener } from "../records/index.js";
import { planRewrap, type RewrapTarget, sealNotice } from "../records/index.js";
import type { Deployment } from "./deployment.js";
import { patientSubject } from "./registry.js";
import { checkId } from "./roles.js";

export interface RewrapRequest {
  /** The custodian's identity URI (named in the notices). */
  readonly custodian: string;
  readonly opener: RecordOpener;
  /** Only this audit company (default: every audit company granted each patient, and the patient). */
  readonly auditor?: string;
  /** Only these patients (IDs); default: every patient `auditor` is granted, or every enrolled patient. */
  readonly patients?: readonly string[];
  /** Called after each patient, for a progress bar. */
  readonly onPatient?: (done: number, total: number) => void;
}

export interface RewrapReport {
  readonly patients: number;
  readonly envelopes: number;
  /** Patients whose history got new envelopes (one notice each). */
  readonly changed: number;
  readonly unrecoverable: number;
}

function fromHexTag(subject: string): Uint8Array {
  return fromHex(subject.slice("tag:".length));
}

/** The patient tags a re-wrap covers. */
function patientTags(deployment: Deployment, request: RewrapRequest, at: number): Uint8Array[] {
  if (request.patients !== undefined) {
    return request.patients.map((p) => {
      const tag = deployment.vault.patientTag(checkId(p));
      if (!deployment.registry.identity("patient", patientSubject(tag)))
        throw new CustosError("NOT_FOUND", "a named patient is not enrolled");
      return tag;
    });
  }
  const subjects =
    request.auditor !== undefined
      ? deployment.registry.grantedPatients(request.auditor, at)
      : deployment.registry.withRole("patient").map((i) => i.subject);
  return subjects.map(fromHexTag);
}

/** The readers of one patient's history who should hold every epoch key. */
function targetsOf(deployment: Deployment, subject: string, auditor: string | undefined, at: number) {
  const targets: RewrapTarget[] = [];
  const auditors = deployment.directory
    .auditors(subject, at)
    .filter((r) => auditor === undefined || r.id.endsWith(`/auditor/${auditor}`));
  for (const reader of auditors) targets.push({ reader, reason: "regrant" });
  if (auditor === undefined) {
    const patient = deployment.registry.active("patient", subject, at);
    if (patient)
      targets.push({
        reader: { id: "patient", role: "patient", encryptionKey: patient.encryptionKey },
        reason: "recovery",
      });
  }
  return targets;
}

/** Who a notice about this patient is sealed to: the patient, its granted auditors, the custodians. */
export function noticeReaders(deployment: Deployment, subject: string, at: number): Recipient[] {
  const readers: Recipient[] = [...deployment.directory.auditors(subject, at)];
  const patient = deployment.registry.active("patient", subject, at);
  if (patient) readers.unshift({ id: "patient", role: "patient", encryptionKey: patient.encryptionKey });
  readers.push(...deployment.directory.custodians(at));
  return readers;
}

/** Re-wraps the selected patients' history for the readers who lack it; one append per patient. */
export async function rewrapHistory(deployment: Deployment, request: RewrapRequest): Promise<RewrapReport> {
  const at = deployment.now();
  if (request.auditor !== undefined && !deployment.registry.active("auditor", checkId(request.auditor), at))
    throw new CustosError("NOT_FOUND", `audit company ${request.auditor} is not enrolled`);
  const tags = patientTags(deployment, request, at);
  let envelopes = 0;
  let changed = 0;
  let unrecoverable = 0;
  for (const [i, tag] of tags.entries()) {
    const subject = patientSubject(tag);
    const targets = targetsOf(deployment, subject, request.auditor, at);
    if (targets.length > 0) {
      const items = await deployment.vault.itemsByTag(tag);
      const plan = planRewrap(items, tag, request.opener, targets);
      unrecoverable += plan.unrecoverable;
      if (plan.envelopes.length > 0) {
        const given = targets
          .filter((_, t) => plan.perTarget[t]! > 0)
          .map((t) => (t.reader.role === "patient" ? "the patient's current key" : t.reader.id));
        const notice = sealNotice(
          { kind: "query", time: at, patientTag: tag },
          {
            time: new Date(at).toISOString(),
            requester: request.custodian,
            role: "custodian",
            operation: `re-wrap history for ${given.join(", ")}`,
            returned: plan.envelopes.length,
          },
          noticeReaders(deployment, subject, at),
        );
        await deployment.vault.ledger.append([...plan.envelopes, notice]);
        envelopes += plan.envelopes.length;
        changed++;
      }
    }
    request.onPatient?.(i + 1, tags.length);
  }
  return { patients: tags.length, envelopes, changed, unrecoverable };
}

/**
 * The custodian reads a patient's trail for a documented lawful request: the request's reference is
 * recorded first, in a notice the patient sees; only then is the trail opened.
 */
export function lawfulReadNotice(
  deployment: Deployment,
  patientId: string,
  custodian: string,
  reference: string,
): AppendItem {
  if (reference.trim().length < 3 || reference.length > 200)
    throw new CustosError("BAD_ARGUMENT", "a lawful request reference is 3 to 200 characters");
  const at = deployment.now();
  const tag = deployment.vault.patientTag(checkId(patientId));
  return sealNotice(
    { kind: "query", time: at, patientTag: tag },
    {
      time: new Date(at).toISOString(),
      requester: custodian,
      role: "custodian",
      operation: `read-trail for a lawful request: ${reference.trim()}`,
    },
    noticeReaders(deployment, patientSubject(tag), at),
  );
}
