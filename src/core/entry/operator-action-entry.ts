// The `operatorAction` kind (0x21): an operator acted on the node outside the API (master-key
// rotation, migrate-store, restore, an offline read of a data directory), so the log records who and
// what. The operator is named by identity URI, signing the entry with that identity's key (field
// 0x7f), or, where the command ran without an identity, by the local account it ran under (unsigned).
// A patient is never named by their identity URI (it carries their ID, and the entry is in clear):
// `custos://<deployment>/patient/tag:<hex>`, their keyed tag, stands for them. Entries written before
// this rule may name a patient by URI; they still decode.
//
//   0x01 time u64 (ms)   0x02 action (UTF-8, one of OPERATOR_ACTIONS)   0x03 operator (UTF-8, 1-512)
//   0x04 detail (UTF-8, 0-1000 bytes, no personal data)   0x05 patient tag (32; an offline read of one
//   patient's trail)   0x7f Ed25519 signature over the entry without this field (identity operators)
//
// An `archive` action (custos archive wrote and verified an archive file) also carries, and only it:
//   0x06 from u64 (ms)   0x07 to u64 (ms): records whose hour lies in [hourOf(from), to)
//   0x08 size u64: the anchor checkpoint's tree size (records below it)   0x09 SHA-256 of the file (32)
//   0x0a records u64   0x0b the readers' identity URIs (UTF-8, one per line, 1-8192 bytes)
// so that retention's "archive before deletion" rests on the signed log, not on a local file.

import { fromHex, toHex, u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { sha256 } from "../platform.js";
import { PATIENT_TAG_BYTES } from "./access-record-entry.js";
import { decodeEntry, type EntryField, encodeEntry, fieldValue } from "./entry-codec.js";
import { ENTRY_KINDS } from "./kinds.js";

const TAG_TIME = 0x01;
const TAG_ACTION = 0x02;
const TAG_OPERATOR = 0x03;
const TAG_DETAIL = 0x04;
const TAG_PATIENT_TAG = 0x05;
const TAG_FROM = 0x06;
const TAG_TO = 0x07;
const TAG_SIZE = 0x08;
const TAG_FILE_HASH = 0x09;
const TAG_RECORDS = 0x0a;
const TAG_READERS = 0x0b;
const TAG_SIGNATURE = 0x7f;
const ARCHIVE_TAGS = [TAG_FROM, TAG_TO, TAG_SIZE, TAG_FILE_HASH, TAG_RECORDS, TAG_READERS];
const MAX_READERS_BYTES = 8192;

export const OPERATOR_ACTIONS = [
  "master-key-rotation",
  "migrate-store",
  "restore",
  "offline-read",
  "archive",
] as const;
export type OperatorActionName = (typeof OPERATOR_ACTIONS)[number];

/** How a patient who acts is named: by their tag (the log's keyed, per-patient pseudonym), never by ID. */
export function patientOperatorName(deployment: string, patientTag: Uint8Array): string {
  if (patientTag.length !== PATIENT_TAG_BYTES)
    throw new CustosError("BAD_ARGUMENT", "patient tag must be 32 bytes");
  return `custos://${deployment}/patient/tag:${toHex(patientTag)}`;
}

const PATIENT_OPERATOR = /^custos:\/\/[^/]*\/patient(?:\/|$)/;
const PATIENT_OPERATOR_BY_TAG = /^custos:\/\/[^/]+\/patient\/tag:([0-9a-f]{64})$/;

/** The tag of a patient named as operator by tag, or undefined (not a patient, or an older entry naming one by URI). */
export function patientTagOfOperator(operator: string): Uint8Array | undefined {
  const match = PATIENT_OPERATOR_BY_TAG.exec(operator);
  return match ? fromHex(match[1]!) : undefined;
}

/** Whether an operator string names a patient (by tag or, in entries written before the rule, by URI). */
export function operatorIsPatient(operator: string): boolean {
  return PATIENT_OPERATOR.test(operator);
}

/** Every operator action is filed under this lookup key, so they are listed without a scan. */
export const OPERATOR_ACTIONS_LOOKUP_KEY = sha256(utf8("custos operator actions v1"));

/** What an `archive` action records of the archive written. */
export interface ArchiveRecord {
  /** Records whose hour lies in [hourOf(from), to) (ms since 1970)... */
  readonly from: number;
  readonly to: number;
  /** ...and whose index lies below the anchor checkpoint's size. */
  readonly size: number;
  /** SHA-256 of the whole archive file. */
  readonly fileHash: Uint8Array;
  readonly records: number;
  /** The readers named (identity URIs). */
  readonly readers: readonly string[];
}

export interface OperatorAction {
  readonly time: number;
  readonly action: OperatorActionName;
  /**
   * An identity URI (custos://...), a patient's tag name (custos://<deployment>/patient/tag:<hex>) or
   * `local-account:<user>@<host>`.
   */
  readonly operator: string;
  readonly detail: string;
  readonly patientTag?: Uint8Array;
  /** Present exactly when action is `archive`. */
  readonly archive?: ArchiveRecord;
}

function u64(value: number, what: string): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new CustosError("BAD_ARGUMENT", `an archive action's ${what} is a whole number`);
  return u64be(BigInt(value));
}

function readU64(value: Uint8Array | undefined): number | undefined {
  if (value?.length !== 8) return undefined;
  const n = new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(n);
}

function archiveFields(archive: ArchiveRecord): EntryField[] {
  if (!(archive.from < archive.to))
    throw new CustosError("BAD_ARGUMENT", "an archive's range ends before it starts");
  if (archive.fileHash.length !== 32) throw new CustosError("BAD_ARGUMENT", "an archive's hash is 32 bytes");
  if (archive.readers.some((r) => r.length === 0 || /[\p{Cc}]/u.test(r)))
    throw new CustosError("BAD_ARGUMENT", "an archive's readers are identity URIs");
  if (archive.readers.some((r) => operatorIsPatient(r) && patientTagOfOperator(r) === undefined))
    throw new CustosError("BAD_ARGUMENT", "an archive names a patient reader only by their tag, never by ID");
  const readers = utf8(archive.readers.join("\n"));
  if (readers.length === 0 || readers.length > MAX_READERS_BYTES)
    throw new CustosError("BAD_ARGUMENT", `an archive names 1 to ${MAX_READERS_BYTES} bytes of readers`);
  return [
    { tag: TAG_FROM, value: u64(archive.from, "start") },
    { tag: TAG_TO, value: u64(archive.to, "end") },
    { tag: TAG_SIZE, value: u64(archive.size, "size") },
    { tag: TAG_FILE_HASH, value: archive.fileHash },
    { tag: TAG_RECORDS, value: u64(archive.records, "record count") },
    { tag: TAG_READERS, value: readers },
  ];
}

function text(value: string, min: number, max: number, what: string): Uint8Array {
  const bytes = utf8(value);
  if (bytes.length < min || bytes.length > max || /[\p{Cc}]/u.test(value))
    throw new CustosError("BAD_ARGUMENT", `an operator action's ${what} is ${min} to ${max} bytes of text`);
  return bytes;
}

/** Encodes an operator action; `sign` (the operator identity's Ed25519 key) adds field 0x7f. */
export function encodeOperatorActionEntry(
  action: OperatorAction,
  sign?: (message: Uint8Array) => Uint8Array,
): Uint8Array {
  if (!Number.isSafeInteger(action.time) || action.time < 0)
    throw new CustosError("BAD_ARGUMENT", "an operator action's time is ms since 1970");
  if (!(OPERATOR_ACTIONS as readonly string[]).includes(action.action))
    throw new CustosError("BAD_ARGUMENT", `unknown operator action "${action.action}"`);
  if (action.patientTag !== undefined && action.patientTag.length !== PATIENT_TAG_BYTES)
    throw new CustosError("BAD_ARGUMENT", "patient tag must be 32 bytes");
  // The entry is stored and served in clear: a patient's ID must never be written into it.
  if (operatorIsPatient(action.operator) && patientTagOfOperator(action.operator) === undefined)
    throw new CustosError(
      "BAD_ARGUMENT",
      "an operator action names a patient only by their tag (custos://<deployment>/patient/tag:<hex>), never by ID",
    );
  if ((action.action === "archive") !== (action.archive !== undefined))
    throw new CustosError("BAD_ARGUMENT", "an archive action, and only it, records the archive written");
  const fields: EntryField[] = [
    { tag: TAG_TIME, value: u64be(BigInt(action.time)) },
    { tag: TAG_ACTION, value: utf8(action.action) },
    { tag: TAG_OPERATOR, value: text(action.operator, 1, 512, "operator") },
    { tag: TAG_DETAIL, value: text(action.detail, 0, 1000, "detail") },
    ...(action.patientTag === undefined ? [] : [{ tag: TAG_PATIENT_TAG, value: action.patientTag }]),
    ...(action.archive === undefined ? [] : archiveFields(action.archive)),
  ];
  if (sign === undefined) return encodeEntry({ kind: ENTRY_KINDS.operatorAction, fields });
  const signature = sign(encodeEntry({ kind: ENTRY_KINDS.operatorAction, fields }));
  if (signature.length !== 64) throw new CustosError("BAD_SIGNATURE", "an Ed25519 signature is 64 bytes");
  return encodeEntry({
    kind: ENTRY_KINDS.operatorAction,
    fields: [...fields, { tag: TAG_SIGNATURE, value: signature }],
  });
}

/** Parses an operator action; `signed` holds the signed bytes and signature when it carries one. */
export function decodeOperatorActionEntry(bytes: Uint8Array): OperatorAction & {
  readonly signed?: { readonly message: Uint8Array; readonly signature: Uint8Array };
} {
  const entry = decodeEntry(bytes);
  if (entry.kind !== ENTRY_KINDS.operatorAction)
    throw new CustosError("BAD_ENCODING", "not an operator action entry");
  const known = new Set([
    TAG_TIME,
    TAG_ACTION,
    TAG_OPERATOR,
    TAG_DETAIL,
    TAG_PATIENT_TAG,
    ...ARCHIVE_TAGS,
    TAG_SIGNATURE,
  ]);
  const time = fieldValue(entry, TAG_TIME);
  const action = fieldValue(entry, TAG_ACTION);
  const operator = fieldValue(entry, TAG_OPERATOR);
  const detail = fieldValue(entry, TAG_DETAIL);
  const tag = fieldValue(entry, TAG_PATIENT_TAG);
  const signature = fieldValue(entry, TAG_SIGNATURE);
  if (
    entry.fields.some((f) => !known.has(f.tag)) ||
    time?.length !== 8 ||
    !action ||
    !operator ||
    operator.length > 512 ||
    !detail ||
    detail.length > 1000 ||
    (tag !== undefined && tag.length !== PATIENT_TAG_BYTES) ||
    (signature !== undefined && signature.length !== 64)
  )
    throw new CustosError("BAD_ENCODING", "malformed operator action entry");
  const ms = new DataView(time.buffer, time.byteOffset, 8).getBigUint64(0);
  let actionText: string;
  let operatorText: string;
  let detailText: string;
  try {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    actionText = decoder.decode(action);
    operatorText = decoder.decode(operator);
    detailText = decoder.decode(detail);
  } catch (error) {
    throw new CustosError("BAD_ENCODING", "an operator action's text is not UTF-8", { cause: error });
  }
  if (ms > BigInt(Number.MAX_SAFE_INTEGER) || !(OPERATOR_ACTIONS as readonly string[]).includes(actionText))
    throw new CustosError("BAD_ENCODING", "malformed operator action entry");
  const hasArchive = ARCHIVE_TAGS.map((t) => fieldValue(entry, t) !== undefined);
  if (hasArchive.some((has) => has !== (actionText === "archive")))
    throw new CustosError("BAD_ENCODING", "malformed operator action entry: an archive action's fields");
  let archive: ArchiveRecord | undefined;
  if (actionText === "archive") {
    const from = readU64(fieldValue(entry, TAG_FROM));
    const to = readU64(fieldValue(entry, TAG_TO));
    const size = readU64(fieldValue(entry, TAG_SIZE));
    const records = readU64(fieldValue(entry, TAG_RECORDS));
    const fileHash = fieldValue(entry, TAG_FILE_HASH)!;
    const readers = fieldValue(entry, TAG_READERS)!;
    let readerText: string;
    try {
      readerText = new TextDecoder("utf-8", { fatal: true }).decode(readers);
    } catch (error) {
      throw new CustosError("BAD_ENCODING", "an archive action's readers are not UTF-8", { cause: error });
    }
    if (
      from === undefined ||
      to === undefined ||
      !(from < to) ||
      size === undefined ||
      records === undefined ||
      fileHash.length !== 32 ||
      readers.length === 0 ||
      readers.length > MAX_READERS_BYTES
    )
      throw new CustosError("BAD_ENCODING", "malformed operator action entry: an archive action's fields");
    archive = { from, to, size, fileHash, records, readers: readerText.split("\n") };
  }
  return {
    time: Number(ms),
    action: actionText as OperatorActionName,
    operator: operatorText,
    detail: detailText,
    ...(tag === undefined ? {} : { patientTag: tag }),
    ...(archive === undefined ? {} : { archive }),
    ...(signature === undefined
      ? {}
      : {
          signed: {
            message: encodeEntry({
              kind: entry.kind,
              fields: entry.fields.filter((f) => f.tag !== TAG_SIGNATURE),
            }),
            signature,
          },
        }),
  };
}
