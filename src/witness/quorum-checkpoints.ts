// The newest witnessed checkpoint for each number of cosigners: what a reader requiring a quorum of N
// is served while fewer than N witnesses cosign the newest ones (one down, one slow). Slot N holds the
// newest checkpoint at least N witnesses cosigned; sizes only grow, so a slot is replaced, never
// rolled back. Each slot also remembers since when the log has held a newer checkpoint than it (how
// long its readers have been missing entries). Kept in a file beside the witnessed checkpoint, so a
// restarted node still serves quorum readers while the witness is down.

import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../crypto/index.js";

export const QUORUM_FILE = "witnessed-quorum.json";

export interface QuorumCheckpoint {
  readonly note: string;
  readonly size: number;
  readonly cosigners: number;
  /** When the log first had a newer signed checkpoint than this one (ms since the epoch). */
  readonly staleSince?: number;
}

/** Cosignature lines on a witnessed note (every signature line past the log's own). */
export function countCosignatures(note: string): number {
  const block = note.slice(note.lastIndexOf("\n\n") + 2);
  return Math.max(0, block.split("\n").filter((l) => l.startsWith("\u2014 ")).length - 1);
}

function sizeOf(note: string): number {
  const size = Number(note.split("\n")[1]);
  return Number.isSafeInteger(size) && size >= 0 ? size : -1;
}

export class QuorumCheckpoints {
  /** slots[k - 1]: the newest checkpoint cosigned by at least k witnesses. */
  #slots: (QuorumCheckpoint | undefined)[] = [];
  readonly #file: string | undefined;

  /** `file` undefined: kept in memory only (a read replica, which learns them from the database). */
  constructor(file?: string) {
    this.#file = file;
    if (file === undefined || !existsSync(file)) return;
    try {
      const saved = JSON.parse(readFileSync(file, "utf8")) as { slots?: unknown };
      if (!Array.isArray(saved.slots)) return;
      for (const slot of saved.slots as { note?: unknown; staleSince?: unknown }[]) {
        if (typeof slot?.note !== "string" || sizeOf(slot.note) < 0) continue;
        this.#put(slot.note, typeof slot.staleSince === "number" ? slot.staleSince : undefined);
      }
    } catch {
      // A damaged file only costs quorum readers the older checkpoints until witnesses cosign anew.
    }
  }

  /** The newest checkpoint at least `quorum` witnesses cosigned (quorum >= 1), if any. */
  atLeast(quorum: number): QuorumCheckpoint | undefined {
    return this.#slots[Math.max(1, quorum) - 1];
  }

  /** A witnessed note (the log's signature and its cosignatures): fills every slot it satisfies. */
  record(note: string): void {
    if (this.#put(note, undefined)) this.#save();
  }

  /** The log signed a checkpoint of `size` at `signedAt`: slots below it are stale from then on. */
  advanced(size: number, signedAt: number): void {
    let changed = false;
    this.#slots = this.#slots.map((slot) => {
      if (slot === undefined || slot.size >= size || slot.staleSince !== undefined) return slot;
      changed = true;
      return { ...slot, staleSince: signedAt };
    });
    if (changed) this.#save();
  }

  #put(note: string, staleSince: number | undefined): boolean {
    const size = sizeOf(note);
    const cosigners = countCosignatures(note);
    let changed = false;
    for (let k = 1; k <= cosigners; k++) {
      const held = this.#slots[k - 1];
      // The same size again with more cosignatures replaces it; an older size never does.
      if (held !== undefined && (held.size > size || (held.size === size && held.cosigners >= cosigners)))
        continue;
      this.#slots[k - 1] = { note, size, cosigners, ...(staleSince === undefined ? {} : { staleSince }) };
      changed = true;
    }
    return changed;
  }

  #save(): void {
    if (this.#file === undefined) return;
    const slots = this.#slots.flatMap((slot) =>
      slot === undefined
        ? []
        : [{ note: slot.note, ...(slot.staleSince === undefined ? {} : { staleSince: slot.staleSince }) }],
    );
    try {
      writeFileAtomic(this.#file, `${JSON.stringify({ version: 1, slots })}\n`, { mode: 0o644 });
    } catch {
      // Best effort (a full disk): memory still serves; the file catches up at the next change.
    }
  }
}
