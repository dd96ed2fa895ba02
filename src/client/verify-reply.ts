// What a client checks in every reply before it believes anything: the checkpoint is signed by the
// log's key, it extends the checkpoint the client trusted (consistency proof), every entry is in it
// (inclusion proof), every piece of content matches the hash its entry commits to, the entries come
// newest first, belong to one patient, and their record numbers form an unbroken run. Any failure
// names the entry and what is wrong.

import { bytesEqual, fromBase64, toHex } from "../core/bytes.js";
import { openCheckpoint } from "../core/checkpoint/index.js";
import {
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  ENTRY_KINDS,
  keyEnvelopeFromEntry,
} from "../core/entry/index.js";
import { CustosError, type ErrorCode } from "../core/errors.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../core/merkle/index.js";
import { sha256 } from "../core/platform.js";

/** A reply that failed a check: the node (or someone on its disk) is lying or the data was altered. */
export class VerificationError extends CustosError {
  readonly index: number | undefined;
  /**
   * When two signed checkpoints of the log conflict (a fork, a rollback): both notes, the one trusted
   * before first, so a caller can report them (e.g. POST /v1/gossip to a mirror, or to the auditors).
   */
  readonly evidence: readonly string[] | undefined;
  constructor(code: ErrorCode, message: string, index?: number, evidence?: readonly string[]) {
    super(code, message);
    this.name = "VerificationError";
    this.index = index;
    this.evidence = evidence;
  }
}

export interface TrustedCheckpoint {
  readonly size: number;
  readonly rootHash: string;
  readonly note: string;
}

export interface WireItem {
  readonly index: number;
  readonly entry: string;
  readonly content: string | null;
  /** Absent only for an access record that a proven newer record of its trail links to (`prev`). */
  readonly proof?: readonly string[] | undefined;
}

export interface VerifiedItem {
  readonly index: number;
  readonly entry: Uint8Array;
  /** The entry's leaf hash (computed once, for its proof or its link). */
  readonly leaf: Uint8Array;
  readonly content: Uint8Array | undefined;
}

export interface VerifiedCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
  readonly cosigners: readonly string[];
  /** When each cosigner whose cosignature verified cosigned (ms since the epoch). */
  readonly cosignedAt: readonly { readonly name: string; readonly time: number }[];
}

function decodeB64(value: string, what: string, index?: number): Uint8Array {
  try {
    return fromBase64(value);
  } catch {
    throw new VerificationError("BAD_ENCODING", `${what} is not base64`, index);
  }
}

/** Checks the checkpoint's signature and that it extends the trusted one. */
export function verifyCheckpoint(
  note: string,
  verifierKey: string,
  origin: string,
  trusted: TrustedCheckpoint | undefined,
  consistency: { from: number; to: number; proof: readonly string[] } | null | undefined,
  cosignerKeys: readonly string[] = [],
): VerifiedCheckpoint {
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(note, verifierKey, { cosignerKeys });
  } catch (error) {
    throw new VerificationError(
      "BAD_CHECKPOINT",
      `the checkpoint does not verify: ${(error as Error).message}`,
    );
  }
  const { checkpoint } = opened;
  if (checkpoint.origin !== origin) {
    throw new VerificationError(
      "BAD_CHECKPOINT",
      `the checkpoint is for log "${checkpoint.origin}", not "${origin}"`,
    );
  }
  const size = Number(checkpoint.size);
  if (trusted) {
    const trustedRoot = fromBase64(trusted.rootHash);
    if (size < trusted.size) {
      throw new VerificationError(
        "BAD_CHECKPOINT",
        `the node shows a log of size ${size}, smaller than the ${trusted.size} entries already trusted: the log was rolled back or forked`,
        undefined,
        [trusted.note, note],
      );
    }
    if (size === trusted.size) {
      if (!bytesEqual(trustedRoot, checkpoint.rootHash)) {
        throw new VerificationError(
          "BAD_CHECKPOINT",
          `two signed checkpoints of size ${size} have different roots: the log forked (split view)`,
          undefined,
          [trusted.note, note],
        );
      }
    } else {
      if (!consistency || consistency.from !== trusted.size || consistency.to !== size) {
        throw new VerificationError(
          "BAD_PROOF",
          `the node sent no consistency proof from size ${trusted.size} to ${size}`,
        );
      }
      const proof = consistency.proof.map((h) => decodeB64(h, "a consistency proof hash"));
      if (!verifyConsistency(trusted.size, size, proof, trustedRoot, checkpoint.rootHash)) {
        throw new VerificationError(
          "BAD_PROOF",
          `the log of size ${size} is not an extension of the trusted one of size ${trusted.size}: history was rewritten`,
          undefined,
          [trusted.note, note],
        );
      }
    }
  }
  const cosignedAt = opened.signatures
    .filter((s) => s.verified && s.timestamp !== undefined && opened.cosigners.includes(s.name))
    .map((s) => ({ name: s.name, time: s.timestamp! * 1000 }));
  return { size, rootHash: checkpoint.rootHash, note, cosigners: opened.cosigners, cosignedAt };
}

/**
 * Checks inclusion, content hashes and order of items; returns them decoded. An item may come without
 * an inclusion proof only if it is an access record that another item of the reply, itself proven
 * (directly or so in turn), links to: that record's `prev` is this record's leaf hash and its number
 * is one more. The hash commits to every byte, so the linked record is exactly what the log holds.
 */
export function verifyItems(items: readonly WireItem[], checkpoint: VerifiedCheckpoint): VerifiedItem[] {
  const out: VerifiedItem[] = [];
  const unproven = new Map<string, number>();
  const chainHeads: number[] = [];
  let previous = Number.POSITIVE_INFINITY;
  for (const item of items) {
    const { index } = item;
    if (!Number.isSafeInteger(index) || index < 0 || index >= checkpoint.size) {
      throw new VerificationError(
        "BAD_PROOF",
        `entry ${index} lies outside the checkpoint (size ${checkpoint.size})`,
        index,
      );
    }
    if (index >= previous) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `entry ${index} is out of order (entries must come newest first)`,
        index,
      );
    }
    previous = index;
    const entry = decodeB64(item.entry, `entry ${index}`, index);
    const leaf = leafHash(entry);
    if (item.proof === undefined) {
      const key = toHex(leaf);
      if (unproven.has(key)) {
        throw new VerificationError(
          "TAMPERED_ENTRY",
          `entry ${index} repeats another entry of the reply`,
          index,
        );
      }
      unproven.set(key, out.length);
    } else {
      const proof = item.proof.map((h) => decodeB64(h, `the proof of entry ${index}`, index));
      if (!verifyInclusion(leaf, index, checkpoint.size, proof, checkpoint.rootHash)) {
        throw new VerificationError(
          "TAMPERED_ENTRY",
          `entry ${index} is not the entry the log holds at that position (its inclusion proof fails): forged or altered`,
          index,
        );
      }
      chainHeads.push(out.length);
    }
    let committed: Uint8Array | undefined;
    try {
      committed = contentHashOf(decodeEntry(entry));
    } catch {
      throw new VerificationError("TAMPERED_ENTRY", `entry ${index} is not a well-formed entry`, index);
    }
    const content =
      item.content === null ? undefined : decodeB64(item.content, `the content of entry ${index}`, index);
    if (content !== undefined && (committed === undefined || !bytesEqual(sha256(content), committed))) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `the content of entry ${index} was altered (its hash does not match the log)`,
        index,
      );
    }
    out.push({ index, entry, leaf, content });
  }
  if (unproven.size > 0) checkLinks(out, unproven, chainHeads);
  return out;
}

/** The access record header of an item, if it is one. */
function recordHeader(item: VerifiedItem) {
  const entry = decodeEntry(item.entry);
  return entry.kind === ENTRY_KINDS.accessRecord ? accessRecordFromEntry(entry).header : undefined;
}

/** Follows `prev` links from the proven items; every unproven item must be reached. */
function checkLinks(items: readonly VerifiedItem[], unproven: Map<string, number>, heads: number[]): void {
  const work = [...heads];
  while (work.length > 0) {
    const newer = items[work.pop()!]!;
    const header = recordHeader(newer);
    if (header?.prev === undefined || header.seq === undefined) continue;
    const key = toHex(header.prev);
    const position = unproven.get(key);
    if (position === undefined) continue;
    const older = items[position]!;
    const olderHeader = recordHeader(older);
    if (olderHeader?.seq !== header.seq - 1 || !bytesEqual(olderHeader.patientTag, header.patientTag)) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `entry ${older.index} is linked from entry ${newer.index} but is not the record before it in the same trail`,
        older.index,
      );
    }
    unproven.delete(key);
    work.push(position);
  }
  for (const position of unproven.values()) {
    const { index } = items[position]!;
    throw new VerificationError(
      "BAD_PROOF",
      `entry ${index} comes without an inclusion proof and no proven record of its trail links to it`,
      index,
    );
  }
}

export interface RunCheck {
  /** The patient's tag (hex), if any record was returned. */
  readonly patientTag: string | undefined;
  readonly newestSeq: number | undefined;
  /** The oldest record number on the page: the next page must continue right below it. */
  readonly oldestSeq: number | undefined;
}

/**
 * Checks that the access records all belong to one patient and that their numbers form an unbroken
 * run (no record left out between the newest and the oldest returned).
 */
export function verifyRun(items: readonly VerifiedItem[]): RunCheck {
  let tag: string | undefined;
  const seqs: { seq: number; index: number; prev: Uint8Array | undefined; leaf: Uint8Array }[] = [];
  for (const item of items) {
    const entry = decodeEntry(item.entry);
    if (entry.kind !== ENTRY_KINDS.accessRecord && entry.kind !== ENTRY_KINDS.keyEnvelope) continue;
    const patientTag =
      entry.kind === ENTRY_KINDS.accessRecord
        ? accessRecordFromEntry(entry).header.patientTag
        : keyEnvelopeFromEntry(entry).header.patientTag;
    const hex = toHex(patientTag);
    if (tag !== undefined && hex !== tag) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `entry ${item.index} belongs to another patient's trail`,
        item.index,
      );
    }
    tag = hex;
    if (entry.kind === ENTRY_KINDS.accessRecord) {
      const { seq, prev } = accessRecordFromEntry(entry).header;
      if (seq !== undefined) seqs.push({ seq, index: item.index, prev, leaf: item.leaf });
    }
  }
  seqs.sort((a, b) => b.seq - a.seq);
  for (let i = 1; i < seqs.length; i++) {
    const newer = seqs[i - 1]!;
    const older = seqs[i]!;
    if (older.seq === newer.seq) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `entries ${older.index} and ${newer.index} carry the same record number`,
        older.index,
      );
    }
    if (older.seq !== newer.seq - 1) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `records ${older.seq + 1} to ${newer.seq - 1} of this trail are missing between entries ${older.index} and ${newer.index}: the node left them out`,
        newer.index,
      );
    }
    if (newer.prev !== undefined && !bytesEqual(newer.prev, older.leaf)) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `the trail's hash chain is broken: entry ${newer.index} does not link to entry ${older.index}, the record before it (a record was replaced)`,
        older.index,
      );
    }
  }
  return { patientTag: tag, newestSeq: seqs[0]?.seq, oldestSeq: seqs[seqs.length - 1]?.seq };
}
