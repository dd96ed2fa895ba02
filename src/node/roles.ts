// The node's roles over time (the standby takeover), for `custos serve`: a standby probes the sequencer lock and takes over
// when the sequencer's session ends; a sequencer whose store moved on without it (another node took
// the lock, or a commit's answer was lost with the database session) reopens the log, as sequencer if
// it can re-take the lock, else as standby. Reopening waits out an unreachable database with backoff;
// the old server keeps serving reads (and answering STORE_BUSY to writes) until the new one is ready.

import { CustosError } from "../core/index.js";
import type { Deployment } from "../identity/index.js";
import { openStore } from "../ledger/index.js";
import type { Listeners, RunningServer } from "./server.js";

/** Where the node tells its operator what it does: one line each (the CLI's stdout and stderr). */
export interface NodeOutput {
  out(line: string): void;
  err(line: string): void;
}

export interface NodeRoles {
  readonly dir: string;
  /** The PostgreSQL URL (standby and takeover exist only there). */
  readonly db: string | undefined;
  readonly open: (readOnly: boolean) => Promise<Deployment>;
  readonly start: (deployment: Deployment, where: Listeners) => Promise<RunningServer>;
  readonly io: NodeOutput;
  /** Resolves on SIGINT or SIGTERM. */
  readonly stopped: Promise<void>;
  readonly isStopping: () => boolean;
  /**
   * Checks a store about to be sequenced (committed-size.ts): throws when it lacks entries the
   * witnesses cosigned, so the node does not fork the log; it stays a standby and says why.
   */
  readonly guard?: (deployment: Deployment) => Promise<void>;
}

const PROBE_MS = 2_000;
const REOPEN_MAX_MS = 10_000;

function pause(ms: number, stopped: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    stopped,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Serves until stopped, changing role as the log's sequencer lock moves; closes everything at the end. */
export async function serveRoles(
  roles: NodeRoles,
  initial: { deployment: Deployment; server: RunningServer; standby: boolean; readOnlyServer: boolean },
): Promise<void> {
  const { io, stopped } = roles;
  let { deployment, server, standby } = initial;
  const where = (): Listeners => ({
    api: server.api,
    portal: server.portal,
    syslog: server.syslog,
    crl: server.crl,
  });
  const swap = async (next: Deployment, nextStandby: boolean) => {
    await server.close();
    await deployment.close();
    deployment = next;
    standby = nextStandby;
    server = await roles.start(deployment, where());
  };
  let lastRefusal: string | undefined;
  while (!roles.isStopping()) {
    if (standby && !initial.readOnlyServer && roles.db !== undefined) {
      // A standby probes the sequencer lock; when the sequencer's session ends, it takes over.
      await pause(PROBE_MS, stopped);
      if (roles.isStopping()) break;
      const probe = await openStore(roles.dir, { db: roles.db }).catch(() => undefined);
      if (probe?.acquireSequencerLock === undefined) continue;
      const free = await probe.acquireSequencerLock().catch(() => false);
      await probe.close();
      if (!free) continue;
      let writable: Deployment;
      try {
        writable = await roles.open(false);
      } catch (error) {
        if (error instanceof CustosError && (error.code === "STORE_BUSY" || error.code === "CONFIG"))
          continue; // another standby won, or the database went away again
        throw error;
      }
      const refused = await refusal(roles, writable);
      if (refused !== undefined) {
        await writable.close();
        if (refused !== lastRefusal) io.err(`custos: ${refused}`);
        lastRefusal = refused;
        continue;
      }
      await swap(writable, false);
      io.out("  the sequencer stopped: this node now sequences the log");
      continue;
    }
    if (standby) {
      await stopped;
      break;
    }
    const ledger = deployment.vault.ledger;
    const superseded = new Promise<string>((resolve) => ledger.onSuperseded(resolve));
    const reason = await Promise.race([stopped.then(() => undefined), superseded]);
    if (reason === undefined) break;
    io.out(`  ${reason}`);
    let next: { deployment: Deployment; standby: boolean } | undefined;
    for (
      let delay = 250;
      next === undefined && !roles.isStopping();
      delay = Math.min(REOPEN_MAX_MS, delay * 2)
    ) {
      next = await reopen(roles).catch((error: unknown) => {
        io.err(`custos: cannot reopen the log yet (${(error as Error).message}); retrying in ${delay} ms`);
        return undefined;
      });
      if (next === undefined) await pause(delay, stopped);
    }
    if (next === undefined) break;
    await swap(next.deployment, next.standby);
    io.out(
      next.standby
        ? "  standby: another node sequences this log; serving reads, ready to take over"
        : "  this node sequences the log again",
    );
  }
  await server.close();
  await deployment.close();
}

/** Why the guard refuses to sequence this store (its message), or undefined when it may. */
async function refusal(roles: NodeRoles, deployment: Deployment): Promise<string | undefined> {
  if (roles.guard === undefined) return undefined;
  try {
    await roles.guard(deployment);
    return undefined;
  } catch (error) {
    if (error instanceof CustosError && error.code === "CONFLICT") return error.message;
    throw error;
  }
}

/**
 * Opens the log as its sequencer if the lock is free and the store holds what the witnesses cosigned,
 * else (PostgreSQL) as a standby.
 */
async function reopen(roles: NodeRoles): Promise<{ deployment: Deployment; standby: boolean }> {
  let writable: Deployment;
  try {
    writable = await roles.open(false);
  } catch (error) {
    if (!(error instanceof CustosError && error.code === "STORE_BUSY" && roles.db !== undefined)) throw error;
    return { deployment: await roles.open(true), standby: true };
  }
  const refused = await refusal(roles, writable).catch(async (error: unknown) => {
    await writable.close();
    throw error;
  });
  if (refused === undefined) return { deployment: writable, standby: false };
  await writable.close();
  if (roles.db === undefined) throw new CustosError("CONFLICT", refused);
  roles.io.err(`custos: ${refused}`);
  return { deployment: await roles.open(true), standby: true };
}
