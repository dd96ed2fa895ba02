// The node re-checks what was appended since the last clean `custos verify` (its verify-state.json),
// incrementally, in the background; the result is a metric and a readiness check. It never runs a
// full verify itself: that would hold the event loop for as long as the log is big (22 s at 1M
// entries, measured). Without a state file the status stays unknown (-1) until an operator runs
// `custos verify` once.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CustosError } from "../core/index.js";
import type { LedgerStore } from "../ledger/index.js";
import { readVerifyState, type VerifyState, verifyStore } from "../ledger/index.js";
import type { VerifyStatus } from "../service/index.js";
import type { NodeLog } from "./node-log.js";

export class BackgroundVerify {
  readonly #store: LedgerStore;
  readonly #dir: string;
  readonly #log: NodeLog;
  #status: VerifyStatus = -1;
  #state: VerifyState | undefined;
  #verifying = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `dir`: the data directory holding verify-state.json. */
  constructor(store: LedgerStore, dir: string, log: NodeLog) {
    this.#store = store;
    this.#dir = dir;
    this.#log = log;
  }

  /** 1 the appended entries verify, 0 they do not (or the check failed), -1 not known yet. */
  get status(): VerifyStatus {
    return this.#status;
  }

  /** Verifies every `everyMs` (0: never). */
  start(everyMs: number): void {
    if (everyMs <= 0) return;
    this.#timer = setInterval(() => void this.run(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One incremental pass (skipped while one runs). */
  async run(): Promise<void> {
    if (this.#verifying) return;
    this.#verifying = true;
    try {
      if (!this.#state) {
        const saved = join(this.#dir, "verify-state.json");
        this.#state = existsSync(saved) ? readVerifyState(saved) : undefined;
        if (!this.#state) return;
      }
      const report = await verifyStore(this.#store, {
        ...(this.#state ? { state: this.#state, incremental: true } : {}),
      });
      this.#status = report.ok ? 1 : 0;
      if (report.ok && report.nextState) this.#state = report.nextState;
      if (!report.ok) this.#log.error("the store does not verify", { findings: report.findings.length });
    } catch (error) {
      this.#status = 0;
      this.#log.error("background verify failed", { code: (error as CustosError).code });
    } finally {
      this.#verifying = false;
    }
  }
}
