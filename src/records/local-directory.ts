// The reader directory kept by a node until the CA-backed identity registry lands: enrolled patients'
// and audit companies' encryption keys, the custodian's key and the grants. It names patients, so it
// is stored encrypted in the keystore, never in clear on disk.

import { BoundedCache } from "../core/bounded-cache.js";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { CustosError } from "../core/errors.js";
import type { Recipient, RecipientDirectory } from "./recipients.js";

export interface Grant {
  readonly auditor: string;
  readonly patients: readonly string[];
  /** Validity, ms since epoch; `to` undefined = open-ended. */
  readonly from: number;
  readonly to?: number;
}

interface PartyJson {
  id: string;
  encryptionKey: string;
}

export interface DirectoryJson {
  version: 1;
  custodian?: PartyJson;
  patients: Record<string, PartyJson>;
  auditors: Record<string, PartyJson>;
  grants: { auditor: string; patients: string[]; from: number; to?: number }[];
}

/** Decoded recipients kept at most (patients; the base64 keys stay in the directory itself). */
const RECIPIENT_CACHE_LIMIT = 100_000;

const ID_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;

function checkKey(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new CustosError("BAD_KEY", "an X25519 encryption key is 32 bytes");
  return key;
}

export class LocalDirectory implements RecipientDirectory {
  #json: DirectoryJson;
  readonly deployment: string;

  constructor(deployment: string, json?: DirectoryJson) {
    this.deployment = deployment;
    this.#json = json ?? { version: 1, patients: {}, auditors: {}, grants: [] };
  }

  static parse(deployment: string, text: string): LocalDirectory {
    const json = JSON.parse(text) as DirectoryJson;
    if (json.version !== 1) throw new CustosError("CONFIG", "unknown reader directory version");
    return new LocalDirectory(deployment, json);
  }

  serialize(): string {
    return JSON.stringify(this.#json);
  }

  identity(role: "patient" | "auditor" | "custodian", id: string): string {
    return `custos://${this.deployment}/${role}/${id}`;
  }

  setCustodian(encryptionKey: Uint8Array): void {
    this.#json.custodian = {
      id: this.identity("custodian", "custodian"),
      encryptionKey: toBase64(checkKey(encryptionKey)),
    };
  }

  enroll(role: "patient" | "auditor", id: string, encryptionKey: Uint8Array): void {
    if (!ID_PATTERN.test(id)) {
      throw new CustosError("BAD_ARGUMENT", "an ID is 1-128 characters of letters, digits and . _ : / -");
    }
    const table = role === "patient" ? this.#json.patients : this.#json.auditors;
    table[id] = { id: this.identity(role, id), encryptionKey: toBase64(checkKey(encryptionKey)) };
  }

  grant(grant: Grant): void {
    if (!this.#json.auditors[grant.auditor])
      throw new CustosError("NOT_FOUND", `no audit company "${grant.auditor}" is enrolled`);
    for (const patient of grant.patients) {
      if (!this.#json.patients[patient])
        throw new CustosError("NOT_FOUND", "a granted patient is not enrolled");
    }
    this.#json.grants.push({
      auditor: grant.auditor,
      patients: [...grant.patients],
      from: grant.from,
      ...(grant.to ? { to: grant.to } : {}),
    });
    this.#grantsByPatient = undefined;
  }

  /** Ends every grant of the auditor for these patients at `at`. */
  revoke(auditor: string, patients: readonly string[], at: number): number {
    let changed = 0;
    for (const grant of this.#json.grants) {
      if (grant.auditor !== auditor || (grant.to !== undefined && grant.to <= at)) continue;
      if (!grant.patients.some((p) => patients.includes(p))) continue;
      const kept = grant.patients.filter((p) => !patients.includes(p));
      const ended = grant.patients.filter((p) => patients.includes(p));
      grant.patients = kept;
      this.#json.grants.push({ auditor, patients: ended, from: grant.from, to: at });
      changed++;
    }
    this.#json.grants = this.#json.grants.filter((g) => g.patients.length > 0);
    this.#grantsByPatient = undefined;
    return changed;
  }

  patientIds(): string[] {
    return Object.keys(this.#json.patients);
  }

  auditorIds(): string[] {
    return Object.keys(this.#json.auditors);
  }

  custodian(): Recipient | undefined {
    const c = this.#json.custodian;
    return c ? this.#recipient("custodian", c.id, c.encryptionKey) : undefined;
  }

  /**
   * Recently decoded recipients (bounded: a node that has seen every patient of a large directory
   * keeps no second, decoded copy of it).
   */
  readonly #decoded = new BoundedCache<Recipient>(RECIPIENT_CACHE_LIMIT);

  #recipient(role: Recipient["role"], id: string, encryptionKey: string): Recipient {
    const key = `${role}\n${id}\n${encryptionKey}`;
    let recipient = this.#decoded.get(key);
    if (recipient === undefined) {
      recipient = { id, role, encryptionKey: fromBase64(encryptionKey) };
      this.#decoded.set(key, recipient);
    }
    return recipient;
  }

  party(role: "patient" | "auditor", id: string): Recipient | undefined {
    const p = (role === "patient" ? this.#json.patients : this.#json.auditors)[id];
    return p ? this.#recipient(role, p.id, p.encryptionKey) : undefined;
  }

  /** Patients the auditor is granted at time `at`. */
  grantedPatients(auditor: string, at: number): string[] {
    const out = new Set<string>();
    for (const grant of this.#json.grants) {
      if (grant.auditor === auditor && grant.from <= at && (grant.to === undefined || at < grant.to)) {
        for (const patient of grant.patients) out.add(patient);
      }
    }
    return [...out];
  }

  #grantsByPatient: Map<string, DirectoryJson["grants"]> | undefined;

  #grantsOf(patientId: string): DirectoryJson["grants"] {
    if (this.#grantsByPatient === undefined) {
      const index = new Map<string, DirectoryJson["grants"]>();
      for (const grant of this.#json.grants) {
        for (const patient of grant.patients) {
          // A new list as a literal: pushing onto [] would reserve 17 slots (V8), 150 bytes per patient.
          const list = index.get(patient);
          if (list === undefined) index.set(patient, [grant]);
          else list.push(grant);
        }
      }
      this.#grantsByPatient = index;
    }
    return this.#grantsByPatient.get(patientId) ?? [];
  }

  async readersOf(patientId: string, at: number): Promise<readonly Recipient[]> {
    const readers: Recipient[] = [];
    const patient = this.party("patient", patientId);
    if (patient) readers.push(patient);
    const auditors = new Set<string>();
    for (const grant of this.#grantsOf(patientId)) {
      if (grant.from <= at && (grant.to === undefined || at < grant.to)) auditors.add(grant.auditor);
    }
    for (const auditor of [...auditors].sort()) readers.push(this.party("auditor", auditor)!);
    const custodian = this.custodian();
    if (custodian) readers.push(custodian);
    return readers;
  }
}
