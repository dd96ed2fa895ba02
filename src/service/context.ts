// What every route module of `custos serve` is given: the deployment (vault, ledger, registry), the
// clock, and `allow`, which authorizes a caller or records the refusal in the log and throws.
// Route modules live in src/service/routes/ and export `register...Routes(app, ctx)`.
//
// The read-only routes (log, tiles, mirror content) need only a `ReadContext`: a ledger to read and
// the same `allow`, so a mirror serving its verified copy (src/mirror/mirror-server.ts) mounts the
// very same routes.

import type { FastifyRequest } from "fastify";
import type { Caller, Deployment, Operation, Target } from "../identity/index.js";
import type { AppendItem, Ledger } from "../ledger/index.js";

export interface ServedCheckpoint {
  readonly note: string;
  readonly size: number;
  /** Present when it is older than the newest signed checkpoint (see `Behind` in core/wire). */
  readonly behind?: { readonly entries: number; readonly seconds: number };
}

export interface ReadContext {
  /** The log replies are read from (the node's own, or a mirror's verified copy, read-only). */
  readonly ledger: Ledger;
  readonly now: () => number;
  /** Authorizes, or records the refusal (for the patient concerned) and throws 401/403. */
  allow(
    caller: Caller,
    operation: Operation,
    target: Target,
    patient?: string | { tag: Uint8Array },
  ): Promise<void>;
  /**
   * The checkpoint replies are proven against: the latest witnessed one when the node has witnesses
   * (cosignatures attached), else the latest signed one; at a mirror, the latest one it verified.
   * With `quorum` (a reader's `?quorum=N`): the newest one at least that many witnesses cosigned, and
   * how far it is behind the newest (UNAVAILABLE while no checkpoint has that many).
   */
  checkpoint(quorum?: number): Promise<ServedCheckpoint>;
  /** The authenticated caller of a request (set by the server's authentication hook). */
  callerOf(request: FastifyRequest): Caller;
  /** Whether a caller may see an entry's bytes (src/service/entry-access.ts); records nothing. */
  mayReadEntry(caller: Caller, entry: Uint8Array): boolean;
}

export interface ServiceContext extends ReadContext {
  readonly deployment: Deployment;
  /**
   * Records a meta-audit notice (a trail read): appended by the sequencer, or put in the outbox by a
   * read replica; resolves once it is durable, so await it before replying.
   */
  recordNotice(item: AppendItem): Promise<void>;
}
