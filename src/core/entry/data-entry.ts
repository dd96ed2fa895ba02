// The `data` kind: opaque application bytes kept inline, as appended by `custos log append`.

import { CustosError } from "../errors.js";
import { decodeEntry, encodeEntry, fieldValue } from "./entry-codec.js";
import { ENTRY_KINDS } from "./kinds.js";

const PAYLOAD_TAG = 0x01;

export function encodeDataEntry(payload: Uint8Array): Uint8Array {
  return encodeEntry({ kind: ENTRY_KINDS.data, fields: [{ tag: PAYLOAD_TAG, value: payload }] });
}

export function decodeDataEntry(bytes: Uint8Array): Uint8Array {
  const entry = decodeEntry(bytes);
  if (entry.kind !== ENTRY_KINDS.data) throw new CustosError("BAD_ENCODING", "not a data entry");
  const payload = fieldValue(entry, PAYLOAD_TAG);
  if (payload === undefined || entry.fields.length !== 1) {
    throw new CustosError("BAD_ENCODING", "a data entry holds exactly one payload field");
  }
  return payload;
}
