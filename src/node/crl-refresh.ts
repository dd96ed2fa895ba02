// Every node checks the current CRL: it picks up a re-issued one (the TLS contexts are then renewed,
// so a revoked certificate fails its next handshake) and keeps the CRL from expiring.

import type { CustosError } from "../core/index.js";
import type { Deployment } from "../identity/index.js";
import type { NodeLog } from "./node-log.js";

/** How often to look for a re-issued CRL (ms). */
export const DEFAULT_CRL_CHECK_MS = 30_000;

export class CrlRefresh {
  readonly #deployment: Deployment;
  readonly #changed: () => void;
  readonly #log: NodeLog;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `changed`: called after the CRL changed, to renew the TLS contexts. */
  constructor(deployment: Deployment, changed: () => void, log: NodeLog) {
    this.#deployment = deployment;
    this.#changed = changed;
    this.#log = log;
  }

  start(everyMs = DEFAULT_CRL_CHECK_MS): void {
    this.#timer = setInterval(() => {
      this.#deployment
        .maintainCrl()
        .then((changed) => {
          if (changed) this.#changed();
        })
        .catch((error: unknown) =>
          this.#log.error("CRL refresh failed", { code: (error as CustosError).code }),
        );
    }, everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
