// The node's ServiceContext: what every route is given. `allow` authorizes against the log-derived
// registry (folding in what the log gained before refusing) and records each refusal, within the
// caller's refusal budget, as a notice for the patient concerned; replies are proven against the
// witnessed checkpoint when the node has witnesses (served-checkpoint.ts).

import { CustosError } from "../core/index.js";
import type { Deployment } from "../identity/index.js";
import { authorize } from "../identity/index.js";
import type { Metrics, ServiceContext } from "../service/index.js";
import { entryVisibleTo, RefusalBudget } from "../service/index.js";
import type { Witnessing } from "../witness/index.js";
import type { NoticeRelay } from "./notice-relay.js";
import { servedCheckpoint } from "./served-checkpoint.js";
import type { SharedWitnessedCheckpoint } from "./shared-checkpoint.js";

export function nodeContext(options: {
  readonly deployment: Deployment;
  readonly now: () => number;
  readonly metrics: Metrics;
  readonly notices: NoticeRelay;
  /** The sequencer's witnessing loop (undefined elsewhere, or without witnesses). */
  readonly witnessing: Witnessing | undefined;
  /** On a read replica with witnesses: the witnessed checkpoint the sequencer published. */
  readonly sharedWitnessed: SharedWitnessedCheckpoint;
  /** Witnesses the deployment configured (--witness). */
  readonly witnessCount: number;
}): ServiceContext {
  const { deployment, now, metrics, notices, witnessing, sharedWitnessed } = options;
  const ledger = deployment.vault.ledger;
  const refusalBudget = new RefusalBudget(now);
  return {
    deployment,
    ledger,
    now,
    checkpoint: (quorum) =>
      servedCheckpoint(
        { ledger, now, witnessing, shared: sharedWitnessed, witnessCount: options.witnessCount },
        quorum,
      ),
    async allow(caller, operation, target, patient) {
      let decision = authorize(deployment.registry, caller, operation, target, now());
      if (!decision.allowed) {
        // An enrollment or grant appended a moment ago (by the sequencer, seen here as a replica) counts
        // at once: fold in what the log gained before refusing.
        await deployment.registry.refresh(ledger.store).catch(() => undefined);
        decision = authorize(deployment.registry, caller, operation, target, now());
      }
      if (decision.allowed) return;
      metrics.refusal(operation);
      const recording = refusalBudget.take(caller.uri);
      const notice =
        recording.kind === "notice"
          ? deployment.refusalNotice(caller, operation, decision.code, patient)
          : recording.kind === "summary"
            ? deployment.refusalNotice(
                caller,
                operation,
                `${decision.code}; over its refusal budget, ${recording.unrecorded} refusals of this identity since the last summary were not recorded one by one`,
              )
            : undefined;
      if (notice) await notices.record(notice).catch(() => undefined);
      throw new CustosError(decision.code, decision.reason);
    },
    callerOf(request) {
      if (!request.caller) throw new CustosError("NOT_AUTHENTICATED", "the request is not authenticated");
      return request.caller;
    },
    mayReadEntry: (caller, entry) => entryVisibleTo(deployment.registry, caller, entry, now()),
    recordNotice: (item) => notices.record(item),
  };
}
