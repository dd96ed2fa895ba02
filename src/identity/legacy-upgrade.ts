// Upgrading a data directory from the retired party-key model to the identity registry
// (`custos keys upgrade`, docs/identity.md "Upgrading a party-key data directory"). The legacy
// directory in the keystore named each reader by an X25519 public key only; the registry needs
// CA-certified identities. So each legacy party gets a new identity (bundle written for the operator
// to hand over), the custodian included; the legacy grants are signed again by an admin with their
// periods; and with the legacy custodian's private key every epoch key is re-wrapped from each legacy
// key to its holder's new key (exactly the epochs that key could open, no more). Each patient's trail
// gets a notice saying so. The legacy directory is removed last, so an interrupted upgrade is re-run.

import { join } from "node:path";
import {
  decodeEntry,
  ENTRY_KINDS,
  keyEnvelopeFromEntry,
  MAX_PATIENTS_PER_GRANT,
} from "../core/entry/index.js";
import { CustosError, toHex } from "../core/index.js";
import {
  LEGACY_DIRECTORY_SECRET,
  legacyDirectoryIn,
  type Recipient,
  RecordOpener,
  recipientFingerprint,
  sealNotice,
  wrapForReader,
} from "../records/index.js";
import { Identity, writeBundle } from "./bundle.js";
import type { Deployment } from "./deployment.js";
import { noticeReaders } from "./recovery.js";
import { patientSubject } from "./registry.js";
import { ID_PATTERN, type Role } from "./roles.js";

export interface UpgradeRequest {
  /** The admin who signs the grants; without one, an admin `admin` is enrolled (its bundle in outDir). */
  readonly admin?: Identity;
  /** The legacy custodian's X25519 private key (zero-filled by the caller afterwards). */
  readonly custodianKey: Uint8Array;
  /** Where the new identities' bundles are written, one file per party. */
  readonly outDir: string;
  readonly passphrase: string;
  readonly kdfIterations?: number;
}

export interface UpgradeReport {
  readonly enrolled: number;
  readonly grants: number;
  readonly envelopes: number;
  readonly patients: number;
}

export async function upgradeLegacyDirectory(
  deployment: Deployment,
  request: UpgradeRequest,
): Promise<UpgradeReport> {
  const legacy = legacyDirectoryIn(deployment.vault.keystore);
  if (!legacy)
    throw new CustosError("NOT_FOUND", "this data directory has no party-key directory to upgrade");
  const opener = new RecordOpener(request.custodianKey);
  if (legacy.custodian && toHex(recipientFingerprint(legacy.custodian)) !== toHex(opener.fingerprint))
    throw new CustosError("BAD_KEY", "the custodian key file is not the custodian this directory names");
  const at = deployment.now();
  if (
    request.admin &&
    (request.admin.role !== "admin" || !deployment.registry.active("admin", request.admin.id, at))
  )
    throw new CustosError("NOT_AUTHORIZED", `${request.admin.uri} is not an enrolled admin`);
  for (const party of [...legacy.patients, ...legacy.auditors]) {
    if (!ID_PATTERN.test(party.id))
      throw new CustosError(
        "BAD_ARGUMENT",
        `the legacy ID "${party.id}" has characters identity URIs do not allow; rename it before upgrading`,
      );
  }

  // 1. New identities for the legacy parties not enrolled yet (a re-run skips those done).
  let enrolled = 0;
  const enroll = async (role: Role, id: string): Promise<Identity | undefined> => {
    if (deployment.registry.active(role, deployment.subjectOf(role, id), at)) return undefined;
    const issued = await deployment.enroll({
      role,
      id,
      passphrase: request.passphrase,
      ...(request.kdfIterations ? { kdfIterations: request.kdfIterations } : {}),
    });
    writeBundle(join(request.outDir, `${role}-${id}.custos-id`), issued.bundle);
    enrolled++;
    return role === "admin" ? Identity.unlock(issued.bundle, request.passphrase) : undefined;
  };
  const admin = request.admin ?? (await enroll("admin", "admin"));
  if (!admin)
    throw new CustosError("CONFLICT", "an admin `admin` is already enrolled: pass its bundle with --as");
  if (legacy.custodian && deployment.registry.withRole("custodian").length === 0)
    await enroll("custodian", "custodian");
  for (const p of legacy.patients) await enroll("patient", p.id);
  for (const a of legacy.auditors) await enroll("auditor", a.id);

  // 2. The grants, with their periods, signed by the admin.
  let grants = 0;
  for (const grant of legacy.grants) {
    for (let i = 0; i < grant.patients.length; i += MAX_PATIENTS_PER_GRANT) {
      const patients = grant.patients.slice(i, i + MAX_PATIENTS_PER_GRANT);
      const subjects = patients.map((p) => patientSubject(deployment.vault.patientTag(p)));
      if (subjects.every((s) => deployment.registry.isGranted(grant.auditor, s, grant.from))) continue;
      await deployment.grant(admin, {
        auditor: grant.auditor,
        patients,
        from: grant.from,
        ...(grant.to !== undefined ? { to: grant.to } : {}),
      });
      grants++;
    }
  }

  // 3. Each legacy key's epochs, re-wrapped to its holder's new key.
  const registered = (role: "patient" | "auditor", id: string): Recipient => {
    const identity = deployment.registry.active(role, deployment.subjectOf(role, id), at);
    if (!identity) throw new CustosError("INTERNAL", `${role} ${id} was not enrolled by the upgrade`);
    return { id: `custos://${deployment.name}/${role}/${id}`, role, encryptionKey: identity.encryptionKey };
  };
  const auditorKeys = new Map(
    legacy.auditors.map((a) => [toHex(recipientFingerprint(a.encryptionKey)), registered("auditor", a.id)]),
  );
  const custodians = deployment.directory.custodians(at);
  let envelopes = 0;
  for (const patient of legacy.patients) {
    const tag = deployment.vault.patientTag(patient.id);
    const own = toHex(recipientFingerprint(patient.encryptionKey));
    const ownNew = registered("patient", patient.id);
    const items = await deployment.vault.itemsByTag(tag);
    const held = new Set<string>();
    const wanted: { epochId: Uint8Array; reader: Recipient }[] = [];
    for (const item of items) {
      const entry = decodeEntry(item.entry);
      if (entry.kind !== ENTRY_KINDS.keyEnvelope) continue;
      const { header } = keyEnvelopeFromEntry(entry);
      const from = toHex(header.recipient);
      held.add(`${toHex(header.epochId)}:${from}`);
      if (item.content !== undefined) opener.addEnvelope(item);
      const readers =
        from === own
          ? [ownNew]
          : auditorKeys.has(from)
            ? [auditorKeys.get(from)!]
            : from === toHex(opener.fingerprint)
              ? custodians
              : [];
      for (const reader of readers) wanted.push({ epochId: header.epochId, reader });
    }
    const batch = [];
    for (const { epochId, reader } of wanted) {
      const id = `${toHex(epochId)}:${toHex(recipientFingerprint(reader.encryptionKey))}`;
      const dataKey = opener.epochKey(epochId);
      if (held.has(id) || dataKey === undefined) continue;
      held.add(id);
      batch.push(wrapForReader({ epochId, patientTag: tag, dataKey }, reader, "recovery"));
    }
    if (batch.length === 0) continue;
    const notice = sealNotice(
      { kind: "query", time: at, patientTag: tag },
      {
        time: new Date(at).toISOString(),
        requester: admin.uri,
        role: "admin",
        operation: "upgrade to the identity registry: history re-wrapped for the new identities",
        returned: batch.length,
      },
      noticeReaders(deployment, patientSubject(tag), at),
    );
    await deployment.vault.ledger.append([...batch, notice]);
    envelopes += batch.length;
  }
  await deployment.vault.keystore.delete(LEGACY_DIRECTORY_SECRET);
  return { enrolled, grants, envelopes, patients: legacy.patients.length };
}
