// The log's trail map (src/core/trail-map) as the sequencer keeps it: every access record appended
// sets its patient's head, the changes wait until the next checkpoint, and signing that checkpoint
// applies them in one batch and puts the map's root in the checkpoint's extension line. The map is
// rebuilt from the entries when the log is opened (bench/trail-map.ts measures what that costs).

import { toHex } from "../core/bytes.js";
import { accessRecordFromEntry, decodeEntry, ENTRY_KINDS } from "../core/entry/index.js";
import { leafHash } from "../core/merkle/index.js";
import type { TrailHead } from "../core/trail-map/index.js";
import { TrailMap } from "../core/trail-map/index.js";
import type { LedgerStore } from "./storage.js";

/** Entries read per store call while rebuilding. */
const REBUILD_CHUNK = 4096;

/** The patient tag and new trail head an entry sets, if it is an access record (else undefined). */
export function trailHeadOf(
  entry: Uint8Array,
  leaf: Uint8Array,
): { readonly tag: Uint8Array; readonly head: TrailHead } | undefined {
  if (entry[1] !== ENTRY_KINDS.accessRecord) return undefined;
  let header: ReturnType<typeof accessRecordFromEntry>["header"];
  try {
    header = accessRecordFromEntry(decodeEntry(entry)).header;
  } catch {
    return undefined; // never appended by the sequencer (it validates); verify reports it as unreadable
  }
  return {
    tag: header.patientTag,
    head: { count: header.seq === undefined ? 0 : header.seq + 1, last: leaf },
  };
}

export class TrailHeads {
  readonly map = new TrailMap();
  readonly #pending = new Map<string, { tag: Uint8Array; head: TrailHead }>();
  /** The log size the committed map reflects. */
  #size = 0;
  /** Entries observed so far (committed or pending). */
  #observed = 0;

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
    const set = trailHeadOf(entry, leaf);
    if (set)
      this.#pending.set(toHex(set.tag), {
        tag: set.tag.slice(),
        head: { count: set.head.count, last: leaf.slice() },
      });
  }

  /** Applies what was observed since the last commit; returns the root for the log's current size. */
  commit(): Uint8Array {
    for (const { tag, head } of this.#pending.values()) this.map.set(tag, head);
    this.#pending.clear();
    this.#size = this.#observed;
    return this.map.commit();
  }

  /** The proof for a patient tag against the root of the checkpoint of size `size`; undefined if that is not the map's size. */
  prove(tag: Uint8Array, size: number): Uint8Array | undefined {
    return size === this.#size ? this.map.proveEncoded(tag) : undefined;
  }
}
