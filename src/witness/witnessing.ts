// The log node's witnessing loop: each new signed checkpoint is submitted to every configured witness
// in the background (a witness that is down or slow never blocks ingest), the cosignatures that verify
// are attached to the checkpoint, and the latest witnessed checkpoint is kept on disk and served.
// A witness that refuses because it holds an inconsistent checkpoint raises an alert.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../crypto/index.js";
import type { Ledger } from "../ledger/index.js";
import { AlertLog } from "./alerts.js";
import {
  countCosignatures,
  QUORUM_FILE,
  type QuorumCheckpoint,
  QuorumCheckpoints,
} from "./quorum-checkpoints.js";
import {
  fetchWitnessCheckpoint,
  submitCheckpoint,
  type TlsMaterial,
  type WitnessEndpoint,
} from "./witness-client.js";

export const WITNESSED_FILE = "witnessed-checkpoint.txt";

export interface WitnessedCheckpoint {
  readonly note: string;
  readonly size: number;
  readonly cosigners: number;
}

export class Witnessing {
  readonly #ledger: Ledger;
  readonly #witnesses: readonly WitnessEndpoint[];
  readonly #dir: string;
  readonly #tls: TlsMaterial;
  readonly #known = new Map<string, number>();
  #latest: WitnessedCheckpoint | undefined;
  /** The newest checkpoint for each number of cosigners, for readers that require a quorum. */
  readonly #quorum: QuorumCheckpoints;
  #current: { size: number; note: string; lines: Map<string, string> } | undefined;
  readonly #retryAt = new Map<string, number>();
  readonly #conflictAt = new Map<string, number>();
  #busy = false;
  #timer: NodeJS.Timeout | undefined;
  readonly alerts: AlertLog;
  readonly #log: (message: string) => void;

  constructor(
    ledger: Ledger,
    witnesses: readonly WitnessEndpoint[],
    dir: string,
    tls: TlsMaterial,
    log: (message: string) => void = () => undefined,
    alerts: AlertLog = new AlertLog(dir),
  ) {
    this.#ledger = ledger;
    this.#witnesses = witnesses;
    this.#dir = dir;
    this.#tls = tls;
    this.#log = log;
    this.alerts = alerts;
    this.#quorum = new QuorumCheckpoints(join(dir, QUORUM_FILE));
    const file = join(dir, WITNESSED_FILE);
    if (existsSync(file)) {
      const note = readFileSync(file, "utf8");
      const size = Number(note.split("\n")[1]);
      if (Number.isSafeInteger(size)) {
        this.#latest = { note, size, cosigners: countCosignatures(note) };
        this.#quorum.record(note);
      }
    }
  }

  get latest(): WitnessedCheckpoint | undefined {
    return this.#latest;
  }

  /** The newest checkpoint at least `quorum` witnesses cosigned (1 or more), with since when it is stale. */
  atLeast(quorum: number): QuorumCheckpoint | undefined {
    return this.#quorum.atLeast(quorum);
  }

  start(intervalMs = 500): void {
    this.#timer = setInterval(() => void this.tick(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * Submits the latest checkpoint to every witness that has not cosigned it yet (a witness that failed
   * is retried after a pause); attaches the cosignatures that verify. Never throws.
   */
  async tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const checkpoint = await this.#ledger.latestCheckpoint();
      if (!checkpoint) return;
      this.#quorum.advanced(checkpoint.size, checkpoint.storedAt);
      if (!this.#current || checkpoint.size > this.#current.size) {
        this.#current = { size: checkpoint.size, note: checkpoint.note, lines: new Map() };
      }
      const current = this.#current;
      const now = Date.now();
      const due = this.#witnesses.filter(
        (w) =>
          !current.lines.has(w.url) &&
          (this.#retryAt.get(w.url) ?? 0) <= now &&
          this.#conflictAt.get(w.url) !== current.size,
      );
      if (due.length === 0) return;
      const outcomes = await Promise.all(
        due.map((witness) =>
          submitCheckpoint(
            witness,
            current.note,
            current.size,
            (from) => this.#ledger.consistencyProof(from, current.size),
            this.#known.get(witness.url) ?? 0,
            this.#tls,
          ).then((outcome) => ({ witness, outcome })),
        ),
      );
      let added = false;
      for (const { witness, outcome } of outcomes) {
        if (outcome.status === "cosigned") {
          current.lines.set(witness.url, outcome.line);
          this.#known.set(witness.url, current.size);
          this.#retryAt.delete(witness.url);
          added = true;
        } else if (outcome.status === "conflict") {
          const origin = current.note.slice(0, current.note.indexOf("\n"));
          const held = await fetchWitnessCheckpoint(witness, origin, this.#tls);
          this.alerts.raise({
            source: "witness",
            at: now,
            witness: witness.url,
            size: current.size,
            reason: outcome.reason,
            checkpoint: current.note,
            witnessCheckpoint: held ?? null,
          });
          // Not again for this checkpoint; a new one is submitted (and refused, or not) afresh.
          this.#conflictAt.set(witness.url, current.size);
          this.#log(`witness ${witness.url} refused checkpoint ${current.size}: ${outcome.reason}`);
        } else {
          this.#retryAt.set(witness.url, now + 5_000);
          this.#log(`witness ${witness.url} unavailable: ${outcome.reason}`);
        }
      }
      if (added && this.#current === current) {
        const note = current.note + [...current.lines.values()].join("");
        this.#latest = { note, size: current.size, cosigners: current.lines.size };
        writeFileAtomic(join(this.#dir, WITNESSED_FILE), note, { mode: 0o644 });
        this.#quorum.record(note);
      }
    } catch (error) {
      this.#log(`witnessing failed: ${(error as Error).message}`);
    } finally {
      this.#busy = false;
    }
  }
}
