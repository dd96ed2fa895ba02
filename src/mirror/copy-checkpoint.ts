// Which of the mirror's verified checkpoints a reply is proven against: the newest one, or with a
// reader's `?quorum=N` the newest one at least N witnesses cosigned (the mirror keeps every checkpoint
// it verified), with how far that is behind the newest: the same contract as the node's.

import { CustosError } from "../core/index.js";
import type { LedgerStore } from "../ledger/index.js";
import type { ServedCheckpoint } from "../service/index.js";
import { countCosignatures } from "../witness/index.js";

export async function copyCheckpoint(
  store: LedgerStore,
  now: number,
  quorum: number | undefined,
): Promise<ServedCheckpoint> {
  const latest = await store.getLatestCheckpoint();
  if (!latest)
    throw new CustosError("NOT_FOUND", "the mirror holds no verified checkpoint yet; retry shortly");
  if (!quorum || countCosignatures(latest.note) >= quorum) return { note: latest.note, size: latest.size };
  const all = (await store.listCheckpoints()).sort((a, b) => b.size - a.size);
  const at = all.findIndex((c) => countCosignatures(c.note) >= quorum);
  const held = all[at];
  if (held === undefined) {
    throw new CustosError(
      "UNAVAILABLE",
      `the mirror holds no checkpoint cosigned by ${quorum} witnesses yet; retry later`,
      { retryAfterSeconds: 5 },
    );
  }
  // Since when the copy holds more than the quorum cosigned: the first checkpoint past it.
  const firstPast = all.slice(0, at).reduce((oldest, c) => (c.storedAt < oldest ? c.storedAt : oldest), now);
  return {
    note: held.note,
    size: held.size,
    ...(latest.size > held.size
      ? {
          behind: {
            entries: latest.size - held.size,
            seconds: Math.max(0, Math.floor((now - firstPast) / 1000)),
          },
        }
      : {}),
  };
}
