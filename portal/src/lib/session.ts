// Sign-in and the signed-in session: reads the node's portal configuration, checks the bundle belongs
// to this deployment and has not expired, unlocks it, logs in with a signed challenge, and reads
// through the SDK's own TrailReader (src/client/trail-reader.ts), which verifies every reply. The
// X25519 key lives only in this closure (and the reader it feeds); the trust store (last checkpoint,
// newest record per trail) is kept in localStorage per identity and log, so a node that rolls back
// or hides records is caught across visits too.

import {
  checkPageFollows,
  checkTrailStart,
  MemoryTrustStore,
  type TrailQuery,
  TrailReader,
  type TrailResult,
  type TrustStoreJson,
  VerificationError,
} from "../../../src/client/trail-reader.js";
import { toHex, utf8 } from "../../../src/core/bytes.js";
import { sha256 } from "../../../src/core/platform.js";
import type { OpenedNotice } from "../../../src/records/notices.js";
import { alertRow, type WireAlert } from "./alerts.js";
import {
  checkBundleValidity,
  type PortalBundle,
  parseIdentityBundle,
  signMessage,
  unlockBundle,
} from "./bundle.js";
import { PortalError, VerificationFailureError } from "./errors.js";
import { checkKeyAuditPage, keyAuditPath } from "./key-audit.js";
import { createTokenProvider, logIn } from "./login.js";
import { checkPortalConfig } from "./portal-config.js";
import { createFetchTransport, type FetchLike, pageOrigin } from "./transport.js";
import type {
  AccessFilter,
  AccessRow,
  GrantedPatient,
  Loaded,
  NoticeRow,
  PortalConfig,
  Session,
  StaffDirectoryInfo,
  StaffEntry,
  VerificationProblem,
  VerificationStatus,
} from "./types.js";

export { checkPortalConfig };

/** Where the trust store is kept: localStorage in the page, anything alike in tests. */
export type TrustStorage = Pick<Storage, "getItem" | "setItem">;

export interface SignInOptions {
  /** The node's portal address (default: the page's origin). */
  readonly baseUrl?: string;
  readonly fetch?: FetchLike;
  /** Default: the page's localStorage; null keeps the trust store in memory only. */
  readonly storage?: TrustStorage | null;
  /** Entries asked for per page (the node allows up to 5,000). */
  readonly pageSize?: number;
}

export const DEFAULT_MAX_ROWS = 10_000;
/** The trail of the deployment's security events (src/atna/audit-message.ts SECURITY_EVENTS_PATIENT). */
export const SECURITY_EVENTS_ID = "custos.security-events";
const DEFAULT_PAGE_SIZE = 2_000;
const MAX_PAGE_SIZE = 5_000;
const STORAGE_PREFIX = "custos.trust.v1.";

/**
 * The storage key: derived from a signature only the identity's own key can make (Ed25519 signatures
 * are deterministic), so a shared computer's storage neither lists who signed in nor lets anyone
 * test whether a given patient did (a plain digest of the identity URI could be recomputed).
 */
async function storageKey(signingKey: CryptoKey, uri: string, origin: string): Promise<string> {
  const secret = await signMessage(signingKey, utf8(`custos-portal-storage-v1\n${uri}\n${origin}\n`));
  return STORAGE_PREFIX + toHex(sha256(secret)).slice(0, 32);
}

/**
 * The witness policy this browser saw for this identity is remembered; a node that later demands
 * less (fewer cosignatures, or drops a witness) is refused, so it cannot lower the bar to show an
 * unwitnessed (possibly forked) log. A stronger policy is accepted and remembered.
 */
function pinWitnessPolicy(
  storage: TrustStorage | null,
  key: string,
  served: PortalConfig["witnesses"],
): void {
  let pinned: { keys: string[]; quorum: number } | undefined;
  try {
    const text = storage?.getItem(key);
    if (text) pinned = JSON.parse(text) as { keys: string[]; quorum: number };
  } catch {
    pinned = undefined;
  }
  if (pinned && Array.isArray(pinned.keys) && typeof pinned.quorum === "number") {
    const dropped = pinned.keys.filter((k) => !served.keys.includes(k));
    if (served.quorum < pinned.quorum || dropped.length > 0) {
      throw new PortalError(
        "CONFIG",
        `This node now demands ${served.quorum} of ${served.keys.length} witness cosignatures, where it demanded ${pinned.quorum} of ${pinned.keys.length} when you last signed in here${dropped.length > 0 ? ` (and dropped ${dropped.length} witness${dropped.length === 1 ? "" : "es"})` : ""}: it could show you a log no witness vouched for. Not signing in; ask the deployment's operator.`,
      );
    }
  }
  try {
    storage?.setItem(key, JSON.stringify({ keys: served.keys, quorum: served.quorum }));
  } catch {
    // storage full or disabled: the check holds from the next visit that can store it
  }
}

function loadTrust(storage: TrustStorage | null, key: string): TrustStoreJson | undefined {
  const text = storage?.getItem(key);
  if (!text) return undefined;
  try {
    const json = JSON.parse(text) as TrustStoreJson;
    if (typeof json === "object" && json !== null && typeof json.newestSeq === "object") return json;
  } catch {
    // unreadable: the store starts over (only this page's own script writes it)
  }
  return undefined;
}

function defaultStorage(): TrustStorage | null {
  try {
    return (globalThis as { localStorage?: Storage }).localStorage ?? null;
  } catch {
    return null; // storage disabled by the browser's privacy settings
  }
}

/** A failed verification as the page shows it: the code, one sentence, the entry. */
export function problemOf(error: VerificationError): VerificationProblem {
  let index = error.index;
  let message = error.message;
  const named = /^entry (\d+): /.exec(message);
  if (named) {
    index ??= Number(named[1]);
    message = message.slice(named[0].length);
  }
  if (index === undefined) {
    const mentioned = /\bentry (\d+)\b/.exec(message);
    if (mentioned) index = Number(mentioned[1]);
  }
  message = message.replace(/\.$/, "");
  return {
    code: error.code,
    message:
      index !== undefined
        ? `Entry ${index} failed verification: ${message}.`
        : `The node's reply failed verification: ${message}.`,
    ...(index !== undefined ? { index } : {}),
  };
}

async function verified<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof VerificationError)
      throw new VerificationFailureError(problemOf(error), { cause: error });
    throw error;
  }
}

function timeOf(row: AccessRow): number {
  return Date.parse(row.record.time);
}

function newestFirst(a: AccessRow, b: AccessRow): number {
  return timeOf(b) - timeOf(a) || b.index - a.index;
}

/** The tag a patient's reply gave (a node refusing a patient named by ID gives none). */
const tagOf = (p: { tag?: string | undefined }): { tag?: string } => (p.tag ? { tag: p.tag } : {});

function noticeRow(notice: OpenedNotice): NoticeRow {
  const { body } = notice;
  return {
    index: notice.index,
    kind: notice.kind,
    time: body.time,
    requester: body.requester,
    role: body.role,
    operation: body.operation,
    ...(body.reason !== undefined ? { reason: body.reason } : {}),
    ...(body.returned !== undefined ? { returned: body.returned } : {}),
    ...(notice.patientTag !== undefined ? { patientTag: notice.patientTag } : {}),
  };
}

/**
 * Signs in with an identity bundle's text and passphrase. Throws PortalError: BAD_BUNDLE,
 * WRONG_DEPLOYMENT, CERT_EXPIRED, CERT_NOT_YET_VALID, BAD_PASSPHRASE, LOGIN_FAILED, UNAVAILABLE, CONFIG,
 * UNSUPPORTED_BROWSER or the code the node refused the login with (CERT_REVOKED, NOT_AUTHENTICATED,
 * RATE_LIMITED, ...), each with one sentence for the person signing in.
 */
export async function signIn(
  bundleText: string,
  passphrase: string,
  options: SignInOptions = {},
): Promise<Session> {
  const bundle: PortalBundle = parseIdentityBundle(bundleText);
  const baseUrl = (options.baseUrl ?? pageOrigin()).replace(/\/+$/, "");
  const open = createFetchTransport({ baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });

  let config: PortalConfig;
  try {
    config = checkPortalConfig(await open.call<unknown>("GET", "/portal/config.json"));
  } catch (error) {
    if (error instanceof PortalError) throw error;
    throw new PortalError("UNAVAILABLE", "This address does not answer as a Custos portal.", {
      cause: error,
    });
  }
  if (bundle.deployment !== config.deployment) {
    throw new PortalError(
      "WRONG_DEPLOYMENT",
      `This identity belongs to the deployment "${bundle.deployment}", but this portal serves "${config.deployment}".`,
    );
  }
  const log = bundle.log ?? config.log;
  if (log.origin !== config.log.origin || log.verifierKey !== config.log.verifierKey) {
    throw new PortalError(
      "CONFIG",
      "This node presents another log than the one this identity was issued for; nothing from it is trusted.",
    );
  }
  checkBundleValidity(bundle);
  const keys = await unlockBundle(bundle, passphrase);
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const key = await storageKey(keys.signingKey, bundle.uri, log.origin);
  try {
    pinWitnessPolicy(storage, `${key}.witnesses`, config.witnesses);
  } catch (error) {
    keys.encryptionPrivateKey.fill(0);
    throw error;
  }

  const loginOptions = {
    transport: open,
    server: config.node,
    // The node binds the challenge to the request's Origin: the page's own, else the address used.
    origin: (globalThis as { location?: unknown }).location ? pageOrigin() : new URL(baseUrl).origin,
    certificate: bundle.signingCertificate,
    signingKey: keys.signingKey,
  };
  let first: Awaited<ReturnType<typeof logIn>>;
  try {
    first = await logIn(loginOptions);
  } catch (error) {
    keys.encryptionPrivateKey.fill(0);
    throw error;
  }
  if (first.identity !== bundle.uri) {
    keys.encryptionPrivateKey.fill(0);
    throw new PortalError(
      "LOGIN_FAILED",
      "The node logged this page in as another identity than the bundle's.",
    );
  }
  const tokens = createTokenProvider(loginOptions, first);
  const transport = createFetchTransport({
    baseUrl,
    token: tokens,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  const state = new MemoryTrustStore(loadTrust(storage, key), (json) => {
    try {
      storage?.setItem(key, JSON.stringify(json));
    } catch {
      // storage full or disabled: the checks still hold for this visit
    }
  });
  let reader: TrailReader | undefined = new TrailReader({
    transport,
    log,
    witnesses: config.witnesses,
    encryptionPrivateKey: keys.encryptionPrivateKey,
    state,
  });
  const pageSize = Math.min(Math.max(1, Math.floor(options.pageSize ?? DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE);

  const live = (): TrailReader => {
    if (!reader) throw new PortalError("SIGNED_OUT", "You have signed out.");
    return reader;
  };
  const status = (checkpoint: TrailResult["checkpoint"]): VerificationStatus => ({
    size: checkpoint.size,
    note: checkpoint.note,
    cosigned: checkpoint.cosigned,
    quorum: config.witnesses.quorum,
    witnessCount: config.witnesses.keys.length,
    ...(checkpoint.behind ? { behind: checkpoint.behind } : {}),
  });
  const query = (filter: AccessFilter): TrailQuery => ({
    ...(filter.from !== undefined ? { from: filter.from } : {}),
    ...(filter.to !== undefined ? { to: filter.to } : {}),
    ...(filter.user !== undefined ? { user: filter.user } : {}),
    ...(filter.action !== undefined ? { action: filter.action } : {}),
    ...(filter.emergency !== undefined ? { emergency: filter.emergency } : {}),
  });

  /**
   * The hospital's staff directory (the newest sealed to this reader), loaded once per session with
   * the first accesses: undefined until then, null when none reaches this reader. A directory that
   * fails verification fails the load like any reply; a node that cannot serve one (an older node, a
   * network failure) leaves the names to the records themselves, and the next load asks again.
   */
  let staff: { info: StaffDirectoryInfo; byId: Map<string, StaffEntry> } | null | undefined;
  async function loadStaff(): Promise<void> {
    if (staff !== undefined) return;
    let reply: Awaited<ReturnType<TrailReader["staffDirectory"]>>;
    try {
      reply = await live().staffDirectory();
    } catch (error) {
      if (error instanceof VerificationError) throw error;
      return;
    }
    const directory = reply.directory;
    if (!directory) {
      staff = null;
      return;
    }
    const byId = new Map<string, StaffEntry>();
    for (const person of directory.people) {
      byId.set(person.id, {
        name: person.name,
        ...(person.role !== undefined ? { role: person.role } : {}),
        ...(person.department !== undefined ? { department: person.department } : {}),
      });
    }
    staff = {
      info: {
        index: directory.index,
        time: new Date(directory.time).toISOString(),
        people: directory.people.length,
      },
      byId,
    };
  }
  const staffOf = (userId: string): { staff?: StaffEntry } => {
    const entry = staff?.byId.get(userId);
    return entry ? { staff: entry } : {};
  };

  /** Follows `next` pages of one trail until it ends or `rows` holds `max`. */
  async function follow(
    first: TrailResult,
    q: TrailQuery,
    patientId: string | null,
    rows: AccessRow[],
    max: number,
    fetchPage: (query: TrailQuery) => Promise<TrailResult> = (query) => live().trail(query),
  ): Promise<{ notReadable: number; last: TrailResult }> {
    let page = first;
    let notReadable = 0;
    for (;;) {
      for (const opened of page.records) {
        if (rows.length >= max) break;
        // The patient a record is about is read from the record itself (sealed, authenticated), and
        // must be the one asked for: a node cannot pass one patient's entries off as another's.
        if (patientId !== null && opened.record.patientId !== patientId) {
          throw new VerificationError(
            "TAMPERED_ENTRY",
            `entry ${opened.index} is another patient's record, shown in ${patientId}'s trail`,
            opened.index,
          );
        }
        rows.push({
          index: opened.index,
          patientId: opened.record.patientId,
          record: opened.record,
          ...staffOf(opened.record.userId),
        });
      }
      notReadable += page.notReadable.length;
      if (rows.length >= max) return { notReadable, last: page };
      if (page.next === null) {
        checkTrailStart(page, q);
        return { notReadable, last: page };
      }
      const previous = page;
      page = await fetchPage({ ...q, limit: pageSize, before: page.next });
      checkPageFollows(previous, page);
    }
  }

  const session: Session = {
    identity: { uri: bundle.uri, role: bundle.role, id: bundle.id, deployment: bundle.deployment },
    config,

    myAccesses: (filter = {}, max = DEFAULT_MAX_ROWS) =>
      verified(async () => {
        const q = query(filter);
        const rows: AccessRow[] = [];
        await loadStaff();
        const first = await live().trail({ ...q, limit: pageSize });
        const { notReadable, last } = await follow(first, q, null, rows, max);
        rows.sort(newestFirst);
        return { rows, status: status(last.checkpoint), notReadable };
      }),

    patientAccesses: (filter = {}, max = DEFAULT_MAX_ROWS) =>
      verified(async () => {
        const q = query(filter);
        await loadStaff();
        const reply = await live().auditTrails({
          ...q,
          limit: pageSize,
          ...(filter.patientIds ? { patientIds: filter.patientIds } : {}),
        });
        const rows: AccessRow[] = [];
        const patients: GrantedPatient[] = [];
        let notReadable = 0;
        let checkpoint = reply.checkpoint;
        const problems: VerificationProblem[] = [];
        for (const p of reply.patients) {
          if (p.verification) {
            const problem = problemOf(p.verification);
            problems.push(problem);
            patients.push({ patientId: p.patientId, ...tagOf(p), error: problem.message });
            continue;
          }
          if (!p.result) {
            const error = p.error?.message ?? "no reply for this patient";
            patients.push({ patientId: p.patientId, ...tagOf(p), error });
            continue;
          }
          // The node names the patient only when asked by ID; the records themselves always do.
          const patientId = p.patientId ?? p.result.records[0]?.record.patientId ?? null;
          patients.push({ patientId, ...tagOf(p) });
          // Later pages of one patient are asked for by ID; without one, the first page is all there is.
          const result: TrailResult = {
            ...p.result,
            next: patientId === null ? null : p.result.next,
            checkpoint,
          };
          const mark = rows.length;
          try {
            const followed = await follow(
              result,
              { ...q, ...(patientId ? { patientId } : {}) },
              patientId,
              rows,
              max,
            );
            notReadable += followed.notReadable;
            checkpoint = followed.last.checkpoint;
          } catch (error) {
            if (!(error instanceof VerificationError)) throw error;
            // A later page of this patient failed: drop what was shown of them, keep the others.
            rows.length = mark;
            const problem = problemOf(error);
            problems.push(problem);
            patients[patients.length - 1] = { patientId, ...tagOf(p), error: problem.message };
          }
        }
        rows.sort(newestFirst);
        return {
          rows,
          status: status(checkpoint),
          notReadable,
          patients,
          ...(problems.length > 0 ? { problems } : {}),
        };
      }),

    queryHistory: () =>
      verified(async (): Promise<Loaded<NoticeRow>> => {
        const r = live();
        const reply =
          bundle.role === "auditor" ? await r.auditNotices() : await r.queryHistoryWithCheckpoint();
        const rows = reply.notices
          .map(noticeRow)
          .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || b.index - a.index);
        return { rows, status: status(reply.checkpoint), notReadable: 0 };
      }),

    securityEvents: (filter = {}, max = DEFAULT_MAX_ROWS) =>
      verified(async () => {
        const q = { ...query(filter), patientId: SECURITY_EVENTS_ID };
        const rows: AccessRow[] = [];
        await loadStaff();
        const fetchPage = (page: TrailQuery) =>
          live().securityEvents({ ...page, patientId: SECURITY_EVENTS_ID });
        const first = await fetchPage({ ...q, limit: pageSize });
        const { notReadable, last } = await follow(first, q, SECURITY_EVENTS_ID, rows, max, fetchPage);
        rows.sort(newestFirst);
        return { rows, status: status(last.checkpoint), notReadable };
      }),

    officeRefusals: () =>
      verified(async (): Promise<Loaded<NoticeRow>> => {
        const reply = await live().officeRefusals();
        const rows = reply.notices
          .map(noticeRow)
          .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || b.index - a.index);
        return { rows, status: status(reply.checkpoint), notReadable: 0 };
      }),

    staffDirectory: () => staff?.info,

    async alerts(all = false) {
      live();
      const reply = await transport.call<{ alerts?: unknown }>(
        "GET",
        all ? "/v1/alerts?all=true" : "/v1/alerts",
      );
      if (!Array.isArray(reply?.alerts))
        throw new PortalError("CONFIG", "The node's alert list is malformed.");
      return (reply.alerts as WireAlert[]).map((alert) => alertRow(alert, config.log));
    },

    async keyAudit(query = {}) {
      live();
      return checkKeyAuditPage(await transport.call<unknown>("GET", keyAuditPath(query)));
    },

    async acknowledgeAlert(id: number, note: string) {
      live();
      if (!Number.isSafeInteger(id) || id < 1)
        throw new PortalError("BAD_ARGUMENT", "An alert ID is a positive number.");
      await transport.call("POST", `/v1/alerts/${id}/ack`, { note });
    },

    signOut() {
      tokens.forget();
      reader = undefined;
      // Drop the reader and wipe the session's copy of the key. The reader's own copies (the HPKE
      // receiver's key, the unwrapped epoch keys it cached) are dropped with it, for the garbage
      // collector: JavaScript offers no way to wipe them for certain.
      keys.encryptionPrivateKey.fill(0);
    },
  };
  return session;
}
