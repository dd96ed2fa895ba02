// The retention job: crypto-shreds every key epoch past the deployment's retention, a bounded amount
// per tick. An epoch (one patient's records under one data key, and that key's envelopes) expires
// once its newest record is older than the policy's cutoff: first a signed erasure entry naming every
// content hash of the epoch (reason retention-expired, subject the patient's tag), then the ciphertexts
// and wrapped keys themselves, and their trail copies. The entries stay, so every proof still verifies.
//
// Work per tick is bounded (policy.batchEntries log entries scanned, MAX_EPOCHS_PER_TICK epochs
// erased), so a node under load keeps its latencies. Progress is a cursor in DIR/retention-state.json;
// epochs that cannot expire yet (a newer record, a legal hold) are remembered there and looked at
// again, so they never hold back the cursor for everyone else. A hold on the whole deployment stops
// the job. Losing the state file only costs a rescan: erasing is idempotent.

import { existsSync, readFileSync } from "node:fs";
import {
  accessRecordFromEntry,
  contentHashOf,
  decodeEntry,
  ENTRY_KINDS,
  encodeErasureEntry,
  epochLookupKey,
  hourOf,
  keyEnvelopeFromEntry,
  MAX_ERASED_PER_ENTRY,
} from "../core/entry/index.js";
import { CustosError, fromHex, toHex } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import type { Ledger } from "../ledger/index.js";
import { type ArchivedRange, archivedRanges, isArchived } from "./archive/archive-register.js";
import { Holds } from "./holds.js";
import { describeRetention, type RetentionPolicy, retentionCutoff } from "./retention-policy.js";

export const RETENTION_STATE_FILE_NAME = "retention-state.json";
/** Epochs erased per tick at most (each is a few store reads and one erasure entry). */
export const MAX_EPOCHS_PER_TICK = 64;
/** Deferred epochs looked at again per tick at most. */
const MAX_DEFERRED_PER_TICK = 64;
/** A patient's entries read per lookup page while an epoch's records are gathered. */
const TRAIL_PAGE = 512;
/** An epoch whose records are not all found within this many of its patient's entries waits. */
const MAX_TRAIL_READ = 8192;
const HOUR_MS = 3_600_000;

export interface RetentionState {
  /** Log entries below this index have been examined. */
  readonly cursor: number;
  /** Epochs seen past retention that could not expire yet, by (patient tag, epoch id) in hex. */
  readonly deferred: readonly DeferredEpoch[];
  readonly expiredEpochs: number;
  readonly erasedItems: number;
  readonly lastRunAt?: number;
}

export interface DeferredEpoch {
  readonly patientTag: string;
  readonly epochId: string;
  /** Index of the first record of the epoch seen. */
  readonly index: number;
  readonly why: "newer-record" | "legal-hold" | "undecided" | "no-archive";
}

export interface TickResult {
  readonly examined: number;
  readonly expiredEpochs: number;
  readonly erasedItems: number;
  readonly deferred: number;
  /** Set when a hold on the whole deployment stopped the job. */
  readonly heldByDeployment: boolean;
  readonly cursor: number;
}

export interface RetentionJobOptions {
  readonly ledger: Ledger;
  readonly policy: RetentionPolicy;
  /** Starts a new epoch at the patient's next record (the expired one may still be live in memory). */
  readonly rotate: (patientTag: Uint8Array) => void;
  readonly now?: () => number;
  /** Where progress is kept (default: only in memory). */
  readonly statePath?: string;
  /** Who the erasure entries name as authorizing (default: the policy, e.g. "retention-policy 6 years"). */
  readonly authorizedBy?: string;
}

const EMPTY_STATE: RetentionState = { cursor: 0, deferred: [], expiredEpochs: 0, erasedItems: 0 };

export function readRetentionState(path: string): RetentionState {
  if (!existsSync(path)) return EMPTY_STATE;
  try {
    const json = JSON.parse(readFileSync(path, "utf8")) as Partial<RetentionState>;
    const cursor = json.cursor;
    if (
      typeof cursor !== "number" ||
      !Number.isSafeInteger(cursor) ||
      cursor < 0 ||
      !Array.isArray(json.deferred)
    )
      throw new Error("malformed");
    return {
      cursor,
      deferred: json.deferred.filter(
        (d): d is DeferredEpoch =>
          /^[0-9a-f]{64}$/.test(String(d?.patientTag)) &&
          /^[0-9a-f]{32}$/.test(String(d?.epochId)) &&
          Number.isSafeInteger(d?.index),
      ),
      expiredEpochs: Number(json.expiredEpochs) || 0,
      erasedItems: Number(json.erasedItems) || 0,
      ...(typeof json.lastRunAt === "number" ? { lastRunAt: json.lastRunAt } : {}),
    };
  } catch (error) {
    throw new CustosError(
      "CONFIG",
      `the retention state file ${path} is not valid; remove it to rescan the log from the start`,
      { cause: error },
    );
  }
}

interface Candidate {
  readonly patientTag: Uint8Array;
  readonly epochId: Uint8Array;
  readonly index: number;
}

/** An epoch ready to expire: erased when the tick commits, all epochs of a tick at once. */
interface Expiry {
  readonly patientTag: Uint8Array;
  readonly hashes: Uint8Array[];
  readonly indexes: number[];
}

type EpochOutcome =
  | { readonly kind: "expired"; readonly expiry: Expiry }
  | { readonly kind: "deferred"; readonly why: DeferredEpoch["why"] };

export class RetentionJob {
  readonly #options: RetentionJobOptions;
  readonly #now: () => number;
  #state: RetentionState;
  #running: Promise<TickResult> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: RetentionJobOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#state = options.statePath ? readRetentionState(options.statePath) : EMPTY_STATE;
  }

  get state(): RetentionState {
    return this.#state;
  }

  /** Ticks every policy.everySeconds until stopped; a failing tick is reported and retried next time. */
  start(onError: (error: unknown) => void = () => undefined): void {
    const every = this.#options.policy.everySeconds * 1000;
    if (every <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      this.tick().catch(onError);
    }, every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One bounded pass; ticks never overlap (a tick asked for during one waits for it). */
  tick(): Promise<TickResult> {
    if (this.#running) return this.#running;
    const run = this.#tick().finally(() => {
      this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  /**
   * Ticks until no tick moves on: the whole log examined, or the scan stopped at the first record not
   * yet past retention (for `custos retention run` and tests).
   */
  async runToEnd(): Promise<TickResult[]> {
    const results: TickResult[] = [];
    for (;;) {
      const result = await this.tick();
      results.push(result);
      if (result.heldByDeployment || (result.examined === 0 && result.erasedItems === 0)) return results;
    }
  }

  async #tick(): Promise<TickResult> {
    const { ledger, policy } = this.#options;
    const now = this.#now();
    const cutoff = retentionCutoff(policy, now);
    const holds = await Holds.load(ledger.store);
    // The archives the log records (`archive` operator actions), read each tick when required.
    const archived = policy.requireArchive ? await archivedRanges(ledger.store) : undefined;
    const state = this.#state;
    if (holds.deploymentHeld) {
      return {
        examined: 0,
        expiredEpochs: 0,
        erasedItems: 0,
        deferred: state.deferred.length,
        heldByDeployment: true,
        cursor: state.cursor,
      };
    }
    let budget = MAX_EPOCHS_PER_TICK;
    const stillDeferred: DeferredEpoch[] = [];
    const expiries: { expiry: Expiry; ifHeld: DeferredEpoch }[] = [];
    // Epochs this tick erases (by patient tag and epoch ID, hex): the scan may meet them again.
    const planned = new Set<string>();
    const asDeferred = (candidate: Candidate, why: DeferredEpoch["why"]): DeferredEpoch => ({
      patientTag: toHex(candidate.patientTag),
      epochId: toHex(candidate.epochId),
      index: candidate.index,
      why,
    });
    // Deferred epochs first, a bounded number, oldest first; the rest wait for the next tick.
    stillDeferred.push(...state.deferred.slice(MAX_DEFERRED_PER_TICK));
    for (const deferred of state.deferred.slice(0, MAX_DEFERRED_PER_TICK)) {
      const candidate = {
        patientTag: fromHex(deferred.patientTag),
        epochId: fromHex(deferred.epochId),
        index: deferred.index,
      };
      const outcome =
        budget > 0
          ? await this.#expire(candidate, cutoff, holds, archived)
          : { kind: "deferred" as const, why: deferred.why };
      if (outcome.kind === "expired") {
        budget--;
        planned.add(`${deferred.patientTag}:${deferred.epochId}`);
        expiries.push({ expiry: outcome.expiry, ifHeld: asDeferred(candidate, "legal-hold") });
      } else stillDeferred.push({ ...deferred, why: outcome.why });
    }
    // Then the log from the cursor, up to the first record not yet past retention.
    const size = await ledger.size();
    const end = Math.min(size, state.cursor + policy.batchEntries);
    const candidates = new Map<string, Candidate>();
    let cursor = state.cursor;
    let examined = 0;
    for (const stored of await ledger.store.getEntries(state.cursor, end)) {
      if (stored.data[1] === ENTRY_KINDS.accessRecord) {
        const { header } = accessRecordFromEntry(decodeEntry(stored.data));
        // The record's time is known to the hour: it is past retention once its whole hour is.
        if (hourOf(header.hour) + HOUR_MS > cutoff) break;
        const key = `${toHex(header.patientTag)}:${toHex(header.epochId)}`;
        if (!candidates.has(key)) {
          if (candidates.size >= budget) break;
          candidates.set(key, {
            patientTag: header.patientTag,
            epochId: header.epochId,
            index: stored.index,
          });
        }
      }
      cursor = stored.index + 1;
      examined++;
    }
    const known = new Set(stillDeferred.map((d) => `${d.patientTag}:${d.epochId}`));
    for (const [key, candidate] of candidates) {
      if (planned.has(key)) continue;
      const outcome = await this.#expire(candidate, cutoff, holds, archived);
      if (outcome.kind === "expired") {
        expiries.push({ expiry: outcome.expiry, ifHeld: asDeferred(candidate, "legal-hold") });
      } else if (!known.has(key)) {
        known.add(key);
        stillDeferred.push(asDeferred(candidate, outcome.why));
      }
    }
    const { erased, held } = await this.#commit(expiries.map((e) => e.expiry));
    for (const expiry of held) {
      const deferred = expiries.find((e) => e.expiry === expiry)!.ifHeld;
      if (!known.has(`${deferred.patientTag}:${deferred.epochId}`)) stillDeferred.push(deferred);
    }
    const expiredEpochs = erased.filter((e) => e.hashes.length > 0).length;
    const erasedItems = erased.reduce((n, e) => n + e.hashes.length, 0);
    this.#state = {
      cursor,
      deferred: stillDeferred,
      expiredEpochs: state.expiredEpochs + expiredEpochs,
      erasedItems: state.erasedItems + erasedItems,
      lastRunAt: now,
    };
    if (this.#options.statePath) {
      writeFileAtomic(this.#options.statePath, `${JSON.stringify(this.#state, null, 2)}\n`, { mode: 0o600 });
    }
    return {
      examined,
      expiredEpochs,
      erasedItems,
      deferred: stillDeferred.length,
      heldByDeployment: false,
      cursor,
    };
  }

  /**
   * Erases one epoch if every record of it is past the cutoff, no hold covers its patient and, when
   * `archived` is given (the policy requires an archive), a verified archive holds every record of it.
   */
  async #expire(
    candidate: Candidate,
    cutoff: number,
    holds: Holds,
    archived: readonly ArchivedRange[] | undefined,
  ): Promise<EpochOutcome> {
    const { ledger } = this.#options;
    if (holds.covering(candidate.patientTag).length > 0) return { kind: "deferred", why: "legal-hold" };
    const epochHex = toHex(candidate.epochId);
    const items: { index: number; hash: Uint8Array }[] = [];
    // The epoch's records, in its patient's trail from the first one seen. A patient has one live
    // epoch at a time, so its records are one run: the run has ended once TRAIL_PAGE more of the
    // patient's entries follow its last record, or the trail does.
    let fromIndex = candidate.index;
    let sinceLast = 0;
    let read = 0;
    for (;;) {
      const indexes = await ledger.store.findByLookupKey({
        key: candidate.patientTag,
        fromIndex,
        limit: TRAIL_PAGE,
      });
      for (const stored of await ledger.store.getEntriesAt(indexes)) {
        sinceLast++;
        if (stored.data[1] !== ENTRY_KINDS.accessRecord) continue;
        const entry = decodeEntry(stored.data);
        const { header } = accessRecordFromEntry(entry);
        if (toHex(header.epochId) !== epochHex) continue;
        if (hourOf(header.hour) + HOUR_MS > cutoff) return { kind: "deferred", why: "newer-record" };
        if (archived !== undefined && !isArchived(archived, stored.index, hourOf(header.hour)))
          return { kind: "deferred", why: "no-archive" };
        const hash = contentHashOf(entry);
        if (hash) items.push({ index: stored.index, hash });
        sinceLast = 0;
      }
      read += indexes.length;
      if (indexes.length < TRAIL_PAGE || sinceLast >= TRAIL_PAGE) break;
      if (read >= MAX_TRAIL_READ) return { kind: "deferred", why: "undecided" };
      fromIndex = indexes[indexes.length - 1]! + 1;
    }
    // Its key envelopes (every reader's, regrants included), filed under the epoch's own key.
    let envelopeFrom = 0;
    for (;;) {
      const indexes = await ledger.store.findByLookupKey({
        key: epochLookupKey(candidate.epochId),
        fromIndex: envelopeFrom,
        limit: TRAIL_PAGE,
      });
      for (const stored of await ledger.store.getEntriesAt(indexes)) {
        if (stored.data[1] !== ENTRY_KINDS.keyEnvelope) continue;
        const entry = decodeEntry(stored.data);
        const { header } = keyEnvelopeFromEntry(entry);
        if (toHex(header.epochId) !== epochHex || toHex(header.patientTag) !== toHex(candidate.patientTag))
          continue;
        const hash = contentHashOf(entry);
        if (hash) items.push({ index: stored.index, hash });
      }
      if (indexes.length < TRAIL_PAGE) break;
      envelopeFrom = indexes[indexes.length - 1]! + 1;
    }
    const present = await ledger.store.hasContent(items.map((item) => item.hash));
    return {
      kind: "expired",
      expiry: {
        patientTag: candidate.patientTag,
        hashes: items.filter((_, i) => present[i]).map((item) => item.hash),
        indexes: items.map((item) => item.index),
      },
    };
  }

  /**
   * Erases what a tick found, in one append and one deletion (one WAL truncation on SQLite): the
   * signed erasure entries first, as content missing without them would be tampering. An epoch whose
   * patient a hold placed since the tick began now covers is left for later. Returns what was erased
   * and what was held back.
   */
  async #commit(expiries: readonly Expiry[]): Promise<{ erased: Expiry[]; held: Expiry[] }> {
    const { ledger } = this.#options;
    const holds = await Holds.load(ledger.store);
    const erased = expiries.filter((e) => holds.covering(e.patientTag).length === 0);
    const held = expiries.filter((e) => holds.covering(e.patientTag).length > 0);
    const authorizedBy =
      this.#options.authorizedBy ?? `retention-policy ${describeRetention(this.#options.policy)}`;
    const erasures = [];
    for (const expiry of erased) {
      if (expiry.hashes.length === 0) continue;
      this.#options.rotate(expiry.patientTag);
      for (let i = 0; i < expiry.hashes.length; i += MAX_ERASED_PER_ENTRY) {
        erasures.push({
          entry: encodeErasureEntry({
            time: this.#now(),
            reason: "retention-expired",
            subject: `patient-tag:${toHex(expiry.patientTag)}`,
            contentHashes: expiry.hashes.slice(i, i + MAX_ERASED_PER_ENTRY),
            authorizedBy,
          }),
        });
      }
    }
    if (erasures.length > 0) await ledger.append(erasures);
    // Trail copies are cleared also where the content was gone already (a rescan repairs them).
    const hashes = erased.flatMap((e) => e.hashes);
    const indexes = erased.flatMap((e) => e.indexes);
    if (hashes.length > 0 || indexes.length > 0) await ledger.store.deleteContent(hashes, indexes);
    return { erased, held };
  }
}
