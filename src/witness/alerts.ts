// Alerts a node raises when a witness refuses its checkpoint: evidence of a fork (or of a node that
// fell behind what the witnesses hold). Each carries both signed checkpoints - the node's and the one
// the witness holds - and stays listed for the audit companies until one of them acknowledges it.
// Kept in an append-only file (one JSON line per event, fsynced) in the node's data directory.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CustosError } from "../core/errors.js";

export const ALERTS_FILE = "alerts.jsonl";

export interface Alert {
  readonly id: number;
  /** ms since 1970 */
  readonly at: number;
  readonly witness: string;
  readonly size: number;
  readonly reason: string;
  /** The checkpoint the node submitted (a signed note). */
  readonly checkpoint: string;
  /** The checkpoint the witness holds for this log (a signed, cosigned note), if it gave it. */
  readonly witnessCheckpoint: string | null;
  readonly acknowledged?: { readonly by: string; readonly at: number };
}

type Line =
  | ({ type: "alert" } & Omit<Alert, "acknowledged">)
  | { type: "ack"; id: number; by: string; at: number };

export class AlertLog {
  readonly #path: string;
  readonly #alerts = new Map<number, Alert>();
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
        const alert = this.#alerts.get(line.id);
        if (alert) this.#alerts.set(line.id, { ...alert, acknowledged: { by: line.by, at: line.at } });
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

  raise(alert: Omit<Alert, "id" | "acknowledged">): Alert {
    const raised: Alert = { id: this.#next++, ...alert };
    this.#append({ type: "alert", ...raised });
    this.#alerts.set(raised.id, raised);
    return raised;
  }

  acknowledge(id: number, by: string, at: number = Date.now()): Alert {
    const alert = this.#alerts.get(id);
    if (!alert) throw new CustosError("NOT_FOUND", `no alert ${id}`);
    if (alert.acknowledged) return alert;
    this.#append({ type: "ack", id, by, at });
    const acked = { ...alert, acknowledged: { by, at } };
    this.#alerts.set(id, acked);
    return acked;
  }

  /** Unacknowledged alerts (or all), oldest first. */
  list(all = false): Alert[] {
    return [...this.#alerts.values()].filter((a) => all || !a.acknowledged);
  }
}
