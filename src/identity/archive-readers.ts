// Who an archive is for (`custos archive --for`): enrolled readers named by role and ID (a regulator
// is enrolled as an auditor), each with the key its envelopes are addressed to. A named reader that
// holds no key envelope for an epoch of the range gets one, re-wrapped with the custodian's key as
// recovery does (src/identity/recovery.ts): one append per patient, the envelopes and a notice sealed
// to the patient, its audit companies and the custodians, so the patient sees who the archive opens
// their history to.

import type { ArchiveReader } from "../core/archive/index.js";
import { decodeKeyEnvelopeEntry } from "../core/entry/index.js";
import { CustosError, fromHex, toHex } from "../core/index.js";
import type { RangeEpoch, RecordOpener } from "../records/index.js";
import { planRewrap, type Recipient, recipientFingerprint, sealNotice } from "../records/index.js";
import type { Deployment } from "./deployment.js";
import { noticeReaders } from "./recovery.js";
import { patientSubject } from "./registry.js";
import { checkId, checkRole, identityUri, parseIdentityUri } from "./roles.js";

export type ArchiveRecipient = Recipient & ArchiveReader;

const READER_ROLES = ["auditor", "custodian", "patient"] as const;

/** Resolves `role/id` or `custos://deployment/role/id` to an enrolled, unrevoked reader. */
export function resolveArchiveReader(deployment: Deployment, name: string, at: number): ArchiveRecipient {
  let role: string;
  let id: string;
  if (name.startsWith("custos://")) {
    const parsed = parseIdentityUri(name);
    if (parsed.deployment !== deployment.name)
      throw new CustosError(
        "WRONG_DEPLOYMENT",
        `${name} is not an identity of deployment ${deployment.name}`,
      );
    ({ role, id } = parsed);
  } else {
    const parts = name.split("/");
    if (parts.length !== 2)
      throw new CustosError(
        "BAD_ARGUMENT",
        `name a reader as ROLE/ID (e.g. auditor/regulator), not "${name}"`,
      );
    [role, id] = parts as [string, string];
  }
  const checkedRole = checkRole(role);
  checkId(id);
  const readerRole = READER_ROLES.find((r) => r === checkedRole);
  if (readerRole === undefined)
    throw new CustosError(
      "BAD_ARGUMENT",
      `an archive is read by an auditor, a custodian or a patient, not a ${role} (enroll a regulator as an auditor)`,
    );
  const identity = deployment.registry.active(readerRole, deployment.subjectOf(readerRole, id), at);
  if (identity === undefined)
    throw new CustosError("NOT_FOUND", `${readerRole}/${id} is not enrolled (or was revoked)`);
  return {
    id: identityUri({ deployment: deployment.name, role: readerRole, id }),
    role: readerRole,
    encryptionKey: identity.encryptionKey,
    fingerprint: recipientFingerprint(identity.encryptionKey),
    ...(readerRole === "patient" ? { patientTag: deployment.vault.patientTag(id) } : {}),
  };
}

export interface ArchiveRewrapReport {
  readonly envelopes: number;
  readonly patients: number;
  /** Epochs the custodian's key could not open (their envelopes were erased): nothing to give. */
  readonly unrecoverable: number;
}

/**
 * Gives each reader a key envelope for every epoch of the range it lacks, re-wrapped with the
 * custodian's key; `custodian` is the custodian's identity URI (named in the notices).
 */
export async function rewrapForArchive(
  deployment: Deployment,
  custodian: { readonly uri: string; readonly opener: RecordOpener },
  readers: readonly ArchiveRecipient[],
  epochsByTag: ReadonlyMap<string, readonly RangeEpoch[]>,
): Promise<ArchiveRewrapReport> {
  const at = deployment.now();
  let envelopes = 0;
  let patients = 0;
  let unrecoverable = 0;
  // A patient named as a reader gets keys to their own records only; an auditor (a regulator, an
  // audit company) or a custodian to every patient of the range, as the custodian decided.
  for (const [tagHex, epochs] of epochsByTag) {
    const tag = fromHex(tagHex);
    const forTag = readers.filter(
      (reader) => reader.patientTag === undefined || toHex(reader.patientTag) === tagHex,
    );
    if (forTag.length === 0) continue;
    const wanted = new Set(epochs.map((e) => toHex(e.epochId)));
    const items = await deployment.vault.itemsByTag(tag);
    const plan = planRewrap(
      items,
      tag,
      custodian.opener,
      forTag.map((reader) => ({ reader, reason: "regrant" as const })),
    );
    unrecoverable += plan.unrecoverable;
    const made = plan.envelopes.filter((item) =>
      wanted.has(toHex(decodeKeyEnvelopeEntry(item.entry).header.epochId)),
    );
    if (made.length === 0) continue;
    const notice = sealNotice(
      { kind: "query", time: at, patientTag: tag },
      {
        time: new Date(at).toISOString(),
        requester: custodian.uri,
        role: "custodian",
        operation: `archive: re-wrap history for ${forTag.map((r) => r.id).join(", ")}`,
        returned: made.length,
      },
      noticeReaders(deployment, patientSubject(tag), at),
    );
    await deployment.vault.ledger.append([...made, notice]);
    envelopes += made.length;
    patients++;
  }
  return { envelopes, patients, unrecoverable };
}
