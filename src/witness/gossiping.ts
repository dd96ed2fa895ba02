// The gossip loop of a node or a mirror: in the background it fetches every witness's latest cosigned
// checkpoint and the evidence it recorded for this log, checks each note against its own copy
// (gossip.ts), and raises an alert, once per conflicting checkpoint, for every proven split view.
// Notes it cannot check yet (bigger than its copy) are kept, a bounded few, and checked again each
// round. A witness that is down or slow costs one timeout and blocks nothing; nothing here throws.

import type { Alert, AlertLog } from "./alerts.js";
import type { GossipChecker, GossipVerdict, ProofSource } from "./gossip.js";
import {
  fetchWitnessCheckpoint,
  fetchWitnessEvidence,
  type TlsMaterial,
  type WitnessEndpoint,
} from "./witness-client.js";

/** Notes bigger than the copy kept for a later round; more are dropped (a peer can mint many). */
const MAX_PENDING = 64;

export interface GossipOptions {
  readonly checker: GossipChecker;
  readonly alerts: AlertLog;
  /** Witnesses whose checkpoints and evidence are read (their URLs; keys are not needed here). */
  readonly witnesses: readonly Pick<WitnessEndpoint, "url">[];
  readonly tls?: TlsMaterial;
  readonly log?: (message: string) => void;
  readonly now?: () => number;
}

export interface GossipRound {
  /** Notes checked this round (including pending ones checked again). */
  readonly checked: number;
  /** Alerts raised this round (new ones only). */
  readonly raised: readonly Alert[];
  /** Witnesses that did not answer. */
  readonly unreachable: readonly string[];
}

export class Gossiping {
  readonly #options: GossipOptions;
  readonly #evidenceCursor = new Map<string, number>();
  readonly #pending = new Map<string, { note: string; peer: string }>();
  #busy = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: GossipOptions) {
    this.#options = options;
  }

  start(intervalMs: number): void {
    this.stop();
    this.#timer = setInterval(() => void this.round(), intervalMs);
    this.#timer.unref();
    void this.round();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Checks notes `peer` offered and raises alerts for proven split views; returns each verdict with
   * the alert it raised or matched. Used by the loop and by POST /v1/gossip.
   */
  async offer(
    notes: readonly unknown[],
    peer: string,
    proof?: ProofSource,
  ): Promise<{ verdict: GossipVerdict; alert?: Alert }[]> {
    const out: { verdict: GossipVerdict; alert?: Alert }[] = [];
    for (const note of notes) {
      const verdict = await this.#options.checker.check(note, proof ? { proof } : {});
      out.push(this.#act(verdict, note, peer));
    }
    return out;
  }

  #act(verdict: GossipVerdict, note: unknown, peer: string): { verdict: GossipVerdict; alert?: Alert } {
    if (verdict.status === "unverified" && typeof note === "string") {
      if (this.#pending.size < MAX_PENDING) this.#pending.set(note, { note, peer });
      return { verdict };
    }
    if (typeof note === "string") this.#pending.delete(note);
    if (verdict.status !== "inconsistent") return { verdict };
    const { alert, raised } = this.#options.alerts.raiseOnce({
      source: "gossip",
      kind: verdict.kind,
      key: verdict.key,
      at: (this.#options.now ?? Date.now)(),
      witness: peer,
      size: verdict.size,
      reason: verdict.reason,
      checkpoint: verdict.evidence.referenceNote,
      witnessCheckpoint: verdict.evidence.foreignNote,
      evidence: verdict.evidence,
    });
    if (raised)
      this.#options.log?.(`gossip: split view shown by ${peer}: ${verdict.reason} (alert ${alert.id})`);
    return { verdict, alert };
  }

  /** One round over every witness (in parallel) and the pending notes. Never throws. */
  async round(): Promise<GossipRound> {
    if (this.#busy) return { checked: 0, raised: [], unreachable: [] };
    this.#busy = true;
    const raised: Alert[] = [];
    const unreachable: string[] = [];
    let checked = 0;
    const before = new Set(this.#options.alerts.list(true).map((a) => a.id));
    try {
      const origin = this.#options.checker.origin;
      const tls = this.#options.tls ?? {};
      const fetched = await Promise.all(
        this.#options.witnesses.map(async (witness) => {
          const endpoint = { url: witness.url, verifierKey: "" };
          const [latest, evidence] = await Promise.all([
            fetchWitnessCheckpoint(endpoint, origin, tls),
            fetchWitnessEvidence(endpoint, origin, this.#evidenceCursor.get(witness.url) ?? 0, tls),
          ]);
          return { witness: witness.url, latest, evidence };
        }),
      );
      const pending = [...this.#pending.values()];
      for (const { note, peer } of pending) {
        await this.offer([note], peer);
        checked++;
      }
      for (const { witness, latest, evidence } of fetched) {
        if (latest === undefined && evidence === undefined) unreachable.push(witness);
        const notes: string[] = [];
        if (latest !== undefined) notes.push(latest);
        for (const record of evidence ?? []) {
          if (record.heldNote !== null) notes.push(record.heldNote);
          notes.push(record.submittedNote);
        }
        await this.offer(notes, witness);
        checked += notes.length;
        // Only after the records were checked: a round that failed half-way reads them again.
        const last = evidence?.[evidence.length - 1];
        if (last) this.#evidenceCursor.set(witness, last.id);
      }
    } catch (error) {
      this.#options.log?.(`gossip round failed: ${(error as Error).message}`);
    } finally {
      this.#busy = false;
    }
    for (const alert of this.#options.alerts.list(true)) {
      if (!before.has(alert.id) && alert.source === "gossip") raised.push(alert);
    }
    return { checked, raised, unreachable };
  }
}
