// Before a node sequences the log it checks that its store holds every entry the witnesses already
// cosigned (the committed size). A PostgreSQL standby fed by asynchronous replication can be promoted
// without the last committed transactions; a sequencer that took over on it would append new entries
// at indexes the witnesses (and the clients they vouched to) already know with other contents: a fork
// of the log. So the node asks every configured witness for the latest checkpoint it cosigned
// (verified with the log's key and the witness's), and refuses to sequence a store that is shorter, or
// whose tree at that size has another root, with a message that names both sizes.

import { askWitnesses } from "../backup/index.js";
import { bytesEqual, CustosError } from "../core/index.js";
import type { Ledger } from "../ledger/index.js";
import type { TlsMaterial, WitnessEndpoint } from "../witness/index.js";

/** A witness that does not answer costs the takeover at most this long (it is then not counted). */
const WITNESS_TIMEOUT_MS = 2_000;

export interface CommittedCheck {
  /** The largest size a witness cosigned (0 when none answered with one). */
  readonly committed: number;
  /** The store's size. */
  readonly size: number;
  /** Witnesses that gave no verified answer (down, or nothing cosigned yet). */
  readonly unanswered: number;
}

/** Throws CONFLICT when the store lacks entries a witness cosigned, or disagrees with its root. */
export async function checkCommittedSize(
  ledger: Ledger,
  witnesses: readonly WitnessEndpoint[],
  tls: TlsMaterial,
): Promise<CommittedCheck> {
  const size = await ledger.size();
  if (witnesses.length === 0) return { committed: 0, size, unanswered: 0 };
  const views = await askWitnesses(
    witnesses,
    { origin: ledger.meta.origin, verifierKey: ledger.meta.verifierKey },
    tls,
    WITNESS_TIMEOUT_MS,
  );
  let committed = 0;
  let unanswered = 0;
  for (const view of views) {
    if (view.status !== "cosigned") {
      unanswered++;
      continue;
    }
    if (view.size > size)
      throw new CustosError(
        "CONFLICT",
        `refusing to sequence: the store holds ${size} entries but witness ${view.name} cosigned ${view.size}; the database lost ${view.size - size} committed entr${view.size - size === 1 ? "y" : "ies"} (a standby promoted without them, as asynchronous replication allows), and appending here would fork the log. Bring them back (the old primary's data directory, or custos restore from a mirror) and start again`,
      );
    if (view.size > 0 && !bytesEqual(await ledger.rootAt(view.size), view.rootHash))
      throw new CustosError(
        "CONFLICT",
        `refusing to sequence: the store's first ${view.size} entries are not the ones witness ${view.name} cosigned (another root): the log has forked; run custos verify and compare with a mirror`,
      );
    committed = Math.max(committed, view.size);
  }
  return { committed, size, unanswered };
}
