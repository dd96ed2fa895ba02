// Offline verification of an archive (docs/formats.md, "Archives") with nothing but the log's
// verifier key and the witnesses' keys: the file's signature by the log, the anchor checkpoint, each
// earlier checkpoint's cosignatures and its consistency with the anchor, every entry's inclusion
// proof, every content against the hash its entry commits to, and content left out only where an
// erasure entry in the archive names it. Never throws on a hostile file: every problem is a finding
// that names where it is (the entry index, the checkpoint) and never quotes content.

import { bytesEqual, toBase64 } from "../bytes.js";
import { openCheckpoint } from "../checkpoint/index.js";
import {
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  decodeErasureEntry,
  ENTRY_KINDS,
  type Entry,
  hourOf,
  keyEnvelopeFromEntry,
} from "../entry/index.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../merkle/index.js";
import { openNote, parseVerifierKey } from "../note/index.js";
import { sha256 } from "../platform.js";
import {
  ARCHIVE_FORMAT,
  type ArchiveBody,
  archiveNoteText,
  frameArchive,
  parseArchiveBody,
} from "./archive-format.js";

export const ARCHIVE_FINDING_CODES = [
  "ARCHIVE_MALFORMED",
  "ARCHIVE_SIGNATURE",
  "CHECKPOINT_BAD_SIGNATURE",
  "CHECKPOINT_INCONSISTENT",
  "WITNESS_QUORUM_MISSING",
  "ENTRY_UNREADABLE",
  "ENTRY_NOT_IN_LOG",
  "CONTENT_MODIFIED",
  "CONTENT_MISSING",
  "ERASED_CONTENT_KEPT",
  "RECORD_OUT_OF_RANGE",
  "UNEXPECTED_ENTRY",
] as const;
export type ArchiveFindingCode = (typeof ARCHIVE_FINDING_CODES)[number];

export interface ArchiveFinding {
  readonly code: ArchiveFindingCode;
  readonly message: string;
  /** The log index of the entry concerned. */
  readonly index?: number;
  /** The tree size of the checkpoint concerned. */
  readonly checkpointSize?: number;
}

export interface ArchiveSummary {
  readonly origin: string;
  readonly from: number;
  readonly to: number;
  readonly createdAt: number;
  /** The anchor checkpoint's tree size. */
  readonly size: number;
  readonly records: number;
  readonly envelopes: number;
  readonly erasures: number;
  /** Entries whose content the archive leaves out because an erasure entry in it names that content. */
  readonly erasedContents: number;
  /** The largest checkpoint in the archive carrying the witness quorum (0: none, or none asked). */
  readonly witnessedSize: number;
  /** Entries at or past witnessedSize (attested by the log's signature alone) when witnesses were asked. */
  readonly unwitnessed: number;
  readonly cosigners: readonly string[];
  readonly readers: readonly string[];
}

export interface ArchiveReport {
  readonly ok: boolean;
  readonly findings: readonly ArchiveFinding[];
  /** The parsed body, once its signature verified (also when later checks found problems). */
  readonly body?: ArchiveBody;
  readonly summary?: ArchiveSummary;
}

export interface ArchiveTrust {
  /** The log's verifier key (Go sumdb/note text form). */
  readonly logKey: string;
  /** Witnesses' cosigner verifier keys; a quorum of them must have cosigned a checkpoint. */
  readonly witnessKeys?: readonly string[];
  /** How many of witnessKeys must have cosigned (default: all of them). */
  readonly quorum?: number;
}

function failed(code: ArchiveFindingCode, message: string): ArchiveReport {
  return { ok: false, findings: [{ code, message }] };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks the file's own signature; returns the body bytes' parse, or a report of why not. */
function openSigned(file: Uint8Array, trust: ArchiveTrust): ArchiveBody | ArchiveReport {
  let framed: ReturnType<typeof frameArchive>;
  try {
    framed = frameArchive(file);
  } catch (error) {
    return failed("ARCHIVE_MALFORMED", messageOf(error));
  }
  let logName: string;
  try {
    logName = parseVerifierKey(trust.logKey).name;
    const opened = openNote(framed.note, [trust.logKey]);
    const expected = archiveNoteText(logName, sha256(framed.bodyBytes));
    if (opened.text !== expected)
      return failed(
        "ARCHIVE_SIGNATURE",
        "the archive was altered after it was signed (its body does not hash to the signed value), or it is of another log",
      );
  } catch (error) {
    return failed(
      "ARCHIVE_SIGNATURE",
      `the archive's signature by the log does not verify: ${messageOf(error)}`,
    );
  }
  try {
    const body = parseArchiveBody(framed.bodyBytes);
    if (body.origin !== logName)
      return failed("ARCHIVE_MALFORMED", `the archive names log "${body.origin}", not "${logName}"`);
    return body;
  } catch (error) {
    return failed("ARCHIVE_MALFORMED", messageOf(error));
  }
}

interface OpenedAnchor {
  readonly size: number;
  readonly root: Uint8Array;
  readonly cosigners: readonly string[];
}

function openOne(note: string, trust: ArchiveTrust, origin: string): OpenedAnchor | string {
  try {
    const opened = openCheckpoint(note, trust.logKey, { cosignerKeys: trust.witnessKeys ?? [] });
    if (opened.checkpoint.origin !== origin) return `it is for log "${opened.checkpoint.origin}"`;
    return {
      size: Number(opened.checkpoint.size),
      root: opened.checkpoint.rootHash,
      cosigners: opened.cosigners,
    };
  } catch (error) {
    return messageOf(error);
  }
}

export function verifyArchive(file: Uint8Array, trust: ArchiveTrust): ArchiveReport {
  const body = openSigned(file, trust);
  if (!("entries" in body)) return body;
  const findings: ArchiveFinding[] = [];
  const anchor = openOne(body.checkpoint, trust, body.origin);
  if (typeof anchor === "string")
    return {
      ok: false,
      body,
      findings: [{ code: "CHECKPOINT_BAD_SIGNATURE", message: `the archive's checkpoint: ${anchor}` }],
    };
  const quorum = trust.quorum ?? trust.witnessKeys?.length ?? 0;
  let witnessedSize = anchor.cosigners.length >= quorum && quorum > 0 ? anchor.size : 0;
  let cosigners = witnessedSize > 0 ? anchor.cosigners : [];
  for (const checkpoint of body.checkpoints) {
    const opened = openOne(checkpoint.note, trust, body.origin);
    if (typeof opened === "string") {
      findings.push({ code: "CHECKPOINT_BAD_SIGNATURE", message: `a checkpoint in the archive: ${opened}` });
      continue;
    }
    const consistent =
      opened.size <= anchor.size &&
      (opened.size === anchor.size
        ? bytesEqual(opened.root, anchor.root)
        : verifyConsistency(opened.size, anchor.size, checkpoint.consistency, opened.root, anchor.root));
    if (!consistent) {
      findings.push({
        code: "CHECKPOINT_INCONSISTENT",
        message: `the checkpoint of size ${opened.size} is not proven consistent with the archive's checkpoint of size ${anchor.size}: the log's history was rewritten, or the proof is wrong`,
        checkpointSize: opened.size,
      });
      continue;
    }
    if (quorum > 0 && opened.cosigners.length >= quorum && opened.size > witnessedSize) {
      witnessedSize = opened.size;
      cosigners = opened.cosigners;
    }
  }
  if (quorum > 0 && witnessedSize === 0)
    findings.push({
      code: "WITNESS_QUORUM_MISSING",
      message: `no checkpoint in the archive carries ${quorum} cosignature(s) by the witnesses given`,
    });
  const counts = checkEntries(body, anchor, findings);
  const unwitnessed = quorum > 0 ? body.entries.filter((e) => e.index >= witnessedSize).length : 0;
  return {
    ok: findings.length === 0,
    findings,
    body,
    summary: {
      origin: body.origin,
      from: body.from,
      to: body.to,
      createdAt: body.createdAt,
      size: anchor.size,
      ...counts,
      witnessedSize,
      unwitnessed,
      cosigners,
      readers: body.readers.map((r) => r.id),
    },
  };
}

function checkEntries(body: ArchiveBody, anchor: OpenedAnchor, findings: ArchiveFinding[]) {
  const decoded = new Map<number, Entry>();
  const erased = new Set<string>();
  let records = 0;
  let envelopes = 0;
  let erasures = 0;
  let erasedContents = 0;
  // Inclusion first: an entry that is not in the log proves nothing, its erasures included.
  for (const item of body.entries) {
    const where = { index: item.index };
    if (
      item.index >= anchor.size ||
      !verifyInclusion(leafHash(item.entry), item.index, anchor.size, item.proof, anchor.root)
    ) {
      findings.push({
        code: "ENTRY_NOT_IN_LOG",
        message: `entry ${item.index}: its inclusion proof does not verify against the checkpoint of size ${anchor.size} (altered, or not in the log)`,
        ...where,
      });
      continue;
    }
    try {
      const entry = decodeEntry(item.entry);
      decoded.set(item.index, entry);
      if (entry.kind === ENTRY_KINDS.erasure) {
        erasures++;
        for (const hash of decodeErasureEntry(item.entry).contentHashes) erased.add(toBase64(hash));
      }
    } catch (error) {
      findings.push({
        code: "ENTRY_UNREADABLE",
        message: `entry ${item.index}: ${messageOf(error)}`,
        ...where,
      });
    }
  }
  const readers = new Set(body.readers.map((r) => toBase64(r.fingerprint)));
  for (const item of body.entries) {
    const entry = decoded.get(item.index);
    if (entry === undefined) continue;
    const where = { index: item.index };
    try {
      if (entry.kind === ENTRY_KINDS.accessRecord) {
        records++;
        const { header } = accessRecordFromEntry(entry);
        if (header.hour < hourOf(body.from) || header.hour >= body.to)
          findings.push({
            code: "RECORD_OUT_OF_RANGE",
            message: `entry ${item.index}: the record's hour lies outside the archive's range`,
            ...where,
          });
      } else if (entry.kind === ENTRY_KINDS.keyEnvelope) {
        envelopes++;
        if (!readers.has(toBase64(keyEnvelopeFromEntry(entry).header.recipient)))
          findings.push({
            code: "UNEXPECTED_ENTRY",
            message: `entry ${item.index}: a key envelope addressed to no reader the archive names`,
            ...where,
          });
      } else if (entry.kind !== ENTRY_KINDS.erasure) {
        findings.push({
          code: "UNEXPECTED_ENTRY",
          message: `entry ${item.index}: an entry of kind ${entry.kind} has no place in a ${ARCHIVE_FORMAT} archive`,
          ...where,
        });
      }
    } catch (error) {
      findings.push({
        code: "ENTRY_UNREADABLE",
        message: `entry ${item.index}: ${messageOf(error)}`,
        ...where,
      });
      continue;
    }
    let hash: Uint8Array | undefined;
    try {
      hash = contentHashOf(entry);
    } catch {
      hash = undefined;
    }
    if (hash === undefined) continue;
    const isErased = erased.has(toBase64(hash));
    if (item.content === undefined) {
      if (isErased) erasedContents++;
      else
        findings.push({
          code: "CONTENT_MISSING",
          message: `entry ${item.index}: its content is left out, and no erasure entry in the archive names it`,
          ...where,
        });
    } else if (!bytesEqual(sha256(item.content), hash)) {
      findings.push({
        code: "CONTENT_MODIFIED",
        message: `entry ${item.index}: its content does not hash to the value the entry commits to`,
        ...where,
      });
    } else if (isErased) {
      findings.push({
        code: "ERASED_CONTENT_KEPT",
        message: `entry ${item.index}: the archive holds content that an erasure entry in it says was destroyed`,
        ...where,
      });
    }
  }
  return { records, envelopes, erasures, erasedContents };
}
