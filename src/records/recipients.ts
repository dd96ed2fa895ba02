// Who may read a patient's records: the patient, each audit company granted the patient at that time,
// and the custodian. A directory answers that question; today from a local file, later from the
// CA-backed identity registry in the log (the identity issue implements the same interface).

import { RECIPIENT_FINGERPRINT_BYTES, type RecipientRole } from "../core/entry/index.js";
import { concatBytes, sha256, toHex, utf8 } from "../core/index.js";

export interface Recipient {
  /** Identity URI, e.g. custos://deployment/auditor/A1. Never written to the log in clear. */
  readonly id: string;
  readonly role: RecipientRole;
  /** X25519 public key (32 bytes). */
  readonly encryptionKey: Uint8Array;
}

export interface RecipientDirectory {
  /** Everyone who may read this patient's records at time `at` (ms), custodian included. */
  readersOf(patientId: string, at: number): Promise<readonly Recipient[]>;
}

/** A recipient key's name in the log: 16 bytes of SHA-256 over a label and the public key. */
export function recipientFingerprint(encryptionKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8("custos recipient v1\n"), encryptionKey)).slice(
    0,
    RECIPIENT_FINGERPRINT_BYTES,
  );
}

/** A stable digest of a reader set, so a change of readers starts a new epoch. */
export function readerSetDigest(readers: readonly Recipient[]): string {
  return readers
    .map((r) => `${r.role}:${toHex(recipientFingerprint(r.encryptionKey))}`)
    .sort()
    .join(",");
}
