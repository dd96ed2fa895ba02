// Placing and lifting legal holds: only an enrolled, unrevoked admin; each one a `legalHold` entry
// naming the admin and signed with the admin's identity key (the admin builds and signs it; the node
// checks that signature against the caller and appends), filed under the holds key. A hold on one patient also leaves the patient a notice
// (sealed to the patient and the custodians, like a query of their trail), so the patient sees in their
// query history that their records are held, and when the hold is lifted.

import { type DecodedHold, decodeHoldEntry, encodeHoldEntry, type HoldAction } from "../core/entry/index.js";
import { CustosError, ed25519Verify } from "../core/index.js";
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

/** How far a signed hold's time may lie from the node's clock when the node appends it. */
export const HOLD_CLOCK_SKEW_MS = 5 * 60_000;

/** An admin who signs the hold entry with their identity's key. */
export interface HoldSigner extends Pick<Caller, "uri" | "role" | "id"> {
  readonly sign: (message: Uint8Array) => Uint8Array;
}

/**
 * Places or lifts a hold on a data directory the command opened itself: builds the entry, signs it
 * with `admin`'s key and appends it as appendSignedHold does. Returns the hold entry's index.
 */
export async function changeHold(
  deployment: Deployment,
  admin: HoldSigner,
  request: HoldRequest,
  now: number,
): Promise<{ index: number }> {
  const tag =
    request.patient === undefined ? undefined : deployment.vault.patientTag(checkId(request.patient));
  const entry = encodeHoldEntry(
    {
      time: now,
      action: request.action,
      ...(tag === undefined ? {} : { patientTag: tag }),
      reference: request.reference,
      admin: admin.uri,
    },
    (message) => admin.sign(message),
  );
  const verified = verifiedHold(deployment, admin, entry, now);
  return appendHold(deployment, admin, verified, entry, now);
}

/**
 * Appends a hold entry an admin built and signed (POST /v1/holds): only when `caller` is an enrolled,
 * unrevoked admin, the entry names the caller and carries the caller's signature, and its time lies
 * within HOLD_CLOCK_SKEW_MS of the node's clock. Refuses a hold that already stands (CONFLICT) and the
 * lifting of one that does not (NOT_FOUND). Returns the hold entry's index.
 */
export async function appendSignedHold(
  deployment: Deployment,
  caller: Pick<Caller, "uri" | "role" | "id" | "signingKey">,
  entry: Uint8Array,
  now: number,
): Promise<{ index: number }> {
  const verified = verifiedHold(deployment, caller, entry, now, caller.signingKey);
  return appendHold(deployment, caller, verified, entry, now);
}

/** The decoded hold, once its admin, signature and time hold; throws CustosError otherwise. */
function verifiedHold(
  deployment: Deployment,
  admin: Pick<Caller, "uri" | "role" | "id">,
  entry: Uint8Array,
  now: number,
  signingKey?: Uint8Array,
): DecodedHold {
  if (admin.role !== "admin")
    throw new CustosError("NOT_AUTHORIZED", "only an admin places or lifts legal holds");
  const enrolled = deployment.registry.active("admin", admin.id, now);
  if (!enrolled)
    throw new CustosError("NOT_AUTHORIZED", "only an enrolled admin places or lifts legal holds");
  let hold: DecodedHold;
  try {
    hold = decodeHoldEntry(entry);
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError("BAD_ENCODING", "the legal hold entry is malformed", { cause: error });
  }
  const key = signingKey ?? enrolled.signingKey;
  if (
    hold.admin !== admin.uri ||
    hold.signed === undefined ||
    !ed25519Verify(key, hold.signed.message, hold.signed.signature)
  )
    throw new CustosError("BAD_SIGNATURE", "a legal hold must be signed by the admin who places or lifts it");
  if (Math.abs(hold.time - now) > HOLD_CLOCK_SKEW_MS)
    throw new CustosError(
      "BAD_ARGUMENT",
      "the legal hold's time is more than 5 minutes from the node's clock (take the time from POST /v1/holds/draft)",
    );
  return hold;
}

async function appendHold(
  deployment: Deployment,
  admin: Pick<Caller, "uri" | "role">,
  hold: DecodedHold,
  entry: Uint8Array,
  now: number,
): Promise<{ index: number }> {
  const ledger = deployment.vault.ledger;
  const tag = hold.patientTag;
  const standing = (await Holds.load(ledger.store)).stands(tag, hold.reference);
  if (hold.action === "place" && standing)
    throw new CustosError("CONFLICT", `a legal hold "${hold.reference}" already stands on that scope`);
  if (hold.action === "lift" && !standing)
    throw new CustosError("NOT_FOUND", `no legal hold "${hold.reference}" stands on that scope`);
  const items: AppendItem[] = [{ entry, lookupKeys: [HOLDS_LOOKUP_KEY] }];
  if (tag !== undefined) {
    const notice = holdNotice(deployment, admin, tag, hold, now);
    if (notice) items.push(notice);
  }
  const [result] = await ledger.append(items);
  return { index: result!.index };
}

/**
 * What an admin needs from the node to build a hold entry (POST /v1/holds/draft): the patient's tag
 * (the node's blind index; the patient need not be enrolled) and the node's time.
 */
export function holdDraft(
  deployment: Deployment,
  caller: Pick<Caller, "uri" | "role" | "id">,
  patient: string | undefined,
  now: number,
): { time: number; admin: string; patientTag?: Uint8Array } {
  if (caller.role !== "admin" || !deployment.registry.active("admin", caller.id, now))
    throw new CustosError("NOT_AUTHORIZED", "only an enrolled admin places or lifts legal holds");
  return {
    time: now,
    admin: caller.uri,
    ...(patient === undefined ? {} : { patientTag: deployment.vault.patientTag(checkId(patient)) }),
  };
}

/** The notice a held patient finds in their query history; undefined when nobody could read it. */
function holdNotice(
  deployment: Deployment,
  admin: Pick<Caller, "uri" | "role">,
  tag: Uint8Array,
  hold: DecodedHold,
  now: number,
): AppendItem | undefined {
  const body: NoticeBody = {
    time: new Date(now).toISOString(),
    requester: admin.uri,
    role: admin.role,
    operation: HOLD_NOTICE_OPERATIONS[hold.action],
    reason: hold.reference,
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
): Promise<
  { scope: string; reference: string; placedAt: string; placedBy: string; index: number; signed: boolean }[]
> {
  return (await Holds.load(deployment.vault.ledger.store)).list().map((hold) => ({
    scope: hold.patientTag === undefined ? "deployment" : `patient-tag:${hold.patientTag}`,
    reference: hold.reference,
    placedAt: new Date(hold.placedAt).toISOString(),
    placedBy: hold.placedBy,
    index: hold.index,
    signed: hold.signed,
  }));
}
