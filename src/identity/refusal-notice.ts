// The sealed notice of a refused request (Deployment.recordRefusal, docs/identity.md): to the patient
// concerned, every audit company granted them at that moment and the custodian(s), filed under the
// patient's tag; without a patient, to the custodian(s) and admins.

import type { AppendItem } from "../ledger/index.js";
import { type NoticeBody, type Recipient, sealNotice } from "../records/index.js";
import type { Caller, Operation } from "./authorize.js";
import type { Deployment } from "./deployment.js";
import { patientSubject } from "./registry.js";

const ZERO_TAG = new Uint8Array(32);

/** Undefined when nobody could ever read it. */
export function refusalNoticeOf(
  deployment: Deployment,
  caller: Pick<Caller, "uri" | "role">,
  operation: Operation,
  reason: string,
  patient?: string | { tag: Uint8Array },
): AppendItem | undefined {
  const at = deployment.now();
  const body: NoticeBody = {
    time: new Date(at).toISOString(),
    requester: caller.uri,
    role: caller.role,
    operation,
    reason,
  };
  const readers: Recipient[] = [...deployment.directory.custodians(at)];
  let tag: Uint8Array = ZERO_TAG;
  if (patient !== undefined) {
    tag = typeof patient === "string" ? deployment.vault.patientTag(patient) : patient.tag;
    const subject = patientSubject(tag);
    readers.unshift(...deployment.directory.auditors(subject, at));
    const enrolled = deployment.registry.active("patient", subject, at);
    if (enrolled) readers.unshift({ id: "patient", role: "patient", encryptionKey: enrolled.encryptionKey });
  } else {
    for (const admin of deployment.registry.withRole("admin").filter((i) => i.revokedAt === undefined)) {
      readers.push({ id: admin.subject, role: "custodian", encryptionKey: admin.encryptionKey });
    }
  }
  if (readers.length === 0) return undefined; // nobody could ever read it: nothing to seal to
  return sealNotice({ kind: "refusal", time: at, patientTag: tag }, body, readers);
}
