// A read replica or standby follows what the sequencer appends (new enrollments, grants and
// revocations) within a fraction of a second; the sequencer refreshes on its own appends, so it
// runs no follower.

import type { Deployment } from "../identity/index.js";
import type { Ledger } from "../ledger/index.js";

/** How often a node that does not sequence folds new registry entries from the log (ms). */
export const REGISTRY_FOLLOW_MS = 250;

export class RegistryFollow {
  readonly #deployment: Deployment;
  readonly #ledger: Ledger;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(deployment: Deployment, ledger: Ledger) {
    this.#deployment = deployment;
    this.#ledger = ledger;
  }

  /** Follows the log unless this node sequences it. */
  start(everyMs = REGISTRY_FOLLOW_MS): void {
    if (this.#ledger.writable) return;
    this.#timer = setInterval(() => {
      this.#deployment.registry.refresh(this.#ledger.store).catch(() => undefined);
    }, everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
