// The entries that carry who may do what, so that authorization is derived from the log and nobody can
// change it without a trace (docs/formats.md, "Registry entries"):
//
//   identity (0x09)          the CA enrolled or revoked an identity: its role, its public keys and the
//                            fingerprints of its certificates. Signed by the deployment CA's key.
//   grant (0x04)             an admin granted an audit company read access to patients for a period.
//   grantRevocation (0x05)   an admin ended such a grant for some patients from a point in time.
//
// Patients are named by their patient tag (the blind index of their ID), never in clear. Every one of
// these entries ends with an Ed25519 signature (tag 0x7f) over the entry's own encoding without it.

import { fromUtf8, u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { ed25519Verify } from "../platform.js";
import { PATIENT_TAG_BYTES } from "./access-record-entry.js";
import { decodeEntry, type Entry, type EntryField, encodeEntry, fieldValue } from "./entry-codec.js";
import { ENTRY_KINDS } from "./kinds.js";

const TAG_SIGNATURE = 0x7f;

/** At most this many patients per grant entry; larger grants span several entries. */
export const MAX_PATIENTS_PER_GRANT = 1500;

export type Signer = (message: Uint8Array) => Uint8Array;

function signed(kind: number, fields: EntryField[], sign: Signer): Uint8Array {
  const unsigned = encodeEntry({ kind, fields });
  const signature = sign(unsigned);
  if (signature.length !== 64) throw new CustosError("BAD_SIGNATURE", "an Ed25519 signature is 64 bytes");
  return encodeEntry({ kind, fields: [...fields, { tag: TAG_SIGNATURE, value: signature }] });
}

/** The bytes a registry entry's signature covers, and the signature. */
export function signedPart(bytes: Uint8Array): { message: Uint8Array; signature: Uint8Array } {
  const entry = decodeEntry(bytes);
  const signature = fieldValue(entry, TAG_SIGNATURE);
  if (signature?.length !== 64) throw new CustosError("BAD_ENCODING", "registry entry has no signature");
  return {
    message: encodeEntry({ kind: entry.kind, fields: entry.fields.filter((f) => f.tag !== TAG_SIGNATURE) }),
    signature,
  };
}

export function verifyRegistrySignature(bytes: Uint8Array, publicKey: Uint8Array): boolean {
  const { message, signature } = signedPart(bytes);
  return ed25519Verify(publicKey, message, signature);
}

function time(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new CustosError("BAD_ARGUMENT", "a time is ms since 1970");
  return u64be(BigInt(value));
}

function readTime(value: Uint8Array | undefined, what: string): number {
  if (value?.length !== 8) throw new CustosError("BAD_ENCODING", `malformed ${what}`);
  const n = new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CustosError("BAD_ENCODING", `malformed ${what}`);
  return Number(n);
}

function text(value: Uint8Array | undefined, what: string): string {
  if (value === undefined || value.length === 0 || value.length > 512) {
    throw new CustosError("BAD_ENCODING", `malformed ${what}`);
  }
  return fromUtf8(value);
}

function key32(value: Uint8Array | undefined, what: string): Uint8Array {
  if (value?.length !== 32) throw new CustosError("BAD_ENCODING", `malformed ${what}`);
  return value;
}

// ---- identity -------------------------------------------------------------------------------------

export const IDENTITY_ACTIONS = ["ca", "enroll", "revoke"] as const;
export type IdentityAction = (typeof IDENTITY_ACTIONS)[number];

export interface IdentityRecord {
  readonly time: number;
  readonly action: IdentityAction;
  readonly role: string;
  /** The identity's ID, or `tag:<hex>` for a patient. */
  readonly subject: string;
  /** Certificate serial numbers (hex) this entry enrolls or revokes. */
  readonly serials: readonly string[];
  readonly signingKey?: Uint8Array;
  readonly encryptionKey?: Uint8Array;
  /** SHA-256 of the DER certificates. */
  readonly certificateHashes?: readonly Uint8Array[];
  readonly notAfter?: number;
}

const ID_TIME = 0x01;
const ID_ACTION = 0x02;
const ID_ROLE = 0x03;
const ID_SUBJECT = 0x04;
const ID_SERIALS = 0x05;
const ID_SIGNING_KEY = 0x06;
const ID_ENCRYPTION_KEY = 0x07;
const ID_CERT_HASHES = 0x08;
const ID_NOT_AFTER = 0x09;

export function encodeIdentityEntry(record: IdentityRecord, sign: Signer): Uint8Array {
  const fields: EntryField[] = [
    { tag: ID_TIME, value: time(record.time) },
    { tag: ID_ACTION, value: utf8(record.action) },
    { tag: ID_ROLE, value: utf8(record.role) },
    { tag: ID_SUBJECT, value: utf8(record.subject) },
    { tag: ID_SERIALS, value: utf8(record.serials.join(",")) },
  ];
  if (record.signingKey) fields.push({ tag: ID_SIGNING_KEY, value: key32(record.signingKey, "signing key") });
  if (record.encryptionKey)
    fields.push({ tag: ID_ENCRYPTION_KEY, value: key32(record.encryptionKey, "encryption key") });
  if (record.certificateHashes) {
    const hashes = new Uint8Array(record.certificateHashes.length * 32);
    record.certificateHashes.forEach((h, i) => {
      hashes.set(key32(h, "certificate hash"), i * 32);
    });
    fields.push({ tag: ID_CERT_HASHES, value: hashes });
  }
  if (record.notAfter !== undefined) fields.push({ tag: ID_NOT_AFTER, value: time(record.notAfter) });
  return signed(ENTRY_KINDS.identity, fields, sign);
}

export function decodeIdentityEntry(bytes: Uint8Array): IdentityRecord {
  const entry = decodeEntry(bytes);
  if (entry.kind !== ENTRY_KINDS.identity) throw new CustosError("BAD_ENCODING", "not an identity entry");
  signedPart(bytes);
  const action = text(fieldValue(entry, ID_ACTION), "identity action");
  if (!(IDENTITY_ACTIONS as readonly string[]).includes(action)) {
    throw new CustosError("BAD_ENCODING", "unknown identity action");
  }
  const serials = fromUtf8(fieldValue(entry, ID_SERIALS) ?? new Uint8Array());
  const hashes = fieldValue(entry, ID_CERT_HASHES);
  if (hashes && hashes.length % 32 !== 0)
    throw new CustosError("BAD_ENCODING", "malformed certificate hashes");
  const signingKey = fieldValue(entry, ID_SIGNING_KEY);
  const encryptionKey = fieldValue(entry, ID_ENCRYPTION_KEY);
  const notAfter = fieldValue(entry, ID_NOT_AFTER);
  return {
    time: readTime(fieldValue(entry, ID_TIME), "identity time"),
    action: action as IdentityAction,
    role: text(fieldValue(entry, ID_ROLE), "identity role"),
    subject: text(fieldValue(entry, ID_SUBJECT), "identity subject"),
    serials: serials === "" ? [] : serials.split(","),
    ...(signingKey ? { signingKey: key32(signingKey, "signing key") } : {}),
    ...(encryptionKey ? { encryptionKey: key32(encryptionKey, "encryption key") } : {}),
    ...(hashes
      ? {
          certificateHashes: Array.from({ length: hashes.length / 32 }, (_, i) =>
            hashes.subarray(i * 32, i * 32 + 32),
          ),
        }
      : {}),
    ...(notAfter ? { notAfter: readTime(notAfter, "identity expiry") } : {}),
  };
}

// ---- grants ---------------------------------------------------------------------------------------

export interface GrantRecord {
  readonly time: number;
  /** The audit company's ID. */
  readonly auditor: string;
  readonly patientTags: readonly Uint8Array[];
  /** Validity in ms since 1970; `to` undefined = open-ended. For a revocation, `from` is when it ends. */
  readonly from: number;
  readonly to?: number;
  /** The admin's ID (an enrolled identity whose key signed this entry). */
  readonly admin: string;
}

const GR_TIME = 0x01;
const GR_AUDITOR = 0x02;
const GR_PATIENTS = 0x03;
const GR_FROM = 0x04;
const GR_TO = 0x05;
const GR_ADMIN = 0x06;

function grantFields(record: GrantRecord): EntryField[] {
  if (record.patientTags.length === 0 || record.patientTags.length > MAX_PATIENTS_PER_GRANT) {
    throw new CustosError("BAD_ARGUMENT", `a grant names 1 to ${MAX_PATIENTS_PER_GRANT} patients`);
  }
  const tags = new Uint8Array(record.patientTags.length * PATIENT_TAG_BYTES);
  record.patientTags.forEach((t, i) => {
    if (t.length !== PATIENT_TAG_BYTES) throw new CustosError("BAD_ARGUMENT", "a patient tag is 32 bytes");
    tags.set(t, i * PATIENT_TAG_BYTES);
  });
  if (record.to !== undefined && record.to <= record.from) {
    throw new CustosError("BAD_ARGUMENT", "a grant must end after it starts");
  }
  return [
    { tag: GR_TIME, value: time(record.time) },
    { tag: GR_AUDITOR, value: utf8(record.auditor) },
    { tag: GR_PATIENTS, value: tags },
    { tag: GR_FROM, value: time(record.from) },
    ...(record.to !== undefined ? [{ tag: GR_TO, value: time(record.to) }] : []),
    { tag: GR_ADMIN, value: utf8(record.admin) },
  ];
}

function grantFrom(entry: Entry): GrantRecord {
  const tags = fieldValue(entry, GR_PATIENTS);
  if (!tags || tags.length === 0 || tags.length % PATIENT_TAG_BYTES !== 0) {
    throw new CustosError("BAD_ENCODING", "malformed grant patients");
  }
  const to = fieldValue(entry, GR_TO);
  return {
    time: readTime(fieldValue(entry, GR_TIME), "grant time"),
    auditor: text(fieldValue(entry, GR_AUDITOR), "grant auditor"),
    patientTags: Array.from({ length: tags.length / PATIENT_TAG_BYTES }, (_, i) =>
      tags.subarray(i * PATIENT_TAG_BYTES, (i + 1) * PATIENT_TAG_BYTES),
    ),
    from: readTime(fieldValue(entry, GR_FROM), "grant start"),
    ...(to ? { to: readTime(to, "grant end") } : {}),
    admin: text(fieldValue(entry, GR_ADMIN), "grant admin"),
  };
}

export function encodeGrantEntry(record: GrantRecord, sign: Signer): Uint8Array {
  return signed(ENTRY_KINDS.grant, grantFields(record), sign);
}

export function encodeGrantRevocationEntry(record: Omit<GrantRecord, "to">, sign: Signer): Uint8Array {
  return signed(ENTRY_KINDS.grantRevocation, grantFields(record), sign);
}

/**
 * A change of period: for each patient named, the audit company's access is exactly [from, to) from
 * this entry on, whatever periods granted it before (docs/identity.md "Changing a grant's period").
 */
export function encodeGrantChangeEntry(record: GrantRecord, sign: Signer): Uint8Array {
  return signed(ENTRY_KINDS.grantChange, grantFields(record), sign);
}

export function decodeGrantEntry(bytes: Uint8Array): GrantRecord & {
  readonly revocation: boolean;
  /** What the entry does: grant a period, end access, or set the period (a change). */
  readonly action: "grant" | "end" | "change";
} {
  const entry = decodeEntry(bytes);
  if (
    entry.kind !== ENTRY_KINDS.grant &&
    entry.kind !== ENTRY_KINDS.grantRevocation &&
    entry.kind !== ENTRY_KINDS.grantChange
  ) {
    throw new CustosError("BAD_ENCODING", "not a grant entry");
  }
  signedPart(bytes);
  const action =
    entry.kind === ENTRY_KINDS.grantRevocation
      ? "end"
      : entry.kind === ENTRY_KINDS.grantChange
        ? "change"
        : "grant";
  return { ...grantFrom(entry), revocation: action === "end", action };
}
