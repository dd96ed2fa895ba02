// The log's trail map (src/core/trail-map) as the sequencer keeps it: every access record appended
// sets its patient's head, the changes wait until the next checkpoint, and signing that checkpoint
// applies them in one batch and puts the map's root in the checkpoint's extension line. The map is
// loaded from its snapshot when the log is opened, and the entries after the snapshot replayed
// (trail-map-snapshot.ts); without a usable snapshot it is rebuilt from every entry.
// Replies may be proven against a checkpoint older than the map (the witnessed one lags the signed
// one): each commit keeps the heads it replaced (an undo record), so the map of any recent checkpoint
// size is the current map with those heads put back (TrailMap.past), computed once per size.

import { ENTRY_KINDS } from "../core/entry/index.js";
import { CustosError } from "../core/index.js";
import { leafHash } from "../core/merkle/index.js";
import type { PastTrailMap, TrailHead } from "../core/trail-map/index.js";
import { encodeTrailMapProof, TrailMap } from "../core/trail-map/index.js";
import type { LedgerStore } from "./storage.js";

/** Entries read per store call while rebuilding. */
const REBUILD_CHUNK = 4096;
/**
 * Past versions kept: at most this many commits back, and this many replaced heads in all (about
 * 150 bytes each). A reply proven against an older checkpoint than that gets no proof (503).
 */
const MAX_UNDO_COMMITS = 512;
const MAX_UNDO_HEADS = 200_000;

interface Undo {
  /** The map's size before the commit. */
  readonly size: number;
  readonly replaced: readonly { readonly key: Uint8Array; readonly head: TrailHead | undefined }[];
}

const FIELD_PATIENT_TAG = 0x02;
const FIELD_SEQ = 0x05;
const FIELD_PREV = 0x06;
/** Access record fields this reader checks (docs/encryption.md) and their sizes (0: any). */
const FIELD_SIZES = new Map([
  [0x01, 16], // epoch
  [FIELD_PATIENT_TAG, 32],
  [0x03, 8], // hour
  [0x04, 0], // source
  [FIELD_SEQ, 8],
  [FIELD_PREV, 32],
  [0x07, 32], // event key
  [0xf0, 32], // content hash
]);
/** By field number: its size + 1 (0: a field this reader does not know), and its bit. */
const SIZE_BY_FIELD = new Int16Array(256);
const BIT_BY_FIELD = new Int32Array(256);
[...FIELD_SIZES].forEach(([field, size], i) => {
  SIZE_BY_FIELD[field] = size + 1;
  BIT_BY_FIELD[field] = 1 << i;
});
/** Epoch, tag, hour, source and content hash. */
const REQUIRED = [0x01, FIELD_PATIENT_TAG, 0x03, 0x04, 0xf0].reduce((bits, f) => bits | BIT_BY_FIELD[f]!, 0);

/**
 * Where an access record's patient tag is and its number (`seq`), read straight off the fields
 * (docs/formats.md, "Log entries") without decoding the whole entry: this runs for every record
 * appended and every entry of a rebuild. Undefined when the entry is not an access record whose fields
 * are in order, within the entry, of the known fields' sizes, with the required ones, and a
 * number below 2^53 (the sequencer appends none such; a tampered one is left out here and reported by
 * verify's entry checks).
 */
export function accessRecordHead(
  entry: Uint8Array,
): { tagOffset: number; seq: number | undefined } | undefined {
  if (entry.length < 2 || entry[0] !== 0x01 || entry[1] !== ENTRY_KINDS.accessRecord) return undefined;
  let offset = 2;
  let last = -1;
  let tagOffset = -1;
  let seq: number | undefined;
  let seen = 0;
  while (offset < entry.length) {
    if (offset + 5 > entry.length) return undefined;
    const field = entry[offset]!;
    const length =
      ((entry[offset + 1]! << 24) |
        (entry[offset + 2]! << 16) |
        (entry[offset + 3]! << 8) |
        entry[offset + 4]!) >>>
      0;
    const value = offset + 5;
    if (field <= last || value + length > entry.length) return undefined;
    last = field;
    // Fields this reader does not know (added to the header later) are passed over: only the tag and
    // the number matter here, and the sequencer validated the whole entry.
    const size = SIZE_BY_FIELD[field]!;
    if (size > 1 && length !== size - 1) return undefined;
    seen |= BIT_BY_FIELD[field]!;
    if (field === FIELD_PATIENT_TAG) tagOffset = value;
    else if (field === FIELD_SEQ) {
      const high =
        ((entry[value]! << 24) | (entry[value + 1]! << 16) | (entry[value + 2]! << 8) | entry[value + 3]!) >>>
        0;
      const low =
        ((entry[value + 4]! << 24) |
          (entry[value + 5]! << 16) |
          (entry[value + 6]! << 8) |
          entry[value + 7]!) >>>
        0;
      if (high > 0x1fffff) return undefined;
      seq = high * 2 ** 32 + low;
    }
    offset = value + length;
  }
  if ((seen & REQUIRED) !== REQUIRED) return undefined;
  // A link to the previous record only on a record numbered above 0.
  if ((seen & BIT_BY_FIELD[FIELD_PREV]!) !== 0 && !(seq !== undefined && seq > 0)) return undefined;
  return { tagOffset, seq };
}

/** A map key for a tag (latin1: one char per byte, no hex formatting per record). */
function tagKey(entry: Uint8Array, offset: number): string {
  return Buffer.from(entry.buffer, entry.byteOffset + offset, 32).toString("latin1");
}

export class TrailHeads {
  readonly map: TrailMap;
  readonly #pending = new Map<string, { tag: Uint8Array; head: TrailHead }>();
  /** The log size the committed map reflects. */
  #size: number;
  /** Entries observed so far (committed or pending). */
  #observed: number;

  /** A committed map of the log's first `size` entries (empty: size 0). */
  constructor(map: TrailMap = new TrailMap(), size = 0) {
    this.map = map;
    this.#size = size;
    this.#observed = size;
  }
  readonly #undo: Undo[] = [];
  #undoHeads = 0;
  #past: { readonly size: number; readonly map: PastTrailMap } | undefined;

  /** The map of a store's first `size` entries. */
  static async rebuild(store: LedgerStore, size: number): Promise<TrailHeads> {
    const heads = new TrailHeads();
    for await (const chunk of store.scanEntries(0, size, REBUILD_CHUNK)) {
      for (const stored of chunk) {
        if (stored.data[1] === ENTRY_KINDS.accessRecord) heads.#note(stored.data, leafHash(stored.data));
      }
      heads.#observed += chunk.length;
    }
    heads.commit();
    return heads;
  }

  /** The log size the map's root is for (the size of the checkpoint that last committed it). */
  get size(): number {
    return this.#size;
  }

  /** New entries, in log order, with their leaf hashes; they count from the next commit() on. */
  observe(entries: readonly Uint8Array[], leaves: readonly Uint8Array[]): void {
    entries.forEach((entry, i) => {
      if (entry[1] === ENTRY_KINDS.accessRecord) this.#note(entry, leaves[i]!);
    });
    this.#observed += entries.length;
  }

  #note(entry: Uint8Array, leaf: Uint8Array): void {
    const found = accessRecordHead(entry);
    if (found === undefined) return;
    const { tagOffset, seq } = found;
    // Views, not copies: the entries and leaf hashes of a batch are not changed after it is taken.
    this.#pending.set(tagKey(entry, tagOffset), {
      tag: entry.subarray(tagOffset, tagOffset + 32),
      head: { count: seq === undefined ? 0 : seq + 1, last: leaf },
    });
  }

  /** Applies what was observed since the last commit; returns the root for the log's current size. */
  commit(): Uint8Array {
    // The map of size 0 is empty (proved without undo records); a rebuild commits every key at once.
    const keep = this.#observed !== this.#size && this.#size > 0;
    const replaced: { key: Uint8Array; head: TrailHead | undefined }[] = [];
    for (const { tag, head } of this.#pending.values()) {
      const before = this.map.set(tag, head);
      // A copy: the tag is a view into an entry, which the undo record must not keep alive.
      if (keep) replaced.push({ key: tag.slice(), head: before });
    }
    if (keep) {
      this.#undo.push({ size: this.#size, replaced });
      this.#undoHeads += replaced.length;
      while (
        this.#undo.length > MAX_UNDO_COMMITS ||
        (this.#undo.length > 1 && this.#undoHeads > MAX_UNDO_HEADS)
      )
        this.#undoHeads -= this.#undo.shift()!.replaced.length;
    }
    this.#pending.clear();
    this.#size = this.#observed;
    this.#past = undefined;
    return this.map.commit();
  }

  /** Reads and commits the store's entries from the map's size up to `size` (a follower: replicas, mirrors). */
  async catchUp(store: LedgerStore, size: number): Promise<void> {
    if (size <= this.#observed) return;
    for await (const chunk of store.scanEntries(this.#observed, size, REBUILD_CHUNK)) {
      for (const stored of chunk) {
        if (stored.index !== this.#observed)
          throw new CustosError("STORE_CORRUPT", `entry ${this.#observed} is missing`);
        if (stored.data[1] === ENTRY_KINDS.accessRecord) this.#note(stored.data, leafHash(stored.data));
        this.#observed++;
      }
    }
    if (this.#observed !== size) throw new CustosError("STORE_CORRUPT", `entry ${this.#observed} is missing`);
    this.commit();
  }

  /**
   * The proof (docs/formats.md) for a patient tag against the map root of the checkpoint of size
   * `size`: the current map, or a past version still within the undo records; undefined otherwise.
   */
  prove(tag: Uint8Array, size: number): Uint8Array | undefined {
    if (size === this.#size) return this.map.proveEncoded(tag);
    if (size === 0) return encodeTrailMapProof({ siblings: [], terminal: { kind: "empty" } });
    const past = this.pastAt(size);
    return past === undefined ? undefined : encodeTrailMapProof(past.prove(tag));
  }

  /** The map as it was at a committed size still within the undo records. */
  pastAt(size: number): PastTrailMap | undefined {
    if (this.#past?.size === size) return this.#past.map;
    const from = this.#undo.findIndex((undo) => undo.size === size);
    if (from < 0) return undefined;
    // Newest first, so the head a key had at `size` (replaced by the oldest commit since) wins.
    const reverted = new Map<string, { key: Uint8Array; head: TrailHead | undefined }>();
    for (let i = this.#undo.length - 1; i >= from; i--)
      for (const change of this.#undo[i]!.replaced) reverted.set(tagKey(change.key, 0), change);
    const map = this.map.past([...reverted.values()]);
    this.#past = { size, map };
    return map;
  }
}
