// The `legalHold` kind (0x20): an admin placed or lifted a legal hold on one patient or on the whole
// deployment. While a hold stands, neither retention expiry nor `custos erase` destroys the content it
// covers. A hold is named by its scope and a reference (a case or matter number, never health data);
// several holds may stand on one scope, and lifting one leaves the others.
//
//   0x01 time u64 (ms)   0x02 action u8 (1 place, 2 lift)   0x03 patient tag (32; absent: deployment)
//   0x04 reference (UTF-8, 1-200 bytes)   0x05 the admin's identity URI (UTF-8, 1-512 bytes)
//   0x7f Ed25519 signature, by that admin's identity key, over the entry without this field
//
// The admin builds and signs the entry (`custos hold`, over the API or on a data directory); the node
// appends it only when the signature is the authenticated caller's, and `custos verify` checks it
// against the admin enrolled (and not revoked) before it, so the node cannot forge a hold or lift
// one. Entries written before holds were signed carry no 0x7f: they are still read, and verify reports
// them (docs/formats.md, "Legal holds").

import { u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { PATIENT_TAG_BYTES } from "./access-record-entry.js";
import { decodeEntry, type EntryField, encodeEntry, fieldValue } from "./entry-codec.js";
import { ENTRY_KINDS } from "./kinds.js";

const TAG_TIME = 0x01;
const TAG_ACTION = 0x02;
const TAG_PATIENT_TAG = 0x03;
const TAG_REFERENCE = 0x04;
const TAG_ADMIN = 0x05;
const TAG_SIGNATURE = 0x7f;

export const HOLD_ACTIONS = { place: 1, lift: 2 } as const;
export type HoldAction = keyof typeof HOLD_ACTIONS;

/** Longest hold reference, in UTF-8 bytes. */
export const MAX_HOLD_REFERENCE_BYTES = 200;

export interface LegalHold {
  readonly time: number;
  readonly action: HoldAction;
  /** The held patient's tag; undefined for a hold on the whole deployment. */
  readonly patientTag?: Uint8Array;
  /** The case or matter the hold is for (no personal data). */
  readonly reference: string;
  /** The admin who placed or lifted it (an identity URI). */
  readonly admin: string;
}

function checkText(value: string, max: number, what: string): Uint8Array {
  const bytes = utf8(value);
  if (bytes.length === 0 || bytes.length > max || /[\p{Cc}]/u.test(value)) {
    throw new CustosError(
      "BAD_ARGUMENT",
      `a hold's ${what} is 1 to ${max} bytes of text without control characters`,
    );
  }
  return bytes;
}

/**
 * Encodes a hold; `sign` (the admin identity's Ed25519 key) adds field 0x7f. Every hold the node
 * appends is signed; an unsigned encoding is for reading logs made before holds were, and for tests.
 */
export function encodeHoldEntry(hold: LegalHold, sign?: (message: Uint8Array) => Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(hold.time) || hold.time < 0)
    throw new CustosError("BAD_ARGUMENT", "a hold's time is ms since 1970");
  if (hold.patientTag !== undefined && hold.patientTag.length !== PATIENT_TAG_BYTES)
    throw new CustosError("BAD_ARGUMENT", "patient tag must be 32 bytes");
  const fields: EntryField[] = [
    { tag: TAG_TIME, value: u64be(BigInt(hold.time)) },
    { tag: TAG_ACTION, value: new Uint8Array([HOLD_ACTIONS[hold.action]]) },
    ...(hold.patientTag === undefined ? [] : [{ tag: TAG_PATIENT_TAG, value: hold.patientTag }]),
    { tag: TAG_REFERENCE, value: checkText(hold.reference, MAX_HOLD_REFERENCE_BYTES, "reference") },
    { tag: TAG_ADMIN, value: checkText(hold.admin, 512, "admin") },
  ];
  const unsigned = encodeEntry({ kind: ENTRY_KINDS.legalHold, fields });
  if (sign === undefined) return unsigned;
  const signature = sign(unsigned);
  if (signature.length !== 64) throw new CustosError("BAD_SIGNATURE", "an Ed25519 signature is 64 bytes");
  return encodeEntry({
    kind: ENTRY_KINDS.legalHold,
    fields: [...fields, { tag: TAG_SIGNATURE, value: signature }],
  });
}

/** A hold as read from the log: `signed` holds the signed bytes and the signature when it carries one. */
export type DecodedHold = LegalHold & {
  readonly signed?: { readonly message: Uint8Array; readonly signature: Uint8Array };
};

/** Parses a hold entry; throws CustosError BAD_ENCODING on anything else. */
export function decodeHoldEntry(bytes: Uint8Array): DecodedHold {
  const entry = decodeEntry(bytes);
  if (entry.kind !== ENTRY_KINDS.legalHold) throw new CustosError("BAD_ENCODING", "not a legal hold entry");
  const known = new Set([TAG_TIME, TAG_ACTION, TAG_PATIENT_TAG, TAG_REFERENCE, TAG_ADMIN, TAG_SIGNATURE]);
  if (entry.fields.some((f) => !known.has(f.tag)))
    throw new CustosError("BAD_ENCODING", "a legal hold entry has an unknown field");
  const time = fieldValue(entry, TAG_TIME);
  const action = fieldValue(entry, TAG_ACTION);
  const tag = fieldValue(entry, TAG_PATIENT_TAG);
  const reference = fieldValue(entry, TAG_REFERENCE);
  const admin = fieldValue(entry, TAG_ADMIN);
  const signature = fieldValue(entry, TAG_SIGNATURE);
  const actionName = (Object.keys(HOLD_ACTIONS) as HoldAction[]).find(
    (name) => action?.length === 1 && HOLD_ACTIONS[name] === action[0],
  );
  if (
    time?.length !== 8 ||
    actionName === undefined ||
    (tag !== undefined && tag.length !== PATIENT_TAG_BYTES) ||
    !reference ||
    reference.length > MAX_HOLD_REFERENCE_BYTES ||
    !admin ||
    admin.length > 512 ||
    (signature !== undefined && signature.length !== 64)
  ) {
    throw new CustosError("BAD_ENCODING", "malformed legal hold entry");
  }
  const ms = new DataView(time.buffer, time.byteOffset, 8).getBigUint64(0);
  if (ms > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CustosError("BAD_ENCODING", "malformed legal hold entry");
  let referenceText: string;
  let adminText: string;
  try {
    referenceText = new TextDecoder("utf-8", { fatal: true }).decode(reference);
    adminText = new TextDecoder("utf-8", { fatal: true }).decode(admin);
  } catch (error) {
    throw new CustosError("BAD_ENCODING", "a legal hold entry's text is not UTF-8", { cause: error });
  }
  return {
    time: Number(ms),
    action: actionName,
    ...(tag === undefined ? {} : { patientTag: tag }),
    reference: referenceText,
    admin: adminText,
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
