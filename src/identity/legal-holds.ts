// Placing and lifting legal holds: only an enrolled, unrevoked admin; each one a `legalHold` entry
// naming the admin, filed under the holds key. A hold on one patient also leaves the patient a notice
// (sealed to the patient and the custodians, like a query of their trail), so the patient sees in their
// query history that their records are held, and when the hold is lifted.

import { encodeHoldEntry, type HoldAction } from "../core/entry/index.js";
import { CustosError } from "../core/index.js";
import type { AppendItem } from "../ledger/index.js";
import type { Recipient } from "../records/index.js";
import { HOLDS_LOOKUP_KEY, Holds, type NoticeBody, sealNotice } from "../records/index.js";
import type { Caller } from "./authorize.js";
import type { Deployment } from "./deployment.js";
import { patientSubject } from "./registry.js";
import { checkId } from "./roles.js";

export interface HoldRequest {
  readonly action: HoldAction;
  /** The patient's ID; undefined for a hold on the whole deployment. */
  readonly patient?: string;
  readonly reference: string;
}

/** The notice operations a patient's query history shows for a hold. */
export const HOLD_NOTICE_OPERATIONS = { place: "legal-hold-placed", lift: "legal-hold-lifted" } as const;

/**
 * Appends a hold (placed or lifted) at the request of `admin`. Refuses a hold that already stands
 * (CONFLICT) and the lifting of one that does not (NOT_FOUND). Returns the hold entry's index.
 */
export async function changeHold(
  deployment: Deployment,
  admin: Pick<Caller, "uri" | "role" | "id">,
  request: HoldRequest,
  now: number,
): Promise<{ index: number }> {
  if (admin.role !== "admin" || !deployment.registry.active("admin", admin.id, now))
    throw new CustosError("NOT_AUTHORIZED", "only an enrolled admin places or lifts legal holds");
  const ledger = deployment.vault.ledger;
  const tag =
    request.patient === undefined ? undefined : deployment.vault.patientTag(checkId(request.patient));
  const entry = encodeHoldEntry({
    time: now,
    action: request.action,
    ...(tag === undefined ? {} : { patientTag: tag }),
    reference: request.reference,
    admin: admin.uri,
  });
  const standing = (await Holds.load(ledger.store)).stands(tag, request.reference);
  if (request.action === "place" && standing)
    throw new CustosError("CONFLICT", `a legal hold "${request.reference}" already stands on that scope`);
  if (request.action === "lift" && !standing)
    throw new CustosError("NOT_FOUND", `no legal hold "${request.reference}" stands on that scope`);
  const items: AppendItem[] = [{ entry, lookupKeys: [HOLDS_LOOKUP_KEY] }];
  if (tag !== undefined) {
    const notice = holdNotice(deployment, admin, tag, request, now);
    if (notice) items.push(notice);
  }
  const [result] = await ledger.append(items);
  return { index: result!.index };
}

/** The notice a held patient finds in their query history; undefined when nobody could read it. */
function holdNotice(
  deployment: Deployment,
  admin: Pick<Caller, "uri" | "role">,
  tag: Uint8Array,
  request: HoldRequest,
  now: number,
): AppendItem | undefined {
  const body: NoticeBody = {
    time: new Date(now).toISOString(),
    requester: admin.uri,
    role: admin.role,
    operation: HOLD_NOTICE_OPERATIONS[request.action],
    reason: request.reference,
  };
  const readers: Recipient[] = [...deployment.directory.custodians(now)];
  const enrolled = deployment.registry.active("patient", patientSubject(tag), now);
  if (enrolled) readers.unshift({ id: "patient", role: "patient", encryptionKey: enrolled.encryptionKey });
  if (readers.length === 0) return undefined;
  return sealNotice({ kind: "query", time: now, patientTag: tag }, body, readers);
}

/** The standing holds, for the admin API and `custos hold list` (patients by tag, never by ID). */
export async function standingHolds(
  deployment: Deployment,
): Promise<{ scope: string; reference: string; placedAt: string; placedBy: string; index: number }[]> {
  return (await Holds.load(deployment.vault.ledger.store)).list().map((hold) => ({
    scope: hold.patientTag === undefined ? "deployment" : `patient-tag:${hold.patientTag}`,
    reference: hold.reference,
    placedAt: new Date(hold.placedAt).toISOString(),
    placedBy: hold.placedBy,
    index: hold.index,
  }));
}
