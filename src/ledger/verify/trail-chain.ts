// The per-patient hash chains of `custos verify`. An access record numbered seq > 0 carries `prev`, the
// leaf hash of its patient's record numbered seq - 1: clients check one inclusion proof per page of a
// trail and trust the rest by following `prev`, so the full verify checks every link the log holds.
// Each link must name a record of the same patient tag with the number just below, and no two records
// of a patient may carry the same number. Records without a number (written before numbering existed)
// are not checked, and a patient's numbering may restart at 0 after one of them, as the writer does.
//
// Memory stays bounded however many patients the log has: the newest record of recently seen patients
// is kept (an LRU over a fixed slab), a bit set remembers which patients were seen at all (a full scan
// then knows a new patient has nothing below), and anything else is looked up in the store under the
// patient's tag: just below the record, and just above it, since concurrent batches may land a record
// shortly before the one it links to.

import type { AccessRecordHeader } from "../../core/entry/index.js";
import { accessRecordFromEntry, decodeEntry, ENTRY_KINDS } from "../../core/entry/index.js";
import { bytesEqual, toHex } from "../../core/index.js";
import { leafHash } from "../../core/merkle/index.js";
import type { LedgerStore } from "../storage.js";
import type { Finding } from "./findings.js";

/** Patients whose newest record is kept in memory (about 160 bytes each). */
export const DEFAULT_TRAIL_CACHE_SIZE = 200_000;
/** How far (in record numbers) concurrent batches may land a patient's records out of order. */
const REORDER_SLACK = 8;
/** A patient's entries read per store look-up at first (grows for long searches). */
const FIRST_PAGE = 64;
const MAX_PAGE = 4096;
/** Entries of the patient examined above a record for the one it links to. */
const MAX_ABOVE = 512;
/** Store look-ups run at once when resolving a chunk's open links. */
const CONCURRENCY = 4;
/** A link still open near the end of a live log is looked for again after this pause. */
const SETTLE_MS = 1000;
const SETTLE_WINDOW = 65_536;

interface Open {
  readonly index: number;
  readonly tag: Uint8Array;
  readonly seq: number;
  readonly prev: Uint8Array | undefined;
  /** False when a full scan has seen nothing of the patient below: only a look above is needed. */
  readonly below: boolean;
}

interface Resolution {
  linked: boolean;
  duplicateOf: number | undefined;
}

export interface TrailCheckOptions {
  /** True when the scan starts at entry 0, so that what it has not seen is not in the log below. */
  readonly fullScan: boolean;
  readonly cacheSize?: number;
  /** Unfound links within this many entries of the end are looked for again after a pause. */
  readonly settleWindow?: number;
  readonly findings: Finding[];
}

export class TrailChecker {
  readonly #store: LedgerStore;
  readonly #fullScan: boolean;
  readonly #findings: Finding[];
  readonly #settleWindow: number;
  readonly #recent: RecentRecords;
  readonly #seen = new SeenTags();
  #open: Open[] = [];
  /** Records whose link was not found: reported by finish(). */
  #unlinked: Open[] = [];

  constructor(store: LedgerStore, options: TrailCheckOptions) {
    this.#store = store;
    this.#fullScan = options.fullScan;
    this.#findings = options.findings;
    this.#settleWindow = options.settleWindow ?? SETTLE_WINDOW;
    this.#recent = new RecentRecords(Math.max(1, options.cacheSize ?? DEFAULT_TRAIL_CACHE_SIZE));
  }

  /** One access record, in index order. Checked from memory when possible, else queued for flush(). */
  observe(index: number, leaf: Uint8Array, header: AccessRecordHeader): void {
    const key = toHex(header.patientTag);
    if (header.seq === undefined) {
      // An unnumbered record: the writer restarts the patient's numbering at 0 after it.
      this.#recent.delete(key);
      return;
    }
    const seq = header.seq;
    const prev = header.prev;
    const slot = this.#recent.get(key);
    if (slot === undefined) {
      const seenBefore = !this.#fullScan || this.#seen.has(header.patientTag);
      this.#seen.add(header.patientTag);
      this.#recent.set(key, seq, leaf);
      // Nothing of this patient below in a full scan: no number to repeat, and no link to look for
      // unless the record links to one that landed just after it.
      if (!seenBefore && prev === undefined) return;
      this.#queue(index, header, seenBefore);
      return;
    }
    const newest = this.#recent.seqAt(slot);
    if (seq === newest + 1 && (prev === undefined || this.#recent.leafIs(slot, prev))) {
      this.#recent.update(slot, seq, leaf);
      return;
    }
    // Out of order, a number seen before, or a link to something else than the newest record: the
    // store decides. The newest number stays the highest seen.
    if (seq > newest) this.#recent.update(slot, seq, leaf);
    this.#queue(index, header, true);
  }

  #queue(index: number, header: AccessRecordHeader, below: boolean): void {
    // Copies: the header's fields are views of the chunk's entries, which should not be kept alive.
    const { patientTag, seq, prev } = header;
    this.#open.push({ index, tag: patientTag.slice(), seq: seq!, prev: prev?.slice(), below });
  }

  /** Resolves the queued records against the store (after each chunk of the scan). */
  async flush(): Promise<void> {
    const open = this.#open;
    this.#open = [];
    const results = await mapConcurrently(open, CONCURRENCY, (record) => this.#resolve(record));
    open.forEach((record, i) => {
      const result = results[i]!;
      if (result.duplicateOf !== undefined) this.#reportDuplicate(record.index, result.duplicateOf);
      if (!result.linked) this.#unlinked.push(record);
    });
  }

  /**
   * Reports the links not found. Near the end of a live log the record linked to may be in a batch
   * still being committed (landed just after its successor): those are looked for once more after a
   * pause. `lastIndex` is the last entry scanned.
   */
  async finish(lastIndex: number): Promise<void> {
    await this.flush();
    const unlinked = this.#unlinked;
    this.#unlinked = [];
    const recent = unlinked.filter((record) => record.index > lastIndex - this.#settleWindow);
    let found = new Set<Open>();
    if (recent.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const results = await mapConcurrently(recent, CONCURRENCY, async (record) => {
        const result: Resolution = { linked: false, duplicateOf: undefined };
        await this.#searchAbove(record, result);
        return result;
      });
      found = new Set(recent.filter((_, i) => results[i]!.linked));
    }
    for (const record of unlinked) if (!found.has(record)) this.#reportBroken(record.index);
  }

  #reportBroken(index: number): void {
    this.#findings.push({
      code: "TRAIL_BROKEN",
      message: `entry ${index} links to a previous record of its patient's trail that the log does not hold: the trail was forged or an entry was replaced`,
      firstIndex: index,
      lastIndex: index,
    });
  }

  #reportDuplicate(index: number, other: number): void {
    this.#findings.push({
      code: "TRAIL_FORKED",
      message: `entry ${index} claims the same place in its patient's trail as entry ${other}: two records carry one number, so one of them was forged or replayed`,
      firstIndex: index,
      lastIndex: index,
    });
  }

  async #resolve(record: Open): Promise<Resolution> {
    const result: Resolution = { linked: record.prev === undefined, duplicateOf: undefined };
    if (record.below) await this.#searchBelow(record, result);
    if (!result.linked) await this.#searchAbove(record, result);
    return result;
  }

  /**
   * The patient's records below the record, newest first: the one it links to, and any other record
   * with its number. Stops a few numbers below (records land at most slightly out of order), at an
   * unnumbered record (numbering restarts after it), or at the patient's first entry.
   */
  async #searchBelow(record: Open, result: Resolution): Promise<void> {
    let toIndex = record.index;
    let limit = FIRST_PAGE;
    for (;;) {
      const indexes = await this.#store.findByLookupKey({
        key: record.tag,
        descending: true,
        limit,
        toIndex,
      });
      if (indexes.length === 0) return;
      for (const stored of await this.#store.getEntriesAt(indexes)) {
        const header = recordOf(stored.data, record.tag);
        if (header === undefined || stored.index >= record.index) continue;
        if (header.seq === undefined) return;
        if (header.seq === record.seq) result.duplicateOf ??= stored.index;
        if (!result.linked && header.seq === record.seq - 1 && linksTo(record, stored.data))
          result.linked = true;
        if (header.seq < record.seq - 1 - REORDER_SLACK) return;
        if (result.linked && result.duplicateOf !== undefined) return;
      }
      if (indexes.length < limit) return;
      toIndex = Math.min(...indexes);
      limit = Math.min(limit * 4, MAX_PAGE);
    }
  }

  /** The patient's records just above the record, for the one it links to (landed just after it). */
  async #searchAbove(record: Open, result: Resolution): Promise<void> {
    let fromIndex = record.index + 1;
    let examined = 0;
    for (;;) {
      const limit = FIRST_PAGE;
      const indexes = await this.#store.findByLookupKey({ key: record.tag, limit, fromIndex });
      if (indexes.length === 0) return;
      for (const stored of await this.#store.getEntriesAt(indexes)) {
        if (++examined > MAX_ABOVE) return;
        const header = recordOf(stored.data, record.tag);
        if (header?.seq === undefined || stored.index <= record.index) continue;
        if (header.seq === record.seq - 1 && linksTo(record, stored.data)) {
          result.linked = true;
          return;
        }
        if (header.seq > record.seq + REORDER_SLACK) return;
      }
      if (indexes.length < limit) return;
      fromIndex = Math.max(...indexes) + 1;
    }
  }
}

function linksTo(record: Open, data: Uint8Array): boolean {
  return record.prev !== undefined && bytesEqual(leafHash(data), record.prev);
}

/** The header of an access record of this patient; undefined for anything else (or unreadable). */
function recordOf(data: Uint8Array, tag: Uint8Array): AccessRecordHeader | undefined {
  if (data[1] !== ENTRY_KINDS.accessRecord) return undefined;
  try {
    const { header } = accessRecordFromEntry(decodeEntry(data));
    return bytesEqual(header.patientTag, tag) ? header : undefined;
  } catch {
    return undefined; // reported by the scan as ENTRY_UNREADABLE
  }
}

async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * Patient tag (hex) -> the number and leaf hash of the newest record seen, least recently used first
 * (nearly: a key is moved to the recent end only once half the capacity has gone by, which spares the
 * busiest patients a map update per record). Numbers and hashes live in typed arrays indexed by slot,
 * so an entry costs its key and a map slot.
 */
class RecentRecords {
  readonly #capacity: number;
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];
  /** When each slot was last moved to the recent end (in set/get calls), so hot keys move rarely. */
  #stamps = new Float64Array(0);
  #clock = 0;
  #seqs = new Float64Array(0);
  #leaves = new Uint8Array(0);
  #allocated = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** The patient's slot, marked recently used (moved only once it is in the older half). */
  get(key: string): number | undefined {
    const slot = this.#slots.get(key);
    this.#clock++;
    if (slot !== undefined && this.#stamps[slot]! < this.#clock - this.#capacity / 2) {
      this.#slots.delete(key);
      this.#slots.set(key, slot);
      this.#stamps[slot] = this.#clock;
    }
    return slot;
  }

  set(key: string, seq: number, leaf: Uint8Array): void {
    let slot = this.#slots.get(key);
    if (slot !== undefined) this.#slots.delete(key);
    else slot = this.#free.pop() ?? this.#newSlot();
    this.#slots.set(key, slot);
    this.#stamps[slot] = ++this.#clock;
    this.update(slot, seq, leaf);
  }

  delete(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#free.push(slot);
  }

  seqAt(slot: number): number {
    return this.#seqs[slot]!;
  }

  leafIs(slot: number, leaf: Uint8Array): boolean {
    return bytesEqual(this.#leaves.subarray(slot * 32, slot * 32 + 32), leaf);
  }

  update(slot: number, seq: number, leaf: Uint8Array): void {
    this.#seqs[slot] = seq;
    this.#leaves.set(leaf, slot * 32);
  }

  #newSlot(): number {
    if (this.#allocated < this.#capacity) {
      if (this.#allocated === this.#seqs.length) {
        const size = Math.min(this.#capacity, Math.max(1024, this.#allocated * 2));
        const seqs = new Float64Array(size);
        seqs.set(this.#seqs);
        const stamps = new Float64Array(size);
        stamps.set(this.#stamps);
        this.#stamps = stamps;
        const leaves = new Uint8Array(size * 32);
        leaves.set(this.#leaves);
        this.#seqs = seqs;
        this.#leaves = leaves;
      }
      return this.#allocated++;
    }
    // Full: reuse the slot of the patient seen least recently (the one being added is not in the map).
    const [oldestKey, oldestSlot] = this.#slots.entries().next().value as [string, number];
    this.#slots.delete(oldestKey);
    return oldestSlot;
  }
}

/**
 * Which patients a full scan has seen (a Bloom filter, 2 MB): "no" is certain, so a new patient's first
 * record needs no store look-up; "maybe" costs only that look-up.
 */
class SeenTags {
  static readonly #BITS = 1 << 24;
  #bits: Uint8Array | undefined;

  has(tag: Uint8Array): boolean {
    if (this.#bits === undefined) return false;
    for (let k = 0; k < 3; k++) {
      const bit = SeenTags.#position(tag, k);
      if ((this.#bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }

  add(tag: Uint8Array): void {
    this.#bits ??= new Uint8Array(SeenTags.#BITS >>> 3);
    for (let k = 0; k < 3; k++) {
      const bit = SeenTags.#position(tag, k);
      this.#bits[bit >>> 3] = (this.#bits[bit >>> 3] ?? 0) | (1 << (bit & 7));
    }
  }

  // Patient tags are HMAC outputs: their bytes are already uniformly spread.
  static #position(tag: Uint8Array, k: number): number {
    const o = k * 4;
    return ((tag[o]! << 24) | (tag[o + 1]! << 16) | (tag[o + 2]! << 8) | tag[o + 3]!) & (SeenTags.#BITS - 1);
  }
}

/**
 * The trail links of the access records in entries [from, to) of a store, such as the entries a mirror
 * has just copied: each link is looked for in the store below (and just above) the record. Entries
 * that do not parse are left to `custos verify`.
 */
export async function checkTrailRange(
  store: LedgerStore,
  from: number,
  to: number,
  options: { readonly cacheSize?: number } = {},
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const checker = new TrailChecker(store, {
    fullScan: false,
    settleWindow: 0,
    findings,
    ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
  });
  for await (const chunk of store.scanEntries(from, to, 4096)) {
    for (const stored of chunk) {
      if (stored.data[1] !== ENTRY_KINDS.accessRecord) continue;
      let header: AccessRecordHeader;
      try {
        header = accessRecordFromEntry(decodeEntry(stored.data)).header;
      } catch {
        continue;
      }
      checker.observe(stored.index, leafHash(stored.data), header);
    }
    await checker.flush();
  }
  await checker.finish(to - 1);
  return findings;
}
