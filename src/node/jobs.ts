// The node's background jobs, made from one deployment and started and stopped together: the
// witnessing loop (the sequencer submits each checkpoint to its witnesses), gossip (witnesses'
// checkpoints checked against this log), the shared witnessed checkpoint (PostgreSQL), the notice
// relay (draining the outbox read replicas record into), the incremental re-verify, retention
// expiry (where the log is sequenced), the CRL refresh and, off the sequencer, the registry follower.

import type { KeyObject } from "node:crypto";
import { join } from "node:path";
import type { CustosError } from "../core/index.js";
import type { Deployment, Identity } from "../identity/index.js";
import type { RetentionPolicy } from "../records/index.js";
import { RETENTION_STATE_FILE_NAME, RetentionJob } from "../records/index.js";
import { outboxSignatureCheck, outboxSignerOf } from "../service/index.js";
import type { WitnessEndpoint } from "../witness/index.js";
import { AlertLog, GossipChecker, Gossiping, ledgerReference, Witnessing } from "../witness/index.js";
import { BackgroundVerify } from "./background-verify.js";
import { CrlRefresh } from "./crl-refresh.js";
import type { NodeLog } from "./node-log.js";
import { NoticeRelay } from "./notice-relay.js";
import { RegistryFollow } from "./registry-follow.js";
import { SharedWitnessedCheckpoint } from "./shared-checkpoint.js";

export interface NodeJobsOptions {
  readonly deployment: Deployment;
  /** The node's identity: its TLS certificate towards witnesses, and the key signing outbox rows. */
  readonly identity: Identity;
  readonly now: () => number;
  readonly log: NodeLog;
  readonly witnesses?: readonly WitnessEndpoint[];
  /** How often to check the witnesses' checkpoints against this log (ms; default 10 s; 0 = never). */
  readonly gossipEveryMs?: number;
  /** How often to re-verify what was appended (ms; default 60 s; 0 = never). */
  readonly verifyEveryMs?: number;
  /** How often to look for a re-issued CRL (ms; default 30 s). */
  readonly crlCheckMs?: number;
  /** Renews the TLS contexts after the CRL changed. */
  readonly refreshTls: () => void;
  /** The deployment's retention policy (read at start, so a bad one stops the node). */
  readonly retentionPolicy: RetentionPolicy;
}

export class NodeJobs {
  /** Witness refusals and split views found by gossip: one alert log, listed by GET /v1/alerts. */
  readonly alerts: AlertLog;
  readonly witnessing: Witnessing | undefined;
  readonly gossip: Gossiping;
  /** PostgreSQL: the sequencer publishes its witnessed checkpoint; read replicas with witnesses serve it. */
  readonly sharedWitnessed: SharedWitnessedCheckpoint;
  /** Trail reads and refusals: appended here, or on a read replica recorded in the outbox. */
  readonly notices: NoticeRelay;
  readonly verify: BackgroundVerify;
  /** Retention expiry runs only where the log is sequenced (docs/operations.md, "Retention"). */
  readonly retentionPolicy: RetentionPolicy;
  readonly retentionJob: RetentionJob | undefined;
  readonly #crl: CrlRefresh;
  readonly #registryFollow: RegistryFollow;
  readonly #options: NodeJobsOptions;

  constructor(options: NodeJobsOptions) {
    this.#options = options;
    const { deployment, identity, now, log } = options;
    const ledger = deployment.vault.ledger;
    this.retentionPolicy = options.retentionPolicy;
    this.retentionJob = ledger.writable
      ? new RetentionJob({
          ledger,
          policy: this.retentionPolicy,
          rotate: (tag) => deployment.vault.sealer.epochs.rotate(tag),
          now,
          statePath: join(deployment.dir, RETENTION_STATE_FILE_NAME),
        })
      : undefined;
    this.verify = new BackgroundVerify(ledger.store, deployment.dir, log);
    this.notices = new NoticeRelay(ledger, now, (message, code) => log.warn(message, { code }), {
      signer: outboxSignerOf(identity),
      check: outboxSignatureCheck(() => deployment.registry, deployment.name, now),
    });
    this.alerts = new AlertLog(deployment.dir);
    const witnessTls = {
      key: nodeKeyPem(identity.signingKey),
      cert: identity.bundle.signingCertificate,
      ca: deployment.anchor.caPem,
    };
    const witnesses = options.witnesses ?? [];
    this.witnessing =
      witnesses.length > 0 && ledger.writable
        ? new Witnessing(
            ledger,
            witnesses,
            deployment.dir,
            witnessTls,
            (message) => log.warn(message),
            this.alerts,
          )
        : undefined;
    this.gossip = new Gossiping({
      checker: new GossipChecker(ledger.meta, ledgerReference(ledger)),
      alerts: this.alerts,
      witnesses,
      tls: witnessTls,
      now,
      log: (message) => log.warn(message),
    });
    this.sharedWitnessed = new SharedWitnessedCheckpoint(ledger, this.witnessing);
    this.#crl = new CrlRefresh(deployment, options.refreshTls, log);
    this.#registryFollow = new RegistryFollow(deployment, ledger);
  }

  start(): void {
    const options = this.#options;
    this.#crl.start(options.crlCheckMs);
    this.#registryFollow.start();
    this.witnessing?.start();
    this.notices.start();
    this.sharedWitnessed.start();
    const gossipEvery = options.gossipEveryMs ?? 10_000;
    if (gossipEvery > 0 && (options.witnesses?.length ?? 0) > 0) this.gossip.start(gossipEvery);
    this.verify.start(options.verifyEveryMs ?? 60_000);
    this.retentionJob?.start((error) =>
      options.log.error("retention expiry tick failed", {
        code: (error as CustosError).code ?? "INTERNAL",
      }),
    );
  }

  /** Stops the loops that act on their own; the relays that requests use stop in stopRelays(). */
  async stopLoops(): Promise<void> {
    this.#crl.stop();
    this.witnessing?.stop();
    this.gossip.stop();
    this.verify.stop();
    await this.retentionJob?.stop();
    this.#registryFollow.stop();
  }

  /** Stops the notice relay and the shared checkpoint, once no request can use them any more. */
  async stopRelays(): Promise<void> {
    await this.notices.stop();
    this.sharedWitnessed.stop();
  }
}

/** The node's signing key as PEM, for its TLS certificate. */
export function nodeKeyPem(signingKey: KeyObject): string {
  return signingKey.export({ type: "pkcs8", format: "pem" }).toString();
}
