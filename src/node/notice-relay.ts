// Where a node puts the notices of the meta-audit (a trail read, a refused request). The sequencer
// appends them to the log before it replies. A read replica on PostgreSQL cannot append: it records
// them in the log's outbox table, committed before it replies, and the sequencer moves them into the
// log in order (docs/postgres.md, "Read replicas"). A node that can do neither refuses the request.

import { CustosError } from "../core/index.js";
import type { AppendItem, Ledger } from "../ledger/index.js";
import type {
  OutboxBacklog,
  OutboxSignatureCheck,
  OutboxSigner,
  PostgresOutbox,
} from "../ledger/postgres/index.js";

/** How often the sequencer looks for notices recorded by replicas. */
export const DEFAULT_DRAIN_EVERY_MS = 250;

/** Readiness fails once the oldest waiting notice is older than this: nobody is draining. */
export const DEFAULT_MAX_BACKLOG_AGE_S = 30;

export class NoticeRelay {
  readonly #ledger: Ledger;
  readonly #outbox: PostgresOutbox | undefined;
  readonly #now: () => number;
  readonly #log: (message: string, code?: string) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #draining: Promise<void> | undefined;
  #failing: string | undefined;
  readonly #signer: OutboxSigner | undefined;
  readonly #check: OutboxSignatureCheck | undefined;

  /**
   * `signatures`: how this node signs the rows it records as a replica, and how, as the sequencer, it
   * checks the rows it drains (src/service/outbox-signatures.ts).
   */
  constructor(
    ledger: Ledger,
    now: () => number,
    log: (message: string, code?: string) => void,
    signatures: { signer?: OutboxSigner; check?: OutboxSignatureCheck } = {},
  ) {
    this.#signer = signatures.signer;
    this.#check = signatures.check;
    this.#ledger = ledger;
    // A store on a read-only server (a hot standby) cannot record: such a node serves no trail query.
    this.#outbox = ledger.store.noticeOutbox;
    this.#now = now;
    this.#log = log;
  }

  /** True on a read replica that records queries through the outbox instead of appending them. */
  get viaOutbox(): boolean {
    return !this.#ledger.writable && this.#outbox !== undefined;
  }

  /**
   * Records a notice: in the log (sequencer) or in the outbox (replica). Resolves once it is durable,
   * so a caller that awaits this before replying never serves an unrecorded read.
   */
  async record(item: AppendItem): Promise<void> {
    if (this.#ledger.writable) {
      await this.#ledger.append([item]);
      return;
    }
    if (this.#outbox === undefined) {
      throw new CustosError(
        "STORE_BUSY",
        "this node cannot record the request in the log (it does not sequence it); send it to the sequencer",
      );
    }
    await this.#outbox.add([item], this.#now(), undefined, this.#signer);
  }

  /** On the sequencer: moves replicas' notices into the log every `everyMs`, oldest first. */
  start(everyMs = DEFAULT_DRAIN_EVERY_MS): void {
    if (!this.#ledger.writable || this.#outbox === undefined || this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#draining === undefined)
        this.#draining = this.drain().finally(() => (this.#draining = undefined));
    }, everyMs);
    this.#timer.unref();
  }

  /** Drains until the outbox is empty (or a drain fails: the rows stay for the next attempt). */
  async drain(): Promise<void> {
    const outbox = this.#outbox;
    if (!this.#ledger.writable || outbox === undefined) return;
    try {
      const options = {
        ...(this.#check ? { check: this.#check } : {}),
        // The reason only: a refused row's content is a sealed notice about a patient.
        onReject: (reason: string) =>
          this.#log(`an outbox row was set aside, not appended: ${reason}`, "OUTBOX_REJECTED"),
      };
      while ((await outbox.drain((items) => this.#ledger.append(items), undefined, options)) > 0) {}
      if (this.#failing !== undefined) this.#log("the notice outbox drains again");
      this.#failing = undefined;
    } catch (error) {
      const code = error instanceof CustosError ? error.code : "INTERNAL";
      if (this.#failing === undefined) this.#log("appending the notice outbox failed; retrying", code);
      this.#failing = code;
    }
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#draining;
  }

  /** Notices waiting in the outbox; undefined without one (SQLite). */
  async backlog(): Promise<OutboxBacklog | undefined> {
    return this.#outbox?.backlog();
  }

  /** Readiness: "ok", or how many notices wait and for how long (no personal data). */
  async readiness(maxAgeSeconds = DEFAULT_MAX_BACKLOG_AGE_S): Promise<string> {
    if (this.#failing !== undefined) return `appending the notice outbox fails (${this.#failing})`;
    const backlog = await this.backlog();
    if (backlog !== undefined && backlog.rejected > 0)
      return `${backlog.rejected} outbox row(s) refused: not a patient's query or refusal notice (see rejected_reason in the outbox table)`;
    if (backlog === undefined || backlog.oldestAt === undefined) return "ok";
    const age = Math.max(0, Math.floor((this.#now() - backlog.oldestAt) / 1000));
    if (age <= maxAgeSeconds) return "ok";
    return `${backlog.depth} notice(s) waiting for a sequencer, oldest ${age} s`;
  }
}
