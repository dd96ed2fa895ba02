// Which checkpoint a node proves a reply against. With witnesses: the newest one at least the reader's
// quorum cosigned (`?quorum=N`; none asked: at least one), so a reader requiring two of two witnesses
// keeps reading, up to the last checkpoint both cosigned, while one of them is down; the reply then
// says how far that is behind the newest signed checkpoint. Without witnesses: the newest signed one.

import { CustosError } from "../core/index.js";
import type { Ledger } from "../ledger/index.js";
import { currentCheckpoint, type ServedCheckpoint } from "../service/index.js";
import type { QuorumCheckpoint, Witnessing } from "../witness/index.js";
import type { SharedWitnessedCheckpoint } from "./shared-checkpoint.js";

export interface CheckpointSources {
  readonly ledger: Ledger;
  readonly now: () => number;
  /** The sequencer's witnessing loop (undefined elsewhere, or without witnesses). */
  readonly witnessing: Witnessing | undefined;
  /** On a read replica: the witnessed checkpoint the sequencer published. */
  readonly shared: SharedWitnessedCheckpoint;
  /** Witnesses the deployment configured (--witness). */
  readonly witnessCount: number;
}

export async function servedCheckpoint(
  sources: CheckpointSources,
  quorum: number | undefined,
): Promise<ServedCheckpoint> {
  const { ledger, witnessing, shared, witnessCount } = sources;
  const asked = quorum === undefined || quorum === 0 ? undefined : quorum;
  if (asked !== undefined && asked > witnessCount) {
    throw new CustosError(
      "BAD_ARGUMENT",
      witnessCount === 0
        ? `this node has no witnesses: none of its checkpoints is cosigned by ${asked}`
        : `this node has ${witnessCount} witness(es): no checkpoint of it is cosigned by ${asked}`,
    );
  }
  if (witnessCount === 0) return currentCheckpoint(ledger);
  const slot = (): QuorumCheckpoint | undefined =>
    witnessing ? witnessing.atLeast(asked ?? 1) : shared.seen.atLeast(asked ?? 1);
  if (!witnessing) await shared.read();
  const held = slot();
  if (held === undefined) {
    if (asked === undefined) return currentCheckpoint(ledger);
    throw new CustosError(
      "UNAVAILABLE",
      `no checkpoint of this log is cosigned by ${asked} witnesses yet; retry in a moment`,
      { retryAfterSeconds: 1 },
    );
  }
  const newest = await ledger.latestCheckpoint();
  if (newest === undefined || newest.size <= held.size) return { note: held.note, size: held.size };
  // The sequencer's witnessing loop marks staleness as each checkpoint is signed; a replica, here.
  if (!witnessing) shared.seen.advanced(newest.size, newest.storedAt);
  const since = slot()?.staleSince ?? newest.storedAt;
  return {
    note: held.note,
    size: held.size,
    behind: {
      entries: newest.size - held.size,
      seconds: Math.max(0, Math.floor((sources.now() - since) / 1000)),
    },
  };
}
