// Key status and coverage from the registry (seed 001's key status endpoint, issue 19.5): every
// enrolled party with its keys, the patients with no usable key, and for each patient which epochs
// each reader can open. A node names a patient by its tag (it never stores IDs); a caller who gives
// patient IDs gets them back by name.

import {
  accessRecordFromEntry,
  decodeEntry,
  ENTRY_KINDS,
  keyEnvelopeFromEntry,
} from "../core/entry/index.js";
import { fromHex, toHex } from "../core/index.js";
import { recipientFingerprint } from "../records/index.js";
import type { Deployment } from "./deployment.js";
import { patientSubject } from "./registry.js";
import { checkId } from "./roles.js";

export interface PartyKeys {
  readonly role: string;
  /** The ID, or `tag:<hex>` for a patient. */
  readonly subject: string;
  readonly state: "active" | "revoked" | "expired";
  readonly enrolledAt: string;
  readonly notAfter: string;
  readonly revokedAt?: string;
  /** Recipient fingerprint of the encryption key (as in key envelopes), hex. */
  readonly encryptionKey: string;
  readonly signingKey: string;
}

export interface ReaderCoverage {
  readonly role: string;
  /** The reader's ID (`patient` for the patient's own key), or `former` for a key no longer enrolled. */
  readonly reader: string;
  readonly fingerprint: string;
  /** Whether this key reads the patient's future records (enrolled now, granted now). */
  readonly current: boolean;
  readonly epochs: number;
  /** Epochs of the patient this reader cannot open. */
  readonly missing: number;
}

export interface PatientCoverage {
  readonly patient: string;
  readonly hasKey: boolean;
  readonly epochs: number;
  readonly records: number;
  readonly envelopes: number;
  readonly erasedItems: number;
  readonly readers: ReaderCoverage[];
}

export interface KeyStatusReport {
  readonly parties: PartyKeys[];
  readonly patientsWithoutKey: string[];
  readonly patients: PatientCoverage[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function keyStatus(
  deployment: Deployment,
  options: { patients?: readonly string[] } = {},
): Promise<KeyStatusReport> {
  const registry = deployment.registry;
  const at = deployment.now();
  const names = new Map<string, { role: string; reader: string }>();
  const parties: PartyKeys[] = [];
  for (const identity of registry.identities()) {
    const fingerprint = toHex(recipientFingerprint(identity.encryptionKey));
    names.set(fingerprint, {
      role: identity.role,
      reader: identity.role === "patient" ? "patient" : identity.subject,
    });
    parties.push({
      role: identity.role,
      subject: identity.subject,
      state: identity.revokedAt !== undefined ? "revoked" : at > identity.notAfter ? "expired" : "active",
      enrolledAt: iso(identity.enrolledAt),
      notAfter: iso(identity.notAfter),
      ...(identity.revokedAt !== undefined ? { revokedAt: iso(identity.revokedAt) } : {}),
      encryptionKey: fingerprint,
      signingKey: toHex(identity.signingKey),
    });
  }
  parties.sort((a, b) => a.role.localeCompare(b.role) || a.subject.localeCompare(b.subject));

  // The patients asked about by ID, or every patient subject the registry knows.
  const asked =
    options.patients?.map((id) => ({
      name: id,
      tag: deployment.vault.patientTag(checkId(id)),
    })) ??
    registry
      .withRole("patient")
      .map((i) => ({ name: i.subject, tag: fromHex(i.subject.slice("tag:".length)) }));
  const patientsWithoutKey: string[] = [];
  const patients: PatientCoverage[] = [];
  for (const { name, tag } of asked) {
    const subject = patientSubject(tag);
    const own = registry.active("patient", subject, at);
    if (!own) patientsWithoutKey.push(name);
    const current = new Set<string>();
    if (own) current.add(toHex(recipientFingerprint(own.encryptionKey)));
    for (const r of deployment.directory.auditors(subject, at))
      current.add(toHex(recipientFingerprint(r.encryptionKey)));
    for (const r of deployment.directory.custodians(at))
      current.add(toHex(recipientFingerprint(r.encryptionKey)));

    const epochs = new Set<string>();
    const byReader = new Map<string, { role: string; epochs: Set<string> }>();
    let records = 0;
    let envelopes = 0;
    let erasedItems = 0;
    for (const item of await deployment.vault.itemsByTag(tag)) {
      const entry = decodeEntry(item.entry);
      if (entry.kind === ENTRY_KINDS.keyEnvelope) {
        const { header } = keyEnvelopeFromEntry(entry);
        envelopes++;
        if (item.content === undefined) erasedItems++;
        const epoch = toHex(header.epochId);
        epochs.add(epoch);
        const fingerprint = toHex(header.recipient);
        const reader = byReader.get(fingerprint) ?? { role: header.role, epochs: new Set<string>() };
        reader.epochs.add(epoch);
        byReader.set(fingerprint, reader);
      } else if (entry.kind === ENTRY_KINDS.accessRecord) {
        records++;
        if (item.content === undefined) erasedItems++;
        epochs.add(toHex(accessRecordFromEntry(entry).header.epochId));
      }
    }
    // Current readers without any envelope yet still show, with everything missing.
    for (const fingerprint of current)
      if (!byReader.has(fingerprint))
        byReader.set(fingerprint, { role: names.get(fingerprint)?.role ?? "custodian", epochs: new Set() });
    const readers: ReaderCoverage[] = [...byReader].map(([fingerprint, r]) => ({
      role: r.role,
      reader: names.get(fingerprint)?.reader ?? "former",
      fingerprint,
      current: current.has(fingerprint),
      epochs: r.epochs.size,
      missing: epochs.size - r.epochs.size,
    }));
    readers.sort((a, b) => Number(b.current) - Number(a.current) || a.role.localeCompare(b.role));
    patients.push({
      patient: name,
      hasKey: own !== undefined,
      epochs: epochs.size,
      records,
      envelopes,
      erasedItems,
      readers,
    });
  }
  return { parties, patientsWithoutKey, patients };
}
