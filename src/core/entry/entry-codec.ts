// The canonical, versioned binary encoding of a log entry (docs/formats.md).
//
//   entry  = version:u8 (=1) || kind:u8 || field*
//   field  = tag:u8 || length:u32be || value[length]
//
// Tags strictly increase, so every entry has exactly one encoding and decode(encode(x)) = x byte for
// byte. The leaf hash commits to these bytes; a kind's codec decides what its tags mean.

import { CustosError } from "../errors.js";
import { CONTENT_HASH_TAG, entryKindName } from "./kinds.js";

export const ENTRY_FORMAT_VERSION = 1;
/** Largest encoded entry accepted anywhere (bulky content goes beside the tree, by hash). */
// 65,535 rather than 64 KiB: C2SP entry bundles prefix each entry with a uint16 length.
export const MAX_ENTRY_BYTES = 65_535;

export interface EntryField {
  readonly tag: number;
  readonly value: Uint8Array;
}

export interface Entry {
  readonly kind: number;
  readonly fields: readonly EntryField[];
}

export function encodeEntry(entry: Entry): Uint8Array {
  if (!Number.isInteger(entry.kind) || entry.kind < 1 || entry.kind > 255) {
    throw new CustosError("BAD_ENCODING", `entry kind ${entry.kind} is not a byte from 1 to 255`);
  }
  let length = 2;
  let previousTag = -1;
  for (const field of entry.fields) {
    if (!Number.isInteger(field.tag) || field.tag < 0 || field.tag > 255) {
      throw new CustosError("BAD_ENCODING", `entry field tag ${field.tag} is not a byte`);
    }
    if (field.tag <= previousTag) {
      throw new CustosError("BAD_ENCODING", "entry field tags must strictly increase");
    }
    previousTag = field.tag;
    length += 5 + field.value.length;
  }
  if (length > MAX_ENTRY_BYTES) {
    throw new CustosError(
      "BAD_ENCODING",
      `entry of ${length} bytes exceeds the ${MAX_ENTRY_BYTES}-byte limit`,
    );
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out[0] = ENTRY_FORMAT_VERSION;
  out[1] = entry.kind;
  let offset = 2;
  for (const field of entry.fields) {
    out[offset] = field.tag;
    view.setUint32(offset + 1, field.value.length);
    out.set(field.value, offset + 5);
    offset += 5 + field.value.length;
  }
  return out;
}

/** Parses an entry; throws CustosError BAD_ENCODING on anything that is not a canonical encoding. */
export function decodeEntry(bytes: Uint8Array): Entry {
  if (bytes.length < 2) throw new CustosError("BAD_ENCODING", "entry is shorter than its 2-byte header");
  if (bytes.length > MAX_ENTRY_BYTES) {
    throw new CustosError(
      "BAD_ENCODING",
      `entry of ${bytes.length} bytes exceeds the ${MAX_ENTRY_BYTES}-byte limit`,
    );
  }
  if (bytes[0] !== ENTRY_FORMAT_VERSION) {
    throw new CustosError("BAD_ENCODING", `unknown entry format version ${bytes[0]}`);
  }
  const kind = bytes[1]!;
  if (kind === 0) throw new CustosError("BAD_ENCODING", "entry kind 0 is not valid");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: EntryField[] = [];
  let offset = 2;
  let previousTag = -1;
  while (offset < bytes.length) {
    if (offset + 5 > bytes.length) throw new CustosError("BAD_ENCODING", "entry field header is truncated");
    const tag = bytes[offset]!;
    if (tag <= previousTag) throw new CustosError("BAD_ENCODING", "entry field tags must strictly increase");
    const length = view.getUint32(offset + 1);
    if (length > bytes.length - offset - 5)
      throw new CustosError("BAD_ENCODING", "entry field value is truncated");
    fields.push({ tag, value: bytes.subarray(offset + 5, offset + 5 + length) });
    previousTag = tag;
    offset += 5 + length;
  }
  return { kind, fields };
}

export function fieldValue(entry: Entry, tag: number): Uint8Array | undefined {
  for (const field of entry.fields) if (field.tag === tag) return field.value;
  return undefined;
}

/** The SHA-256 of the content this entry keeps beside the tree, if it has any. */
export function contentHashOf(entry: Entry): Uint8Array | undefined {
  const value = fieldValue(entry, CONTENT_HASH_TAG);
  if (value !== undefined && value.length !== 32) {
    throw new CustosError("BAD_ENCODING", "entry content hash is not 32 bytes");
  }
  return value;
}

/** A short description for reports: never includes field values (they may be personal data). */
export function describeEntryKind(kind: number): string {
  return entryKindName(kind) ?? `unknown kind 0x${kind.toString(16).padStart(2, "0")}`;
}
