// The witnessed checkpoint on PostgreSQL, shared by the nodes of one log. Witnesses cosign what the
// sequencer submits, and the sequencer keeps their cosignatures; it also publishes the latest
// witnessed note in the database, so read replicas prove their replies against the same cosigned
// checkpoint and clients that demand a witness quorum can read from any node.

import type { Ledger, SharedCheckpointAccess } from "../ledger/index.js";
import { QuorumCheckpoints, type Witnessing } from "../witness/index.js";

/** How often the sequencer looks for a newly witnessed checkpoint to publish. */
const PUBLISH_EVERY_MS = 500;

export class SharedWitnessedCheckpoint {
  readonly #ledger: Ledger;
  readonly #store: SharedCheckpointAccess | undefined;
  readonly #witnessing: Witnessing | undefined;
  #published: string | undefined;
  /**
   * On a read replica: the newest published note for each number of cosigners seen since it started
   * (the database holds only the newest), so quorum readers keep reading while a witness is down.
   */
  readonly seen = new QuorumCheckpoints();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(ledger: Ledger, witnessing: Witnessing | undefined) {
    this.#ledger = ledger;
    this.#store = ledger.store.sharedCheckpoint;
    this.#witnessing = witnessing;
  }

  /** On the sequencer: publishes each new witnessed checkpoint (best effort; retried). */
  start(): void {
    const store = this.#store;
    const witnessing = this.#witnessing;
    if (store === undefined || witnessing === undefined || !this.#ledger.writable) return;
    this.#timer = setInterval(() => {
      const latest = witnessing.latest;
      if (latest === undefined || latest.note === this.#published) return;
      store.putWitnessedCheckpoint(latest).then(
        () => {
          this.#published = latest.note;
        },
        () => undefined,
      );
    }, PUBLISH_EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** On a read replica: the witnessed checkpoint the sequencer published, if any. */
  async read(): Promise<{ note: string; size: number } | undefined> {
    if (this.#store === undefined || this.#ledger.writable) return undefined;
    const published = await this.#store.getWitnessedCheckpoint();
    if (published !== undefined) this.seen.record(published.note);
    return published;
  }
}
