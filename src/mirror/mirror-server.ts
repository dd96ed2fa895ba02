// A serving mirror (`custos mirror --serve`): the node's read API, tiles, mirror endpoints and trail
// queries answered from the mirror's verified copy, over mutual TLS. It never writes the log: reads and
// refusals go to the mirror's own read log, sealed like the node's notices.

import { CustosError } from "../core/index.js";
import type { Identity, TrustAnchor } from "../identity/index.js";
import {
  authorize,
  type Caller,
  patientSubject,
  type Registry,
  RegistryDirectory,
} from "../identity/index.js";
import type { LedgerStore } from "../ledger/index.js";
import { Ledger } from "../ledger/index.js";
import type { Recipient } from "../records/index.js";
import { type NoticeBody, sealNotice } from "../records/index.js";
import type { ReadContext } from "../service/index.js";
import {
  certificateCallers,
  createHttpApp,
  entryVisibleTo,
  type Listen,
  listenAt,
  mutualTls,
  RefusalBudget,
  registerGossipRoutes,
  registerHealth,
  registerLogRoutes,
  registerMirrorRoutes,
  registerRateLimit,
  registerTileRoutes,
  registerTrailRoutes,
} from "../service/index.js";
import type { Gossiping } from "../witness/index.js";
import { copyCheckpoint } from "./copy-checkpoint.js";
import type { ReadLog } from "./read-log.js";
import { mirrorTrailHooks } from "./trail-hooks.js";

export interface MirrorServeOptions {
  /** The mirror's store: the follower writes verified batches, this server only reads. */
  readonly store: LedgerStore;
  /** The mirror's own identity (role node): its TLS certificate. */
  readonly identity: Identity;
  /** The deployment CA (from the bundle) and, if given, its CRL. */
  readonly anchor: TrustAnchor;
  /** The registry folded from the copy; the caller refreshes it after each follow pass. */
  readonly registry: Registry;
  readonly readLog: ReadLog;
  readonly listen: Listen;
  readonly allowTls12?: boolean;
  readonly log?: boolean;
  readonly ratePerSecond?: number;
  readonly now?: () => number;
  /** Readiness: "ok" while following, else a short reason (no URLs or IDs). */
  readonly following?: () => string;
  /** Split-view checks of checkpoints clients hand over (POST /v1/gossip) against this copy. */
  readonly gossip?: Gossiping;
}

export interface RunningMirrorServer {
  readonly listen: Listen;
  close(): Promise<void>;
}

const BODY_LIMIT = 1024 * 1024;
const OPEN_ROUTES = new Set<string>(["/v1/health", "/v1/ready"]);
const ZERO_TAG = new Uint8Array(32);

export async function startMirrorServer(options: MirrorServeOptions): Promise<RunningMirrorServer> {
  const { identity, anchor, registry, readLog, store } = options;
  if (identity.role !== "node")
    throw new CustosError("CONFIG", "a serving mirror needs a node identity (role node)");
  const now = options.now ?? Date.now;
  const ledger = await Ledger.open(store);
  // The mirror's own trail map, rebuilt from its verified copy, proves each trail reply's head.
  const latest = await store.getLatestCheckpoint();
  if (latest) ledger.warmTrailMap(latest.size);
  const directory = new RegistryDirectory(registry, anchor.deployment, () => {
    throw new CustosError("NO_BLIND_INDEX", "a mirror holds no blind-index key");
  });

  const refusalBudget = new RefusalBudget(now);

  /** A refusal, sealed like the node's refusal notices, into the mirror's read log. */
  function recordRefusal(caller: Caller, operation: string, reason: string, tag?: Uint8Array): void {
    const at = now();
    const body: NoticeBody = {
      time: new Date(at).toISOString(),
      requester: caller.uri,
      role: caller.role,
      operation,
      reason,
    };
    const readers: Recipient[] = [...directory.custodians(at)];
    if (tag) {
      const subject = patientSubject(tag);
      readers.unshift(...directory.auditors(subject, at));
      const enrolled = registry.active("patient", subject, at);
      if (enrolled)
        readers.unshift({ id: "patient", role: "patient", encryptionKey: enrolled.encryptionKey });
    } else {
      for (const admin of registry.withRole("admin").filter((i) => i.revokedAt === undefined)) {
        readers.push({ id: admin.subject, role: "custodian", encryptionKey: admin.encryptionKey });
      }
    }
    if (readers.length === 0) return;
    const notice = sealNotice({ kind: "refusal", time: at, patientTag: tag ?? ZERO_TAG }, body, readers);
    readLog.record("refusal", at, tag ?? ZERO_TAG, notice);
  }

  const ctx: ReadContext = {
    ledger,
    now,
    checkpoint: (quorum) => copyCheckpoint(store, now(), quorum),
    async allow(caller, operation, target, patient) {
      const decision = authorize(registry, caller, operation, target, now());
      if (decision.allowed) return;
      // The node's refusal budget (service/refusal-budget.ts): past it, one summary per interval,
      // sealed to the custodians and admins, instead of a notice per refusal.
      const recording = refusalBudget.take(caller.uri);
      try {
        if (recording.kind === "notice")
          recordRefusal(
            caller,
            operation,
            decision.code,
            typeof patient === "object" ? patient.tag : undefined,
          );
        else if (recording.kind === "summary")
          recordRefusal(
            caller,
            operation,
            `${decision.code}; over its refusal budget, ${recording.unrecorded} refusals of this identity since the last summary were not recorded one by one`,
          );
      } catch {
        // a refusal that cannot be written is still a refusal
      }
      throw new CustosError(decision.code, decision.reason);
    },
    callerOf(request) {
      if (!request.caller) throw new CustosError("NOT_AUTHENTICATED", "the request is not authenticated");
      return request.caller;
    },
    mayReadEntry: (caller, entry) => entryVisibleTo(registry, caller, entry, now()),
  };

  // No blind-index key here: a patient's subject (tag) is the one enrolled with the certificate's key;
  // an unresolved patient is looked up again on the next request (the enrollment may not be copied yet).
  const callerFromCertificate = certificateCallers(
    anchor,
    (principal) =>
      principal.role === "patient" ? registry.subjectOfKey("patient", principal.publicKey) : principal.id,
    now,
  );

  const app = createHttpApp({
    tls: mutualTls({
      key: identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString(),
      cert: identity.bundle.signingCertificate,
      caPem: anchor.caPem,
      crlPem: anchor.crlPem,
      allowTls12: options.allowTls12,
    }),
    bodyLimit: BODY_LIMIT,
    log: options.log === true,
    notFoundMessage:
      "no such endpoint on a mirror: it serves the read API and trail queries; send records, grants and enrollments to the node",
  });
  app.addHook("preHandler", async (request) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? "")) return;
    request.caller = await callerFromCertificate(request);
  });
  registerRateLimit(app, {
    keyOf: (request) => request.caller?.uri,
    now,
    ...(options.ratePerSecond
      ? { ratePerSecond: options.ratePerSecond, burst: 2 * options.ratePerSecond }
      : {}),
    login: false,
  });
  registerHealth(app, {
    checks: async () => ({
      store: (await store.getSize()) >= 0 ? "ok" : "unreadable",
      checkpoint: (await store.getLatestCheckpoint()) ? "ok" : "no verified checkpoint yet",
      following: options.following?.() ?? "ok",
    }),
  });
  registerLogRoutes(app, ctx);
  registerTileRoutes(app, ctx);
  registerMirrorRoutes(app, ctx);
  registerTrailRoutes(app, ctx, mirrorTrailHooks(registry, directory, readLog));
  if (options.gossip) registerGossipRoutes(app, { gossip: options.gossip, callerOf: (r) => ctx.callerOf(r) });

  const listen = await listenAt(app, options.listen);
  return {
    listen,
    close: async () => {
      await app.close();
    },
  };
}
