// The `erasure` kind: a signed statement, in the log, that named content beside the tree was destroyed
// and why. `verify` accepts content as missing only when an erasure entry names its hash.

import { fromUtf8, u64be, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { decodeEntry, encodeEntry, fieldValue } from "./entry-codec.js";
import { ENTRY_KINDS } from "./kinds.js";

const TAG_TIME = 0x01;
const TAG_REASON = 0x02;
const TAG_SUBJECT = 0x03;
const TAG_HASHES = 0x04;
const TAG_AUTHORIZED_BY = 0x05;

/** At most this many hashes per erasure entry; larger erasures span several entries. */
export const MAX_ERASED_PER_ENTRY = 1500;

export const ERASURE_REASONS = ["retention-expired", "erasure-request", "court-order", "other"] as const;
export type ErasureReason = (typeof ERASURE_REASONS)[number];

export interface Erasure {
  readonly time: number;
  readonly reason: ErasureReason;
  /** What was erased, without personal data (e.g. a patient tag in hex). */
  readonly subject: string;
  readonly contentHashes: readonly Uint8Array[];
  /** Who authorized it (an identity, not a person's health data). */
  readonly authorizedBy: string;
}

export function encodeErasureEntry(erasure: Erasure): Uint8Array {
  if (erasure.contentHashes.length === 0 || erasure.contentHashes.length > MAX_ERASED_PER_ENTRY) {
    throw new CustosError(
      "BAD_ARGUMENT",
      `an erasure entry names 1 to ${MAX_ERASED_PER_ENTRY} content hashes`,
    );
  }
  const hashes = new Uint8Array(erasure.contentHashes.length * 32);
  erasure.contentHashes.forEach((hash, i) => {
    if (hash.length !== 32) throw new CustosError("BAD_ARGUMENT", "a content hash is 32 bytes");
    hashes.set(hash, i * 32);
  });
  return encodeEntry({
    kind: ENTRY_KINDS.erasure,
    fields: [
      { tag: TAG_TIME, value: u64be(BigInt(erasure.time)) },
      { tag: TAG_REASON, value: utf8(erasure.reason) },
      { tag: TAG_SUBJECT, value: utf8(erasure.subject) },
      { tag: TAG_HASHES, value: hashes },
      { tag: TAG_AUTHORIZED_BY, value: utf8(erasure.authorizedBy) },
    ],
  });
}

export function decodeErasureEntry(bytes: Uint8Array): Erasure {
  const entry = decodeEntry(bytes);
  if (entry.kind !== ENTRY_KINDS.erasure) throw new CustosError("BAD_ENCODING", "not an erasure entry");
  const time = fieldValue(entry, TAG_TIME);
  const reason = fieldValue(entry, TAG_REASON);
  const subject = fieldValue(entry, TAG_SUBJECT);
  const hashes = fieldValue(entry, TAG_HASHES);
  const authorizedBy = fieldValue(entry, TAG_AUTHORIZED_BY);
  if (time?.length !== 8 || !reason || !subject || !hashes || hashes.length % 32 !== 0 || !authorizedBy) {
    throw new CustosError("BAD_ENCODING", "malformed erasure entry");
  }
  const reasonText = fromUtf8(reason);
  if (!(ERASURE_REASONS as readonly string[]).includes(reasonText)) {
    throw new CustosError("BAD_ENCODING", "unknown erasure reason");
  }
  const contentHashes: Uint8Array[] = [];
  for (let i = 0; i < hashes.length; i += 32) contentHashes.push(hashes.subarray(i, i + 32));
  return {
    time: Number(new DataView(time.buffer, time.byteOffset, 8).getBigUint64(0)),
    reason: reasonText as ErasureReason,
    subject: fromUtf8(subject),
    contentHashes,
    authorizedBy: fromUtf8(authorizedBy),
  };
}
