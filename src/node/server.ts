// `custos serve` as a library: startServer() opens nothing itself; given an open deployment and the
// node's identity, it makes the background jobs (jobs.ts), the routes' context (node-context.ts) and
// the HTTP apps (src/service/server.ts), listens on the API port, the portal port and the ATNA syslog
// port, and returns their addresses and one close().

import type { SyslogFeed } from "../atna/index.js";
import { CustosError } from "../core/index.js";
import type { Deployment, Identity } from "../identity/index.js";
import { ensurePortalCertificate, type PortalTls, serverNames } from "../identity/index.js";
import { readRetentionPolicy } from "../records/index.js";
import {
  checkpointFreshness,
  createNodeApps,
  type Listen,
  listenAt,
  minTlsVersion,
  type NodeRole,
  PortalSettingsSource,
} from "../service/index.js";
import type { WitnessEndpoint } from "../witness/index.js";
import { countCosignatures } from "../witness/index.js";
import { startCrlServer } from "./crl-server.js";
import { NodeJobs, nodeKeyPem } from "./jobs.js";
import { nodeContext } from "./node-context.js";
import { deferredLog } from "./node-log.js";
import { createNodeMetrics } from "./node-metrics.js";
import { startNodeSyslogFeed } from "./syslog-feed.js";

export type { Listen } from "../service/index.js";

export interface ServeOptions {
  readonly deployment: Deployment;
  /** The node's own identity (role node): its TLS certificate and token-signing key. */
  readonly identity: Identity;
  readonly api: Listen;
  /** The browser-facing port (no client certificate; signed-challenge login). */
  readonly portal?: Listen;
  /** Accept TLS 1.2 as well as 1.3 (off unless a setting asks for it). */
  readonly allowTls12?: boolean;
  readonly bodyLimit?: number;
  readonly now?: () => number;
  /** How often to look for a re-issued CRL (ms). */
  readonly crlCheckMs?: number;
  /** Structured request logs (pino) to stdout. */
  readonly log?: boolean;
  /** Per-identity request rate (default 200/s, burst 400). */
  readonly ratePerSecond?: number;
  /** How often the node re-verifies what was appended (ms, default 60 s; 0 = never). */
  readonly verifyEveryMs?: number;
  /** Witnesses to submit each new checkpoint to (C2SP tlog-witness); their cosignatures are served. */
  readonly witnesses?: readonly WitnessEndpoint[];
  /** How many witness cosignatures the portal's page demands of a checkpoint (default: all witnesses). */
  readonly witnessQuorum?: number;
  /**
   * How often to read the witnesses' checkpoints and evidence and check them against this log (ms;
   * default 10 s when witnesses are configured; 0 = never).
   */
  readonly gossipEveryMs?: number;
  /**
   * The portal's TLS certificate (browsers accept no Ed25519 one): an operator's own, else the node's
   * self-signed ECDSA P-256 certificate, made once and kept in the data directory.
   */
  readonly portalTls?: PortalTls;
  /**
   * The browser origins (https://host[:port]) users reach the portal at, e.g. behind a proxy. Login
   * challenges are issued to these only. Default: the portal certificate's names at the portal port.
   */
  readonly portalOrigins?: readonly string[];
  /** The portal's built site (index.html, assets/); default the package's dist/portal. */
  readonly portalSite?: string;
  /** The ATNA feed: syslog over mutual TLS (RFC 5425) carrying DICOM audit messages (docs/atna.md). */
  readonly syslog?: Listen;
  /** The CRL distribution point: the CA's CRL over plain HTTP (crl-server.ts). */
  readonly crl?: Listen;
}

/** Where a node listens: what `custos serve` asks for, and what a role change listens at again. */
export interface Listeners {
  readonly api: Listen;
  readonly portal?: Listen | undefined;
  readonly syslog?: Listen | undefined;
  readonly crl?: Listen | undefined;
}

export interface RunningServer {
  readonly api: Listen;
  readonly portal?: Listen;
  readonly syslog?: Listen;
  readonly crl?: Listen;
  /** The certificate the portal port presents (PEM) and its base64 SHA-256 SPKI fingerprint. */
  readonly portalCertificate?: {
    readonly pem: string;
    readonly fingerprint: string;
    readonly source: PortalTls["source"];
  };
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { deployment, identity } = options;
  if (identity.role !== "node")
    throw new CustosError("CONFIG", "custos serve needs a node identity (role node)");
  const now = options.now ?? Date.now;
  const keyPem = nodeKeyPem(identity.signingKey);
  const witnessKeys = (options.witnesses ?? []).map((w) => w.verifierKey);
  const quorum = options.witnessQuorum ?? witnessKeys.length;
  if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > witnessKeys.length) {
    throw new CustosError(
      "CONFIG",
      `the witness quorum must be 0 to ${witnessKeys.length} (the number of witnesses configured), got ${quorum}`,
    );
  }
  const portalTls: PortalTls | undefined = options.portal
    ? (options.portalTls ??
      (await ensurePortalCertificate(
        deployment.dir,
        deployment.vault.keystore,
        serverNames(identity.bundle.signingCertificate),
        now,
      )))
    : undefined;
  const minVersion = minTlsVersion(options.allowTls12);
  const tlsBase = () => ({
    key: keyPem,
    cert: identity.bundle.signingCertificate,
    ca: deployment.anchor.caPem,
    ...(deployment.anchor.crlPem ? { crl: deployment.anchor.crlPem } : {}),
    minVersion,
  });
  // Built anew each time: a re-issued CRL takes effect on the next handshake (refreshTls).
  const apiTls = () => ({ ...tlsBase(), requestCert: true, rejectUnauthorized: true });
  // The portal asks for no client certificate, so it needs neither the CA nor the CRL.
  const portalTlsOptions = () => ({
    key: portalTls?.key ?? keyPem,
    cert: portalTls?.cert ?? identity.bundle.signingCertificate,
    minVersion,
  });
  const ledger = deployment.vault.ledger;
  const retentionPolicy = readRetentionPolicy(deployment.dir);
  // Read now so that an invalid DIR/portal.json stops the node at start, naming the setting.
  const portalSettings = new PortalSettingsSource(deployment.dir, (message) =>
    apps?.portal?.log.warn(message),
  );

  let apps: Awaited<ReturnType<typeof createNodeApps>> | undefined;
  let syslog: SyslogFeed | undefined;
  const log = deferredLog(() => apps?.api.log);
  function refreshTls(): void {
    syslog?.refreshTls();
    for (const app of [apps?.api, apps?.portal]) {
      if (!app) continue;
      const server = app.server as unknown as { setSecureContext?: (o: object) => void };
      server.setSecureContext?.(app === apps?.api ? apiTls() : portalTlsOptions());
    }
  }
  const jobs = new NodeJobs({
    deployment,
    identity,
    now,
    log,
    retentionPolicy,
    refreshTls,
    ...(options.witnesses ? { witnesses: options.witnesses } : {}),
    ...(options.gossipEveryMs !== undefined ? { gossipEveryMs: options.gossipEveryMs } : {}),
    ...(options.verifyEveryMs !== undefined ? { verifyEveryMs: options.verifyEveryMs } : {}),
    ...(options.crlCheckMs !== undefined ? { crlCheckMs: options.crlCheckMs } : {}),
  });
  const { notices, witnessing, sharedWitnessed } = jobs;
  const metrics = createNodeMetrics({ deployment, now, verifyStatus: () => jobs.verify.status, notices });

  // A sequencer that lost its store to another node stands by until `custos serve` reopens the log.
  function nodeRole(): NodeRole {
    if (ledger.writable) return ledger.writeState?.state === "superseded" ? "standby" : "sequencer";
    return (ledger.store as { serverReadOnly?: boolean }).serverReadOnly === true ? "replica" : "standby";
  }
  // Every failed write is logged with its cause (disk full, read-only, lost session), never content.
  ledger.onWriteFailure(({ cause, retryInMs }) => {
    const line = { code: cause.code, cause: cause.message, retryInMs };
    if (options.log) apps?.api.log.error(line, "a write to the log's store failed; appends pause");
    else
      process.stderr.write(
        `custos: a write to the log's store failed: ${cause.message}; retrying in ${retryInMs} ms\n`,
      );
  });

  // A trail map snapshot that does not match its signed root was not used (the map was rebuilt from
  // the entries and the snapshot is rewritten): said at start, as verify would report it.
  const snapshotRejected = ledger.trailMapOpening?.rejected;
  if (snapshotRejected !== undefined) process.stderr.write(`custos: ${snapshotRejected}\n`);

  const ctx = nodeContext({
    deployment,
    now,
    metrics,
    notices,
    witnessing,
    sharedWitnessed,
    witnessCount: witnessKeys.length,
  });
  // A read replica keeps its own trail map (the sequencer's is in its memory): built from the store
  // now, so the first trail reply does not wait for it.
  if (!ledger.writable)
    ctx.checkpoint().then(
      (checkpoint) => ledger.warmTrailMap(checkpoint.size),
      () => undefined,
    );

  let portalListen: Listen | undefined;
  // A challenge binds the browser origin it was asked from; only this portal's own origins get one,
  // so a look-alike site relaying the node's login cannot have a user sign for it.
  function portalOrigin(origin: string): boolean {
    if (options.portalOrigins) return options.portalOrigins.includes(origin);
    if (!portalListen || !portalTls) return false;
    const port = portalListen.port;
    const hosts = new Set([...serverNames(portalTls.cert), portalListen.host]);
    for (const host of hosts) {
      const shown = host.includes(":") ? `[${host}]` : host;
      if (origin === `https://${shown}:${port}` || (port === 443 && origin === `https://${shown}`))
        return true;
    }
    return false;
  }

  apps = await createNodeApps({
    ctx,
    identity,
    apiTls: apiTls(),
    portalTls: options.portal ? portalTlsOptions() : undefined,
    bodyLimit: options.bodyLimit,
    log: options.log,
    ratePerSecond: options.ratePerSecond,
    metrics,
    health: {
      role: nodeRole,
      checks: async () => ({
        // The sequencer must be able to write now (not pausing after failed writes, the disk
        // writable with space left, its database session holding the lock); others must read.
        store: ledger.writable
          ? await ledger.writeReadiness()
          : (await ledger.store.getSize()) >= 0
            ? "ok"
            : "unreadable",
        checkpoint: checkpointFreshness(await ledger.latestCheckpoint(), await ledger.size(), now(), 30),
        verify: jobs.verify.status === 0 ? "the store does not verify" : "ok",
        outbox: await notices.readiness(),
      }),
      witnesses: async () => {
        if (witnessKeys.length === 0) return undefined;
        const witnessed = witnessing?.latest ?? (await sharedWitnessed.read());
        const size = witnessed?.size ?? 0;
        const logSize = await ledger.size();
        // What a reader requiring the deployment's quorum is served now (none yet: size 0).
        const held = await ctx.checkpoint(quorum).catch(() => undefined);
        const heldSize = witnessed === undefined ? 0 : (held?.size ?? 0);
        return {
          configured: witnessKeys.length,
          quorum,
          cosigned: witnessed ? countCosignatures(witnessed.note) : 0,
          size,
          behind: Math.max(0, logSize - size),
          quorumSize: heldSize,
          quorumBehind: Math.max(0, logSize - heldSize),
          quorumStaleSeconds: heldSize === 0 ? 0 : (held?.behind?.seconds ?? 0),
        };
      },
    },
    viaOutbox: () => notices.viaOutbox,
    alerts: jobs.alerts,
    gossip: jobs.gossip,
    retention: {
      policy: retentionPolicy,
      ...(jobs.retentionJob ? { job: jobs.retentionJob } : {}),
    },
    portalConfig: {
      node: identity.uri,
      witnessKeys,
      quorum,
      settings: () => portalSettings.current(),
    },
    portalSite: options.portalSite,
    portalOrigin,
    refreshTls,
  });
  const { api, portal } = apps;
  jobs.start();

  const apiListen = await listenAt(api, options.api);
  if (portal && options.portal) portalListen = await listenAt(portal, options.portal);
  if (options.syslog) {
    syslog = await startNodeSyslogFeed({
      listen: options.syslog,
      deployment,
      ctx,
      tls: tlsBase,
      metrics,
      log: (message, fields) => api.log.warn(fields, message),
    }).catch(async (error: unknown) => {
      await api.close();
      await portal?.close();
      throw error;
    });
  }
  const crl = options.crl
    ? await startCrlServer(options.crl, {
        crl: () => {
          const { crlDer, crlPem } = deployment.anchor;
          return crlDer && crlPem ? { der: crlDer, pem: crlPem } : undefined;
        },
      }).catch(async (error: unknown) => {
        await syslog?.close();
        await api.close();
        await portal?.close();
        throw error;
      })
    : undefined;
  return {
    api: apiListen,
    ...(portalListen ? { portal: portalListen } : {}),
    ...(syslog ? { syslog: { host: syslog.host, port: syslog.port } } : {}),
    ...(crl ? { crl: { host: crl.host, port: crl.port } } : {}),
    ...(portalTls
      ? {
          portalCertificate: {
            pem: portalTls.cert,
            fingerprint: portalTls.fingerprint,
            source: portalTls.source,
          },
        }
      : {}),
    close: async () => {
      await jobs.stopLoops();
      await syslog?.close();
      await crl?.close();
      await api.close();
      await jobs.stopRelays();
      await portal?.close();
    },
  };
}
