// How many refusal notices one identity can make the node write. Every refusal is a sealed log entry
// (the patient must see who was turned away), so an enrolled identity that names patient after patient
// it may not read would otherwise grow the log at will: 5 requests naming 1,000 patients each once
// wrote 5,000 entries. Each identity gets a bucket of notices that refills at a steady rate; once it is
// empty, refusals are still refused but recorded together: one notice per interval, sealed to the
// custodians and admins, counting what was not recorded one by one.

/** Notices one identity may cause at once, and per second after that. */
export const REFUSAL_BURST = 100;
export const REFUSALS_PER_SECOND = 1;
/** At most one summary notice per identity per this many ms while over budget. */
export const SUMMARY_EVERY_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
  /** Refusals not recorded one by one since the last summary. */
  unrecorded: number;
  summaryAt: number;
}

export type RefusalRecording =
  | { readonly kind: "notice" }
  | { readonly kind: "summary"; readonly unrecorded: number }
  | { readonly kind: "none" };

export class RefusalBudget {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** What to record for one more refusal of `identity`: its own notice, a summary, or nothing yet. */
  take(identity: string): RefusalRecording {
    const at = this.#now();
    let bucket = this.#buckets.get(identity);
    if (!bucket) {
      if (this.#buckets.size >= 100_000) this.#forgetFull(at);
      bucket = { tokens: REFUSAL_BURST, at, unrecorded: 0, summaryAt: Number.NEGATIVE_INFINITY };
      this.#buckets.set(identity, bucket);
    }
    bucket.tokens = Math.min(REFUSAL_BURST, bucket.tokens + ((at - bucket.at) / 1000) * REFUSALS_PER_SECOND);
    bucket.at = at;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { kind: "notice" };
    }
    bucket.unrecorded += 1;
    if (at - bucket.summaryAt < SUMMARY_EVERY_MS) return { kind: "none" };
    const unrecorded = bucket.unrecorded;
    bucket.unrecorded = 0;
    bucket.summaryAt = at;
    return { kind: "summary", unrecorded };
  }

  /** Drops the buckets that have refilled (they hold nothing an identity's next refusal needs). */
  #forgetFull(at: number): void {
    for (const [identity, bucket] of this.#buckets) {
      const full = bucket.tokens + ((at - bucket.at) / 1000) * REFUSALS_PER_SECOND >= REFUSAL_BURST;
      if (full && bucket.unrecorded === 0) this.#buckets.delete(identity);
    }
  }
}
