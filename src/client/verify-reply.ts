// What a client checks in every reply before it believes anything: the checkpoint is signed by the
// log's key, it extends the checkpoint the client trusted (consistency proof), every entry is in it
// (inclusion proof), every piece of content matches the hash its entry commits to, the entries come
// newest first, belong to one patient, and their record numbers form an unbroken run, and the trail's
// newest record is the head the checkpoint's trail map commits to (so a node cannot leave out the
// newest records, even from a client that never saw them). Any failure names the entry and what is
// wrong.

import { openCheckpoint } from "../core/checkpoint/index.js";
import { contentHashOf } from "../core/entry/index.js";
import {
  bytesEqual,
  CustosError,
  type ErrorCode,
  fromBase64,
  fromHex,
  sha256,
  toHex,
} from "../core/index.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../core/merkle/index.js";
import { trailMapRootOf, verifyTrailMapProof } from "../core/trail-map/index.js";
import { type DecodedEntry, decodedOf } from "../records/browser.js";

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
  /** The entry decoded, once, for every later check and for opening it (its content checked). */
  readonly decoded: DecodedEntry;
}

export interface VerifiedCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
  readonly cosigners: readonly string[];
  /** When each cosigner whose cosignature verified cosigned (ms since the epoch). */
  readonly cosignedAt: readonly { readonly name: string; readonly time: number }[];
  /** The trail map root its `custos-trail-map/v1` line commits to; undefined when it has none. */
  readonly trailMapRoot: Uint8Array | undefined;
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
  let trailMapRoot: Uint8Array | undefined;
  try {
    trailMapRoot = trailMapRootOf(checkpoint.extensions);
  } catch (error) {
    throw new VerificationError(
      "BAD_CHECKPOINT",
      `the checkpoint's trail map line: ${(error as Error).message}`,
    );
  }
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
  return {
    size,
    rootHash: checkpoint.rootHash,
    note,
    cosigners: opened.cosigners,
    cosignedAt,
    trailMapRoot,
  };
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
    // Decoded once here (with its access record's or key envelope's header), and its content hashed
    // once: the later checks and the opener use this decoding and this check.
    let decoded: DecodedEntry;
    let committed: Uint8Array | undefined;
    try {
      decoded = decodedOf({ index, entry, content: undefined });
      committed =
        decoded.accessRecord?.contentHash ?? decoded.keyEnvelope?.contentHash ?? contentHashOf(decoded.entry);
    } catch {
      throw new VerificationError("TAMPERED_ENTRY", `entry ${index} is not a well-formed entry`, index);
    }
    const content =
      item.content === null ? undefined : decodeB64(item.content, `the content of entry ${index}`, index);
    if (content !== undefined) {
      if (committed === undefined || !bytesEqual(sha256(content), committed)) {
        throw new VerificationError(
          "TAMPERED_ENTRY",
          `the content of entry ${index} was altered (its hash does not match the log)`,
          index,
        );
      }
      decoded = { ...decoded, contentChecked: true };
    }
    out.push({ index, entry, leaf, content, decoded });
  }
  if (unproven.size > 0) checkLinks(out, unproven, chainHeads);
  return out;
}

/** The access record header of an item, if it is one. */
function recordHeader(item: VerifiedItem) {
  return item.decoded.accessRecord?.header;
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
  let tag: Uint8Array | undefined;
  const seqs: { seq: number; index: number; prev: Uint8Array | undefined; leaf: Uint8Array }[] = [];
  for (const item of items) {
    const { accessRecord, keyEnvelope } = item.decoded;
    const patientTag = (accessRecord ?? keyEnvelope)?.header.patientTag;
    if (patientTag === undefined) continue;
    if (tag !== undefined && !bytesEqual(patientTag, tag)) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `entry ${item.index} belongs to another patient's trail`,
        item.index,
      );
    }
    tag = patientTag;
    if (accessRecord !== undefined) {
      const { seq, prev } = accessRecord.header;
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
  return {
    patientTag: tag === undefined ? undefined : toHex(tag),
    newestSeq: seqs[0]?.seq,
    oldestSeq: seqs[seqs.length - 1]?.seq,
  };
}

/** What a reply's trail map proof established about the trail's end. */
export type Completeness =
  | {
      readonly proven: true;
      /** The trail's record count at the checkpoint (its newest record's number + 1). */
      readonly count: number;
      /** The patient tag (hex) the checkpoint's map was read at. */
      readonly tag: string;
    }
  | { readonly proven: false; readonly reason: string };

export interface WireTrailMap {
  readonly tag: string;
  readonly proof: string;
}

/**
 * Checks a trail reply against the checkpoint's trail map (docs/formats.md, "Trail map"): the proof
 * leads to the root in the checkpoint's extension line, it is for this trail's patient, and when the
 * page is the trail's end (`top`: no `to`, no `before`) its newest access record is the head the map
 * holds (same leaf hash, count = its number + 1), or the page holds none when the map has no head for
 * the patient. A checkpoint without the line proves nothing here: the answer says so.
 */
export function verifyTrailHead(
  trailMap: WireTrailMap | undefined,
  checkpoint: VerifiedCheckpoint,
  items: readonly VerifiedItem[],
  options: { readonly top: boolean; readonly patientTag: string | undefined },
): Completeness {
  const root = checkpoint.trailMapRoot;
  if (root === undefined) {
    return {
      proven: false,
      reason: `the checkpoint (size ${checkpoint.size}) carries no trail map (a log signed before custos-trail-map/v1): that no newest record was left out is not checked`,
    };
  }
  if (trailMap === undefined || typeof trailMap.tag !== "string" || typeof trailMap.proof !== "string") {
    throw new VerificationError(
      "TRAIL_INCOMPLETE",
      `the checkpoint (size ${checkpoint.size}) commits to every trail's newest record, but the node sent no proof of this trail's`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(trailMap.tag))
    throw new VerificationError("BAD_ENCODING", "the trail map proof's patient tag is not 64 hex digits");
  if (options.patientTag !== undefined && trailMap.tag !== options.patientTag) {
    throw new VerificationError(
      "TRAIL_INCOMPLETE",
      "the trail map proof is for another patient than this trail's",
    );
  }
  const proof = decodeB64(trailMap.proof, "the trail map proof");
  const verdict = verifyTrailMapProof(root, fromHex(trailMap.tag), proof);
  if (!verdict.ok) {
    throw new VerificationError(
      "BAD_PROOF",
      `the trail map proof does not verify against the checkpoint of size ${checkpoint.size}: ${verdict.reason}`,
    );
  }
  const newest = newestRecord(items);
  const head = verdict.head;
  if (head === undefined) {
    if (newest !== undefined) {
      throw new VerificationError(
        "TRAIL_INCOMPLETE",
        `the checkpoint's trail map holds no record of this patient, yet the node shows entry ${newest.index}`,
        newest.index,
      );
    }
    return { proven: true, count: 0, tag: trailMap.tag };
  }
  const shownCount = newest === undefined ? 0 : newest.seq === undefined ? 0 : newest.seq + 1;
  if (options.top) {
    if (newest === undefined) {
      throw new VerificationError(
        "TRAIL_INCOMPLETE",
        `the checkpoint (size ${checkpoint.size}) commits to ${head.count} record${head.count === 1 ? "" : "s"} in this trail, but the node shows none: it left out the newest records`,
      );
    }
    if (!bytesEqual(newest.leaf, head.last) || shownCount !== head.count) {
      throw new VerificationError(
        "TRAIL_INCOMPLETE",
        `the checkpoint (size ${checkpoint.size}) commits to ${head.count} record${head.count === 1 ? "" : "s"} in this trail, but the newest shown is record ${shownCount - 1} (entry ${newest.index}), not the trail's newest: the node left out the newest records`,
        newest.index,
      );
    }
  } else if (newest !== undefined && shownCount > head.count) {
    throw new VerificationError(
      "TRAIL_INCOMPLETE",
      `entry ${newest.index} is record ${shownCount - 1}, beyond the ${head.count} records the checkpoint's trail map holds for this trail`,
      newest.index,
    );
  }
  return { proven: true, count: head.count, tag: trailMap.tag };
}

/** The newest access record of a page (items come newest first). */
function newestRecord(items: readonly VerifiedItem[]) {
  for (const item of items) {
    const header = recordHeader(item);
    if (header !== undefined) return { index: item.index, leaf: item.leaf, seq: header.seq };
  }
  return undefined;
}
