// `custos serve` as a library call: runNode() opens the deployment (as sequencer, or on PostgreSQL as
// a standby when another node holds the sequencer lock or the database is a hot standby), starts the
// node's server, tells the operator where it serves, and serves until stopped (SIGINT or SIGTERM
// unless `stopped` is given), changing role as the sequencer lock moves (roles.ts).

import { join } from "node:path";
import { CustosError } from "../core/index.js";
import type { MasterKeyProvider } from "../crypto/keystore/index.js";
import type { Identity } from "../identity/index.js";
import { Deployment, PORTAL_CERT_FILE } from "../identity/index.js";
import { openStore } from "../ledger/index.js";
import { defaultPrepWorkers } from "../records/index.js";
import { checkCommittedSize } from "./committed-size.js";
import { nodeKeyPem } from "./jobs.js";
import { type NodeOutput, serveRoles } from "./roles.js";
import { type Listen, type Listeners, type ServeOptions, startServer } from "./server.js";

export interface RunNodeOptions {
  /** The data directory. */
  readonly dir: string;
  /** The PostgreSQL URL; without it the log is SQLite in `dir`. */
  readonly db?: string | undefined;
  readonly masterKey: MasterKeyProvider;
  /** The node's unlocked identity (role node). */
  readonly identity: Identity;
  /** Sign a checkpoint at most this often while records arrive (ms). */
  readonly checkpointIntervalMs: number;
  /** Worker threads preparing submitted records (default: one per core; 0: on the event loop). */
  readonly prepWorkers?: number;
  readonly api: Listen;
  readonly portal?: Listen | undefined;
  readonly syslog?: Listen | undefined;
  readonly crl?: Listen | undefined;
  /** The server's other settings (TLS 1.2, logs, rates, witnesses, portal). */
  readonly serve?: Omit<ServeOptions, "deployment" | "identity" | keyof Listeners>;
  readonly output: NodeOutput;
  /** Resolves when the node should stop; default: on SIGINT or SIGTERM. */
  readonly stopped?: Promise<void>;
}

/** Serves until stopped; returns once everything is closed. */
export async function runNode(options: RunNodeOptions): Promise<void> {
  const { dir, db, identity, output } = options;
  const open = (readOnly: boolean) =>
    Deployment.open(dir, options.masterKey, {
      ...(db ? { db } : {}),
      checkpointIntervalMs: options.checkpointIntervalMs,
      ...(readOnly ? { readOnly: true } : { prepWorkers: options.prepWorkers ?? defaultPrepWorkers() }),
    });
  // The store to be sequenced must hold every entry a witness cosigned (committed-size.ts).
  const witnesses = options.serve?.witnesses ?? [];
  // PostgreSQL only: there a promoted standby can lack committed transactions (a SQLite store
  // restored with an accepted loss is the operator's explicit choice, made at restore).
  const guard =
    witnesses.length > 0 && db
      ? async (d: Deployment) => {
          await checkCommittedSize(d.vault.ledger, witnesses, {
            key: nodeKeyPem(identity.signingKey),
            cert: identity.bundle.signingCertificate,
            ca: d.anchor.caPem,
          });
        }
      : undefined;
  let standby = false;
  let readOnlyServer = false;
  let deployment: Deployment;
  try {
    deployment = await open(false);
    if (guard) {
      try {
        await guard(deployment);
      } catch (error) {
        await deployment.close();
        throw error;
      }
    }
  } catch (error) {
    // PostgreSQL: another node holds the sequencer lock, so serve reads (and trail queries, through
    // the outbox) and stand by to take over; or the server is a hot standby, so serve reads only.
    if (!(error instanceof CustosError && db)) throw error;
    if (error.code === "CONFLICT") throw error; // the guard: never sequence, nor stand by, on a store that would fork
    if (error.code === "CONFIG") readOnlyServer = await onReadOnlyServer(dir, db);
    if (error.code !== "STORE_BUSY" && !readOnlyServer) throw error;
    deployment = await open(true);
    standby = true;
  }
  const start = async (d: Deployment, where: Listeners) => {
    try {
      return await startServer({
        ...options.serve,
        deployment: d,
        identity,
        api: where.api,
        ...(where.portal ? { portal: where.portal } : {}),
        ...(where.syslog ? { syslog: where.syslog } : {}),
        ...(where.crl ? { crl: where.crl } : {}),
      });
    } catch (error) {
      await d.close();
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new CustosError(
          "CONFIG",
          "the address is already in use; choose another with --listen/--portal/--syslog/--crl-listen",
        );
      }
      throw error;
    }
  };
  const server = await start(deployment, {
    api: options.api,
    portal: options.portal,
    syslog: options.syslog,
    crl: options.crl,
  });
  output.out(`custos node ${identity.uri} serving`);
  output.out(`  API (mutual TLS): https://${server.api.host}:${server.api.port}`);
  if (server.portalCertificate) {
    const { fingerprint, source } = server.portalCertificate;
    output.out(
      `  portal certificate SHA-256 SPKI (base64): ${fingerprint} (${source === "operator" ? "--portal-cert" : `self-signed, ${join(dir, PORTAL_CERT_FILE)}`})`,
    );
  }
  if (server.syslog) output.out(`  ATNA syslog (mutual TLS): ${server.syslog.host}:${server.syslog.port}`);
  if (server.crl) output.out(`  CRL (plain HTTP):  http://${server.crl.host}:${server.crl.port}/crl`);
  if (server.portal) output.out(`  portal (login):   https://${server.portal.host}:${server.portal.port}`);
  if (readOnlyServer)
    output.out(
      "  standby: the database accepts only reads (a hot standby); serving checkpoints, proofs and tiles, not trail queries",
    );
  else if (standby)
    output.out("  standby: another node sequences this log; serving reads, ready to take over");
  let stopping = false;
  const stopped = (options.stopped ?? signalled()).then(() => {
    stopping = true;
  });
  await serveRoles(
    { dir, db, open, start, io: output, stopped, isStopping: () => stopping, ...(guard ? { guard } : {}) },
    { deployment, server, standby, readOnlyServer },
  );
}

/** Resolves on the first SIGINT or SIGTERM. */
function signalled(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

/** Whether the PostgreSQL server at `db` accepts only reads (a hot standby): such a node never sequences. */
async function onReadOnlyServer(dir: string, db: string): Promise<boolean> {
  const store = await openStore(dir, { db }).catch(() => undefined);
  if (store === undefined) return false;
  const readOnly = store.serverReadOnly === true;
  await store.close();
  return readOnly;
}
