// The archive file (docs/formats.md, "Archives"): one self-contained, signed bundle of a time range of
// a log, readable offline. The file frames a JSON body by its byte length and ends in a C2SP signed
// note, by the log's key, over the body's SHA-256, so any change to the body breaks the signature
// before anything in it is believed. Parsing treats every byte as hostile and throws CustosError
// BAD_ENCODING naming what is wrong; checking proofs and signatures is verify-archive.ts's job.

import { fromBase64, fromUtf8, toBase64, utf8 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { sha256 } from "../platform.js";

export const ARCHIVE_FORMAT = "custos-archive/v1";
/** The largest body accepted (the whole file is read into memory). */
export const MAX_ARCHIVE_BODY_BYTES = 1 << 30;
const MAX_HEADER_DIGITS = 10;

export interface ArchiveEntry {
  readonly index: number;
  /** The entry's bytes, as the log holds them (the leaf hash commits to them). */
  readonly entry: Uint8Array;
  /** RFC 9162 inclusion proof of the entry in the anchor checkpoint. */
  readonly proof: readonly Uint8Array[];
  /** The content beside the tree the entry commits to; undefined when erased (or the entry has none). */
  readonly content: Uint8Array | undefined;
}

export interface ArchiveReader {
  /** Identity URI, e.g. custos://stmary/auditor/regulator. */
  readonly id: string;
  /** The reader's recipient fingerprint (16 bytes): the key envelopes addressed to it name it. */
  readonly fingerprint: Uint8Array;
  /**
   * For a patient named as a reader: their tag. They need keys to their own records only (never
   * written to the archive: the maker uses it to say which keys a reader lacks).
   */
  readonly patientTag?: Uint8Array;
}

export interface ArchiveCheckpoint {
  /** A signed checkpoint note, cosignatures included. */
  readonly note: string;
  /** RFC 9162 consistency proof from this checkpoint to the anchor. */
  readonly consistency: readonly Uint8Array[];
}

export interface ArchiveBody {
  readonly origin: string;
  /** When the archive was made (ms since the epoch). */
  readonly createdAt: number;
  /** The range: access records whose hour lies in [from, to) (ms since the epoch). */
  readonly from: number;
  readonly to: number;
  readonly readers: readonly ArchiveReader[];
  /** The checkpoint every entry's inclusion proof is against, signed by the log's key. */
  readonly checkpoint: string;
  /** Earlier checkpoints (the witnessed one, with its cosignatures), each proven consistent with it. */
  readonly checkpoints: readonly ArchiveCheckpoint[];
  /** In increasing index order, without repeats. */
  readonly entries: readonly ArchiveEntry[];
}

function bad(message: string): CustosError {
  return new CustosError("BAD_ENCODING", `archive: ${message}`);
}

// --- writing ---

function bodyJson(body: ArchiveBody): string {
  return JSON.stringify({
    format: ARCHIVE_FORMAT,
    origin: body.origin,
    createdAt: new Date(body.createdAt).toISOString(),
    from: new Date(body.from).toISOString(),
    to: new Date(body.to).toISOString(),
    readers: body.readers.map((r) => ({ id: r.id, fingerprint: toBase64(r.fingerprint) })),
    checkpoint: body.checkpoint,
    checkpoints: body.checkpoints.map((c) => ({ note: c.note, consistency: c.consistency.map(toBase64) })),
    entries: body.entries.map((e) => ({
      index: e.index,
      entry: toBase64(e.entry),
      proof: e.proof.map(toBase64),
      content: e.content === undefined ? null : toBase64(e.content),
    })),
  });
}

/** The text the archive's signature signs: it names the format, the log and the body's hash. */
export function archiveNoteText(origin: string, bodyHash: Uint8Array): string {
  // Line 2 starts "origin ", never a decimal size, so this note is never mistaken for a checkpoint.
  return `${ARCHIVE_FORMAT}\norigin ${origin}\nsha256 ${toBase64(bodyHash)}\n`;
}

/**
 * Serializes an archive: the header line, the body's length, the body, then the signed note that
 * `sign` makes of archiveNoteText (the log's key signs it).
 */
export function encodeArchive(body: ArchiveBody, sign: (noteText: string) => string): Uint8Array {
  const bytes = utf8(bodyJson(body));
  const note = sign(archiveNoteText(body.origin, sha256(bytes)));
  const head = utf8(`${ARCHIVE_FORMAT}\n${bytes.length}\n`);
  const tail = utf8(`\n${note}`);
  const out = new Uint8Array(head.length + bytes.length + tail.length);
  out.set(head, 0);
  out.set(bytes, head.length);
  out.set(tail, head.length + bytes.length);
  return out;
}

// --- reading ---

export interface FramedArchive {
  /** The body's exact bytes (what the signature's hash covers). */
  readonly bodyBytes: Uint8Array;
  /** The signed note at the end of the file. */
  readonly note: string;
}

/** Splits a file into its body and signed note; throws BAD_ENCODING when the framing is wrong. */
export function frameArchive(file: Uint8Array): FramedArchive {
  const magic = utf8(`${ARCHIVE_FORMAT}\n`);
  if (file.length < magic.length || !magic.every((b, i) => file[i] === b))
    throw bad(`the file does not start with "${ARCHIVE_FORMAT}" (not an archive, or another version)`);
  let offset = magic.length;
  let digits = "";
  while (offset < file.length && file[offset] !== 0x0a && digits.length <= MAX_HEADER_DIGITS) {
    digits += String.fromCharCode(file[offset]!);
    offset++;
  }
  if (file[offset] !== 0x0a || !/^(0|[1-9][0-9]*)$/.test(digits))
    throw bad("the body length line is not a decimal number");
  const length = Number(digits);
  if (length > MAX_ARCHIVE_BODY_BYTES) throw bad(`a body of ${length} bytes is larger than accepted`);
  const start = offset + 1;
  if (start + length + 1 > file.length) throw bad("the file is shorter than its body length says");
  if (file[start + length] !== 0x0a) throw bad("the body is not followed by a newline");
  let note: string;
  try {
    note = new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(start + length + 1));
  } catch {
    throw bad("the signature note is not UTF-8");
  }
  return { bodyBytes: file.subarray(start, start + length), note };
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw bad(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw bad(`${what} is not a list`);
  return value;
}

function text(value: unknown, what: string, max = 1 << 20): string {
  if (typeof value !== "string" || value.length > max) throw bad(`${what} is not a string`);
  return value;
}

function time(value: unknown, what: string): number {
  const t = typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) throw bad(`${what} is not an ISO 8601 time`);
  return t;
}

function base64(value: unknown, what: string): Uint8Array {
  try {
    return fromBase64(text(value, what, MAX_ARCHIVE_BODY_BYTES));
  } catch {
    throw bad(`${what} is not canonical base64`);
  }
}

function hashes(value: unknown, what: string): Uint8Array[] {
  const list = array(value, what);
  if (list.length > 64) throw bad(`${what} has more than 64 hashes`);
  return list.map((h, i) => {
    const bytes = base64(h, `${what} hash ${i}`);
    if (bytes.length !== 32) throw bad(`${what} hash ${i} is not 32 bytes`);
    return bytes;
  });
}

/** Parses a body's bytes (after its signature has been checked). */
export function parseArchiveBody(bytes: Uint8Array): ArchiveBody {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw bad("the body is not JSON");
  }
  const o = object(json, "the body");
  if (o.format !== ARCHIVE_FORMAT) throw bad(`the body's format is not ${ARCHIVE_FORMAT}`);
  let previous = -1;
  const entries = array(o.entries, "entries").map((value, i) => {
    const e = object(value, `entries[${i}]`);
    const index = e.index;
    if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0)
      throw bad(`entries[${i}] has no valid index`);
    if (index <= previous) throw bad(`entry ${index} is out of order or repeated`);
    previous = index;
    return {
      index,
      entry: base64(e.entry, `entry ${index}`),
      proof: hashes(e.proof, `entry ${index}'s proof`),
      content: e.content === null ? undefined : base64(e.content, `entry ${index}'s content`),
    };
  });
  return {
    origin: text(o.origin, "origin", 1000),
    createdAt: time(o.createdAt, "createdAt"),
    from: time(o.from, "from"),
    to: time(o.to, "to"),
    readers: array(o.readers, "readers").map((value, i) => {
      const r = object(value, `readers[${i}]`);
      const fingerprint = base64(r.fingerprint, `readers[${i}].fingerprint`);
      if (fingerprint.length !== 16) throw bad(`readers[${i}].fingerprint is not 16 bytes`);
      return { id: text(r.id, `readers[${i}].id`, 600), fingerprint };
    }),
    checkpoint: text(o.checkpoint, "checkpoint"),
    checkpoints: array(o.checkpoints, "checkpoints").map((value, i) => {
      const c = object(value, `checkpoints[${i}]`);
      return {
        note: text(c.note, `checkpoints[${i}].note`),
        consistency: hashes(c.consistency, `checkpoints[${i}].consistency`),
      };
    }),
    entries,
  };
}
