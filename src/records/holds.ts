// The legal holds standing in a log, folded from its `legalHold` entries (all filed under one lookup
// key, so the fold reads them alone). Expiry and erasure ask here first and refuse while a hold covers
// what they would destroy.

import { decodeHoldEntry, type LegalHold } from "../core/entry/index.js";
import { CustosError, sha256, toHex, utf8 } from "../core/index.js";
import type { LedgerStore } from "../ledger/index.js";

/** Every legal hold entry is filed under this lookup key. */
export const HOLDS_LOOKUP_KEY = sha256(utf8("custos legal holds v1"));

/** A hold that stands: placed and not lifted since. */
export interface StandingHold {
  /** The held patient's tag (hex), or undefined for the whole deployment. */
  readonly patientTag?: string;
  readonly reference: string;
  readonly placedAt: number;
  readonly placedBy: string;
  /** Log index of the entry that placed it. */
  readonly index: number;
  /**
   * Whether that entry carries the placing admin's signature. Entries written before holds were
   * signed carry none; `custos verify` checks the signatures and reports the unsigned ones.
   */
  readonly signed: boolean;
}

const HOLDS_PER_READ = 4096;

export class Holds {
  readonly #standing: Map<string, StandingHold>;

  private constructor(standing: Map<string, StandingHold>) {
    this.#standing = standing;
  }

  /** Folds every hold entry of the log. */
  static async load(store: LedgerStore): Promise<Holds> {
    const standing = new Map<string, StandingHold>();
    let fromIndex = 0;
    for (;;) {
      const page = await store.entriesByLookupKey({
        key: HOLDS_LOOKUP_KEY,
        fromIndex,
        limit: HOLDS_PER_READ,
      });
      for (const stored of page) {
        const hold = decodeHoldEntry(stored.data);
        const key = holdKey(
          hold.patientTag === undefined ? undefined : toHex(hold.patientTag),
          hold.reference,
        );
        if (hold.action === "place") {
          if (!standing.has(key)) {
            standing.set(key, {
              ...(hold.patientTag === undefined ? {} : { patientTag: toHex(hold.patientTag) }),
              reference: hold.reference,
              placedAt: hold.time,
              placedBy: hold.admin,
              index: stored.index,
              signed: hold.signed !== undefined,
            });
          }
        } else standing.delete(key);
      }
      if (page.length < HOLDS_PER_READ) break;
      fromIndex = page[page.length - 1]!.index + 1;
    }
    return new Holds(standing);
  }

  list(): StandingHold[] {
    return [...this.#standing.values()].sort((a, b) => a.index - b.index);
  }

  /** Whether a hold on the whole deployment stands. */
  get deploymentHeld(): boolean {
    return this.list().some((hold) => hold.patientTag === undefined);
  }

  /** The holds that cover a patient (theirs and any on the whole deployment). */
  covering(patientTag: Uint8Array): StandingHold[] {
    const hex = toHex(patientTag);
    return this.list().filter((hold) => hold.patientTag === undefined || hold.patientTag === hex);
  }

  /** Whether a hold with this scope and reference stands. */
  stands(patientTag: Uint8Array | undefined, reference: string): boolean {
    return this.#standing.has(holdKey(patientTag === undefined ? undefined : toHex(patientTag), reference));
  }

  /** Throws LEGAL_HOLD if a hold covers the patient: `what` is the refused operation, for the message. */
  refuse(patientTag: Uint8Array, what: string): void {
    const holds = this.covering(patientTag);
    if (holds.length === 0) return;
    const scope = holds.some((h) => h.patientTag === undefined) ? "the whole deployment" : "this patient";
    throw new CustosError(
      "LEGAL_HOLD",
      `${what} refused: a legal hold on ${scope} stands (${holds.map((h) => `"${h.reference}"`).join(", ")}); an admin must lift it first`,
    );
  }
}

function holdKey(patientTag: string | undefined, reference: string): string {
  return `${patientTag ?? "deployment"}\n${reference}`;
}

export type { LegalHold };
