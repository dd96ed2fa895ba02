// Alerts a node (or a mirror) raises when a witness refuses its checkpoint - evidence of a fork, or of a
// node that fell behind what the witnesses hold - or when gossip turns up a checkpoint signed by the
// log's key that its own copy proves inconsistent (a split view). Each carries both signed checkpoints
// and stays listed for the audit companies until one of them acknowledges it. Kept in an append-only
// file (one JSON line per event, fsynced) in the data directory; a gossip alert is raised once per key.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CustosError } from "../core/index.js";
import type { ALERT_SOURCES } from "../core/wire/index.js";

export const ALERTS_FILE = "alerts.jsonl";

/** Who found an alert (the wire's list, src/core/wire/alerts.ts, which GET /v1/alerts replies with). */
export type AlertSource = (typeof ALERT_SOURCES)[number];

/** What gossip proved: both signed notes, and the reference's own proof where the sizes differ. */
export interface AlertEvidence {
  /** The foreign checkpoint (signed by the log's key) that does not fit the reference's copy. */
  readonly foreignNote: string;
  /** A checkpoint of the reference's copy, signed by the same key. */
  readonly referenceNote: string;
  /**
   * For a foreign checkpoint smaller than the reference's: the reference's root at the foreign size
   * and its consistency proof (RFC 6962 2.1.2) to the reference note, which verifies; so no proof can
   * link the foreign root to it.
   */
  readonly proof?: {
    readonly fromSize: number;
    readonly fromRoot: string;
    readonly toSize: number;
    readonly hashes: readonly string[];
  };
}

export interface Alert {
  readonly id: number;
  /** Who found it: a witness refusing this node's checkpoint (absent in older files), or gossip. */
  readonly source?: AlertSource;
  /** Gossip: the kind of inconsistency (see gossip.ts), e.g. `same-size-different-root`. */
  readonly kind?: string;
  /** Gossip: identifies the conflicting pair, so it is raised once however often it is seen. */
  readonly key?: string;
  readonly evidence?: AlertEvidence;
  /** ms since 1970 */
  readonly at: number;
  /** The witness (or gossip peer) that showed it. */
  readonly witness: string;
  readonly size: number;
  readonly reason: string;
  /** The checkpoint the node submitted (a signed note); for gossip, the reference's own. */
  readonly checkpoint: string;
  /** The checkpoint the witness holds for this log (a signed, cosigned note), if it gave it; for gossip, the foreign one. */
  readonly witnessCheckpoint: string | null;
  readonly acknowledged?: { readonly by: string; readonly at: number; readonly note?: string };
}

type Line =
  | ({ type: "alert" } & Omit<Alert, "acknowledged">)
  | { type: "ack"; id: number; by: string; at: number; note?: string };

export class AlertLog {
  readonly #path: string;
  readonly #alerts = new Map<number, Alert>();
  /** Who acknowledged each alert, and when: each audit company acknowledges for itself. */
  readonly #acks = new Map<number, Map<string, { at: number; note?: string }>>();
  #next = 1;

  constructor(dir: string) {
    this.#path = join(dir, ALERTS_FILE);
    if (!existsSync(this.#path)) return;
    const content = readFileSync(this.#path, "utf8");
    for (const text of content.split("\n")) {
      if (text.trim() === "") continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a torn last line after a crash: the rest stands
      }
      if (line.type === "alert") {
        const { type: _type, ...alert } = line;
        this.#alerts.set(alert.id, alert);
        this.#next = Math.max(this.#next, alert.id + 1);
      } else if (line.type === "ack") {
        if (this.#alerts.has(line.id))
          this.#ackedBy(line.id).set(line.by, {
            at: line.at,
            ...(typeof line.note === "string" ? { note: line.note } : {}),
          });
      }
    }
    // A line torn by a crash is left behind; the next one starts on a line of its own.
    if (content.length > 0 && !content.endsWith("\n")) {
      const fd = openSync(this.#path, "a", 0o644);
      try {
        writeSync(fd, "\n");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  #append(line: Line): void {
    const fd = openSync(this.#path, "a", 0o644);
    try {
      writeSync(fd, `${JSON.stringify(line)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** The alert raised under `key` (acknowledged or not), if any. */
  byKey(key: string): Alert | undefined {
    for (const alert of this.#alerts.values()) if (alert.key === key) return alert;
    return undefined;
  }

  /** Raises an alert unless one with the same key was raised before; returns it and whether it is new. */
  raiseOnce(alert: Omit<Alert, "id" | "acknowledged"> & { key: string }): { alert: Alert; raised: boolean } {
    const existing = this.byKey(alert.key);
    if (existing) return { alert: existing, raised: false };
    return { alert: this.raise(alert), raised: true };
  }

  raise(alert: Omit<Alert, "id" | "acknowledged">): Alert {
    const raised: Alert = { id: this.#next++, ...alert };
    this.#append({ type: "alert", ...raised });
    this.#alerts.set(raised.id, raised);
    return raised;
  }

  #ackedBy(id: number): Map<string, { at: number; note?: string }> {
    let acks = this.#acks.get(id);
    if (!acks) {
      acks = new Map();
      this.#acks.set(id, acks);
    }
    return acks;
  }

  /** The alert as `viewer` sees it: acknowledged if they did (any acknowledgement without a viewer). */
  #view(alert: Alert, viewer?: string): Alert {
    const acks = this.#acks.get(alert.id);
    if (!acks || acks.size === 0) return alert;
    if (viewer === undefined) {
      const [by, ack] = acks.entries().next().value as [string, { at: number; note?: string }];
      return { ...alert, acknowledged: { by, ...ack } };
    }
    const ack = acks.get(viewer);
    return ack === undefined ? alert : { ...alert, acknowledged: { by: viewer, ...ack } };
  }

  /**
   * `by` acknowledges the alert for themselves: it leaves their list of open alerts, not anyone
   * else's (one audit company cannot close a fork alert for the others). `note` says what was done
   * about it (kept with the acknowledgement).
   */
  acknowledge(id: number, by: string, at: number = Date.now(), note?: string): Alert {
    const alert = this.#alerts.get(id);
    if (!alert) throw new CustosError("NOT_FOUND", `no alert ${id}`);
    const acks = this.#ackedBy(id);
    if (!acks.has(by)) {
      this.#append({ type: "ack", id, by, at, ...(note !== undefined ? { note } : {}) });
      acks.set(by, { at, ...(note !== undefined ? { note } : {}) });
    }
    return this.#view(alert, by);
  }

  /**
   * Alerts oldest first: those `viewer` has not acknowledged (all of them with `all`); without a
   * viewer, those nobody acknowledged.
   */
  list(all = false, viewer?: string): Alert[] {
    return [...this.#alerts.values()].map((a) => this.#view(a, viewer)).filter((a) => all || !a.acknowledged);
  }
}
