// The node's metrics registry: the log's gauges, the background verify's status, the epoch-key cache,
// and the outbox of a PostgreSQL deployment (notices read replicas recorded, not yet in the log).
// Shared by the API and portal apps; /metrics is served on the mutual-TLS API only.

import type { Deployment } from "../identity/index.js";
import { createMetrics, Gauge, type Metrics, type VerifyStatus } from "../service/index.js";
import type { NoticeRelay } from "./notice-relay.js";

export function createNodeMetrics(options: {
  readonly deployment: Deployment;
  readonly now: () => number;
  readonly verifyStatus: () => VerifyStatus;
  readonly notices: NoticeRelay;
}): Metrics {
  const { deployment, now, notices } = options;
  const ledger = deployment.vault.ledger;
  const metrics = createMetrics({
    now,
    queueDepth: () => ledger.queueDepth,
    logSize: () => ledger.size(),
    latestCheckpoint: () => ledger.latestCheckpoint(),
    verifyStatus: options.verifyStatus,
    epochKeys: () => deployment.vault.sealer.epochs.stats(),
  });
  metrics.registry.add(
    new Gauge(
      "custos_outbox_depth",
      "Query and refusal notices recorded by read replicas, not yet in the log.",
      async () => (await notices.backlog())?.depth,
    ),
  );
  metrics.registry.add(
    new Gauge(
      "custos_outbox_rejected",
      "Outbox rows set aside and never appended: not a patient's notice, unsigned, or not signed by an enrolled node.",
      async () => (await notices.backlog())?.rejected,
    ),
  );
  metrics.registry.add(
    new Gauge(
      "custos_outbox_oldest_age_seconds",
      "Age of the oldest notice waiting in the outbox (0 when none waits).",
      async () => {
        const backlog = await notices.backlog();
        if (backlog === undefined) return undefined;
        return backlog.oldestAt === undefined ? 0 : Math.max(0, (now() - backlog.oldestAt) / 1000);
      },
    ),
  );
  return metrics;
}
