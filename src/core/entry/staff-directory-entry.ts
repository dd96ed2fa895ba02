// The `staffDirectory` kind (0x22): the hospital's staff directory (user ID, name, role, department),
// uploaded by an admin so that records carrying only a user ID read with the person's name. The entry
// holds only the upload time; the directory is content beside the tree, sealed to the readers (AES-256-
// GCM under a fresh key, that key wrapped with HPKE for each reader), so the store never holds it in
// clear. The newest directory sealed to a reader is the one that reader uses.
//
//   0x01 time u64 (ms)   0xf0 SHA-256 of the sealed content

import { u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { sha256 } from "../platform.js";
import { contentHashOf, decodeEntry, encodeEntry, fieldValue } from "./entry-codec.js";
import { CONTENT_HASH_TAG, ENTRY_KINDS } from "./kinds.js";

const TAG_TIME = 0x01;

/** Every staff directory is filed under this lookup key, so the newest is found without a scan. */
export const STAFF_DIRECTORY_LOOKUP_KEY = sha256(utf8("custos staff directory v1"));

function timeField(time: number) {
  if (!Number.isSafeInteger(time) || time < 0)
    throw new CustosError("BAD_ARGUMENT", "a staff directory's time is ms since 1970");
  return { tag: TAG_TIME, value: u64be(BigInt(time)) };
}

/** The associated data that binds the sealed directory to its entry: the entry without its content hash. */
export function staffDirectoryAad(time: number): Uint8Array {
  return encodeEntry({ kind: ENTRY_KINDS.staffDirectory, fields: [timeField(time)] });
}

export function encodeStaffDirectoryEntry(time: number, contentHash: Uint8Array): Uint8Array {
  if (contentHash.length !== 32) throw new CustosError("BAD_ARGUMENT", "content hash must be 32 bytes");
  return encodeEntry({
    kind: ENTRY_KINDS.staffDirectory,
    fields: [timeField(time), { tag: CONTENT_HASH_TAG, value: contentHash }],
  });
}

export function decodeStaffDirectoryEntry(bytes: Uint8Array): { time: number; contentHash: Uint8Array } {
  const entry = decodeEntry(bytes);
  if (entry.kind !== ENTRY_KINDS.staffDirectory)
    throw new CustosError("BAD_ENCODING", "not a staff directory entry");
  const time = fieldValue(entry, TAG_TIME);
  const contentHash = contentHashOf(entry);
  if (time?.length !== 8 || !contentHash || entry.fields.length !== 2)
    throw new CustosError("BAD_ENCODING", "malformed staff directory entry");
  return {
    time: Number(new DataView(time.buffer, time.byteOffset, 8).getBigUint64(0)),
    contentHash,
  };
}
