// Per-(patient, epoch) data keys, in memory only. An epoch ends after its period (default 24 h), on
// demand, or when the patient's readers change; its key is then zero-filled and forgotten, so a node
// compromised later cannot read earlier epochs. A timer sweeps ended epochs (idle patients included)
// at most `sweepEveryMs` after their period is over. The cache makes a warm record cost one AES-GCM seal.

import { randomBytes, randomSecret, toHex } from "../core/index.js";

export const DEFAULT_EPOCH_MS = 24 * 60 * 60 * 1000;
/** Live epochs kept at most (one per patient); about 200 bytes each. */
export const DEFAULT_MAX_LIVE_EPOCHS = 200_000;
/** Trail positions of ended epochs kept at most; beyond, a patient's numbering is re-read from the log. */
export const DEFAULT_MAX_RETIRED = 100_000;
/** The most an ended epoch's key outlives its period: the sweep's interval (a tenth of short periods). */
export const MAX_SWEEP_MS = 60_000;

/** How often the sweep runs for a period: a tenth of it, between 50 ms and one minute. */
export function sweepIntervalFor(periodMs: number): number {
  return Math.min(MAX_SWEEP_MS, Math.max(50, Math.ceil(periodMs / 10)));
}

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
  readonly line: TrailLine;
}

/**
 * One run of a patient's numbering as handed out in memory, from where it was read from the log (or
 * began). Records sealed in the same line link to each other; if any group of them fails to land,
 * the line is broken: the groups sealed after it in the same line must not land either (they would
 * link to records that are not in the log), and the numbering is read again from the log.
 */
export interface TrailLine {
  broken: boolean;
}

/** Where a patient's trail stands: the next record's number and the leaf hash it links back to. */
export interface TrailPosition {
  readonly nextSeq: number;
  readonly prev?: Uint8Array | undefined;
  /** The line this position continues; a position read from the log starts a new one. */
  readonly line?: TrailLine;
}

export interface EpochKeyStats {
  readonly hits: number;
  readonly misses: number;
  readonly epochsStarted: number;
  readonly epochsEnded: number;
  /** Epochs ended by the sweep because their period was over (counted in epochsEnded too). */
  readonly swept: number;
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
  #swept = 0;
  readonly #maxRetired: number;
  readonly #sweepEveryMs: number;
  readonly #onSwept: (() => void) | undefined;
  /** Runs while any epoch is live; unref'd, so it never keeps a process alive. */
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(
    options: {
      periodMs?: number;
      now?: () => number;
      maxLive?: number;
      maxRetired?: number;
      /** Interval of the sweep timer (default: sweepIntervalFor(periodMs)). */
      sweepEveryMs?: number;
      /**
       * Called after the timer's sweep ended epochs, to release copies of their keys held outside
       * this cache (OpenSSL contexts freed on garbage collection: see crypto/collect-garbage.ts).
       */
      onSwept?: () => void;
    } = {},
  ) {
    this.#periodMs = options.periodMs ?? DEFAULT_EPOCH_MS;
    this.#maxLive = options.maxLive ?? DEFAULT_MAX_LIVE_EPOCHS;
    this.#maxRetired = options.maxRetired ?? DEFAULT_MAX_RETIRED;
    this.#now = options.now ?? Date.now;
    this.#sweepEveryMs = options.sweepEveryMs ?? sweepIntervalFor(this.#periodMs);
    this.#onSwept = options.onSwept;
  }

  /** How many patients can have a live epoch at once (the most one batch can name). */
  get maxLive(): number {
    return this.#maxLive;
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
    return live === undefined
      ? this.#retired.get(key)
      : { nextSeq: live.nextSeq, prev: live.prev, line: live.line };
  }

  /**
   * Drops what is known of a patient's numbering when it continues this (broken) line: it is re-read
   * from the log. A newer line, started from the log after the break, is kept.
   */
  forgetLine(patientTag: Uint8Array, line: TrailLine): void {
    const key = toHex(patientTag);
    if (this.#retired.get(key)?.line === line) this.#retired.delete(key);
    const epoch = this.#keys.get(key);
    if (epoch !== undefined && epoch.line === line) {
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
      dataKey: randomSecret(32),
      startedAt: this.#now(),
      readers,
      nextSeq: position.nextSeq,
      prev: position.prev,
      line: position.line ?? { broken: false },
    };
    this.#keys.set(key, epoch);
    this.#started++;
    this.#armSweep();
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

  /** Forgets (zero-fills) every epoch whose period is over; returns how many. Runs on the timer. */
  sweep(): number {
    const now = this.#now();
    let swept = 0;
    for (const [key, epoch] of this.#keys) {
      if (now - epoch.startedAt >= this.#periodMs) {
        this.#forget(key, epoch);
        swept++;
      }
    }
    this.#swept += swept;
    if (this.#keys.size === 0) this.#stopSweep();
    return swept;
  }

  /**
   * Ends every live epoch now (keys zero-filled; each patient's next record starts a new epoch) and
   * returns how many. Trail positions are kept: they are not secret, and forgetting them while a
   * group is being appended could number two records alike.
   */
  clear(): number {
    const live = this.#keys.size;
    this.rotate();
    this.#stopSweep();
    return live;
  }

  /** Ends every epoch and stops the sweep timer for good; epochs started later are swept on use only. */
  close(): void {
    this.#closed = true;
    this.clear();
  }

  stats(): EpochKeyStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      epochsStarted: this.#started,
      epochsEnded: this.#ended,
      swept: this.#swept,
      active: this.#keys.size,
    };
  }

  #armSweep(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => {
      if (this.sweep() > 0) this.#onSwept?.();
    }, this.#sweepEveryMs);
    // A timer of a browser (number) has no unref; Node's must not hold the process open.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #stopSweep(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #forget(key: string, epoch: EpochKey): void {
    this.#keys.delete(key);
    this.#retired.delete(key);
    this.#retired.set(key, { nextSeq: epoch.nextSeq, prev: epoch.prev, line: epoch.line });
    if (this.#retired.size > this.#maxRetired) this.#retired.delete(this.#retired.keys().next().value!);
    epoch.dataKey.fill(0);
    this.#ended++;
  }
}
