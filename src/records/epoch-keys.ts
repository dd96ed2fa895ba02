// Per-(patient, epoch) data keys, in memory only. An epoch ends after its period (default 24 h), on
// demand, or when the patient's readers change; its key is then zero-filled and forgotten, so a node
// compromised later cannot read earlier epochs. The cache makes a warm record cost one AES-GCM seal.

import { toHex } from "../core/bytes.js";
import { randomBytes } from "../core/platform.js";

export const DEFAULT_EPOCH_MS = 24 * 60 * 60 * 1000;
/** Live epochs kept at most (one per patient); about 200 bytes each. */
export const DEFAULT_MAX_LIVE_EPOCHS = 200_000;

export interface EpochKey {
  readonly epochId: Uint8Array;
  readonly patientTag: Uint8Array;
  readonly dataKey: Uint8Array;
  readonly startedAt: number;
  readonly readers: string;
  /** The next record's number in this patient's trail (carried from epoch to epoch). */
  nextSeq: number;
  /** The leaf hash of the patient's record numbered nextSeq - 1, when known: the next record links to it. */
  prev: Uint8Array | undefined;
}

/** Where a patient's trail stands: the next record's number and the leaf hash it links back to. */
export interface TrailPosition {
  readonly nextSeq: number;
  readonly prev?: Uint8Array | undefined;
}

export interface EpochKeyStats {
  readonly hits: number;
  readonly misses: number;
  readonly epochsStarted: number;
  readonly epochsEnded: number;
  readonly active: number;
}

export class EpochKeyCache {
  readonly #periodMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, EpochKey>();
  /** Trail positions of patients whose epoch ended, so numbering carries on without a log read (bounded). */
  readonly #retired = new Map<string, TrailPosition>();
  readonly #maxLive: number;
  #hits = 0;
  #misses = 0;
  #started = 0;
  #ended = 0;

  constructor(options: { periodMs?: number; now?: () => number; maxLive?: number } = {}) {
    this.#periodMs = options.periodMs ?? DEFAULT_EPOCH_MS;
    this.#maxLive = options.maxLive ?? DEFAULT_MAX_LIVE_EPOCHS;
    this.#now = options.now ?? Date.now;
  }

  /** The live epoch for this patient tag and reader set, or undefined (counted as a miss). */
  get(patientTag: Uint8Array, readers: string): EpochKey | undefined {
    const key = toHex(patientTag);
    const epoch = this.#keys.get(key);
    if (epoch !== undefined && epoch.readers === readers && this.#now() - epoch.startedAt < this.#periodMs) {
      this.#hits++;
      // Most recently used last: the bound ends the epochs of the patients idle longest.
      this.#keys.delete(key);
      this.#keys.set(key, epoch);
      return epoch;
    }
    if (epoch !== undefined) this.#forget(key, epoch);
    this.#misses++;
    return undefined;
  }

  /** Like get, without counting: for a second look within the same operation. */
  peek(patientTag: Uint8Array, readers: string): EpochKey | undefined {
    const epoch = this.#keys.get(toHex(patientTag));
    if (epoch !== undefined && epoch.readers === readers && this.#now() - epoch.startedAt < this.#periodMs)
      return epoch;
    return undefined;
  }

  /** Where this patient's trail stands, if an epoch of it is still in memory. */
  positionOf(patientTag: Uint8Array): TrailPosition | undefined {
    const key = toHex(patientTag);
    const live = this.#keys.get(key);
    return live === undefined ? this.#retired.get(key) : { nextSeq: live.nextSeq, prev: live.prev };
  }

  /** Drops what is known of a patient's numbering (after a failed append): it is re-read from the log. */
  forgetSeq(patientTag: Uint8Array): void {
    const key = toHex(patientTag);
    this.#retired.delete(key);
    const epoch = this.#keys.get(key);
    if (epoch !== undefined) {
      this.#keys.delete(key);
      epoch.dataKey.fill(0);
      this.#ended++;
    }
  }

  /** Starts a new epoch with a fresh random key (ending any previous one for the patient). */
  start(patientTag: Uint8Array, readers: string, position: TrailPosition = { nextSeq: 0 }): EpochKey {
    const key = toHex(patientTag);
    const previous = this.#keys.get(key);
    if (previous !== undefined) this.#forget(key, previous);
    // Bounded: beyond maxLive patients the least recently used epoch ends early (its patient's next
    // record starts a new one), so memory follows the busy patients, not all patients ever seen.
    if (this.#keys.size >= this.#maxLive) {
      const [oldestKey, oldest] = this.#keys.entries().next().value!;
      this.#forget(oldestKey, oldest);
    }
    const epoch: EpochKey = {
      epochId: randomBytes(16),
      patientTag: patientTag.slice(),
      dataKey: randomBytes(32),
      startedAt: this.#now(),
      readers,
      nextSeq: position.nextSeq,
      prev: position.prev,
    };
    this.#keys.set(key, epoch);
    this.#started++;
    return epoch;
  }

  /** Ends the epoch of one patient (or of all) now: the next record starts a new one. */
  rotate(patientTag?: Uint8Array): void {
    if (patientTag === undefined) {
      for (const [key, epoch] of this.#keys) this.#forget(key, epoch);
      return;
    }
    const key = toHex(patientTag);
    const epoch = this.#keys.get(key);
    if (epoch !== undefined) this.#forget(key, epoch);
  }

  /** Forgets every epoch whose period is over. Call periodically. */
  sweep(): void {
    const now = this.#now();
    for (const [key, epoch] of this.#keys)
      if (now - epoch.startedAt >= this.#periodMs) this.#forget(key, epoch);
  }

  stats(): EpochKeyStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      epochsStarted: this.#started,
      epochsEnded: this.#ended,
      active: this.#keys.size,
    };
  }

  #forget(key: string, epoch: EpochKey): void {
    this.#keys.delete(key);
    this.#retired.delete(key);
    this.#retired.set(key, { nextSeq: epoch.nextSeq, prev: epoch.prev });
    if (this.#retired.size > 100_000) this.#retired.delete(this.#retired.keys().next().value!);
    epoch.dataKey.fill(0);
    this.#ended++;
  }
}
