// The mirror as a component: an audit company's verified copy of a hospital's log in a data directory,
// followed pass by pass over the node's read API (follower.ts), its trail chains checked as entries
// arrive, the witnesses' views gossiped against it and, when asked, served (mirror-server.ts).
// `custos mirror` parses its options and drives one; so can a program. Nothing is stored that did not
// verify, and a node that showed something that does not verify is no longer followed.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { MtlsClient } from "../client/index.js";
import { ENTRY_FORMAT_VERSION } from "../core/entry/index.js";
import { CustosError } from "../core/index.js";
import type { Identity } from "../identity/index.js";
import { Registry, TrustAnchor } from "../identity/index.js";
import { checkTrailRange, SQLITE_FILE_NAME, SqliteStore } from "../ledger/index.js";
import type { Listen } from "../service/index.js";
import { type Alert, AlertLog, GossipChecker, Gossiping, storeReference } from "../witness/index.js";
import { type FollowResult, followOnce } from "./follower.js";
import { type RunningMirrorServer, startMirrorServer } from "./mirror-server.js";
import { ReadLog } from "./read-log.js";

export interface MirrorOptions {
  /** The data directory: the copy (SQLite), the read log (when serving) and the alerts. */
  readonly dir: string;
  /** The node's API address (https://host:port). */
  readonly from: string;
  /** The mirror's own identity (role node); its bundle names the log to copy. */
  readonly identity: Identity;
  /** Witnesses whose cosignatures each copied checkpoint must carry, and how many of them. */
  readonly witnesses?: { readonly keys: readonly string[]; readonly quorum: number };
  /** The pause between passes, in milliseconds. */
  readonly everyMs: number;
  /** Copy what there is in one pass, then return; what that pass finds is thrown. */
  readonly once?: boolean;
  /** Also serve the read API and trail queries from the copy (mutual TLS). */
  readonly serve?: MirrorServing;
  /** Witnesses (https://host:port) whose latest checkpoints and fork evidence are checked against the copy. */
  readonly gossip?: readonly string[];
  /** Lines for people (no keys, no IDs): progress on `out`, warnings and alerts on `err`. */
  readonly output: { out(line: string): void; err(line: string): void };
}

export interface MirrorServing {
  readonly listen: Listen;
  /** The deployment's CRL (revocations in the log apply regardless). */
  readonly crlPem?: string;
  readonly allowTls12?: boolean;
  /** Structured request logs on stdout (no keys, no IDs). */
  readonly log?: boolean;
}

/** Failures that mean the node showed something that does not verify: following stops there. */
const VERIFICATION_FAILURES: ReadonlySet<string> = new Set([
  "BAD_CHECKPOINT",
  "BAD_PROOF",
  "TAMPERED_ENTRY",
  "BAD_ENCODING",
]);

/** Entries at the end of each copy whose trail links are checked on the next pass. */
const TRAIL_HOLD = 1024;

export class Mirror {
  readonly #options: MirrorOptions;
  readonly #log: { readonly origin: string; readonly verifierKey: string };
  readonly #store: SqliteStore;
  readonly #gossip: Gossiping;
  readonly #registry: Registry | undefined;
  readonly #readLog: ReadLog | undefined;
  readonly #server: RunningMirrorServer | undefined;
  #following = "ok";
  // Trail hash chains of the copied entries, checked as they arrive (the last TRAIL_HOLD entries wait
  // for the next pass: a record may land just before the one it links to).
  #trailsChecked: number | undefined;
  #trailAlert: string | undefined;
  #stopping = false;
  #wake: () => void = () => undefined;

  private constructor(
    options: MirrorOptions,
    log: { readonly origin: string; readonly verifierKey: string },
    parts: {
      store: SqliteStore;
      gossip: Gossiping;
      registry?: Registry;
      readLog?: ReadLog;
      server?: RunningMirrorServer;
    },
  ) {
    this.#options = options;
    this.#log = log;
    this.#store = parts.store;
    this.#gossip = parts.gossip;
    this.#registry = parts.registry;
    this.#readLog = parts.readLog;
    this.#server = parts.server;
  }

  /** Opens (or creates) the copy in `dir` and, with `serve`, starts serving it. */
  static async open(options: MirrorOptions): Promise<Mirror> {
    const { dir, identity } = options;
    if (identity.role !== "node")
      throw new CustosError("CONFIG", "a mirror uses a node identity (role node)");
    const log = identity.bundle.log;
    if (!log) throw new CustosError("CONFIG", "the bundle does not name the log to mirror (no verifier key)");
    const store = existsSync(join(dir, SQLITE_FILE_NAME))
      ? SqliteStore.open(dir)
      : SqliteStore.open(dir, { create: true });
    let readLog: ReadLog | undefined;
    try {
      const meta = await store.getMeta();
      if (!meta) {
        await store.initialize({
          origin: log.origin,
          verifierKey: log.verifierKey,
          createdAt: Date.now(),
          formatVersion: ENTRY_FORMAT_VERSION,
        });
      } else if (meta.verifierKey !== log.verifierKey) {
        throw new CustosError("CONFIG", `${dir} mirrors another log (${meta.origin})`);
      }
      // Gossip: what the witnesses hold (latest checkpoints, refused forks) and what clients hand over
      // is checked against this verified copy; a proven split view is an alert kept in
      // DIR/alerts.jsonl and printed with both notes.
      const tls = identity.tlsOptions();
      const gossip = new Gossiping({
        checker: new GossipChecker(log, storeReference(store)),
        alerts: new AlertLog(dir),
        witnesses: (options.gossip ?? []).map((url) => ({ url })),
        tls: {
          key: tls.key.export({ type: "pkcs8", format: "pem" }).toString(),
          cert: tls.cert,
          ca: tls.ca,
        },
      });
      const serve = options.serve;
      if (!serve) return new Mirror(options, log, { store, gossip });
      const anchor = await TrustAnchor.load(identity.bundle.caCertificate, serve.crlPem);
      const registry = await Registry.load(store, anchor.caPublicKey);
      readLog = ReadLog.open(dir);
      // The server reads its readiness from the mirror it is handed once both exist.
      let mirror: Mirror | undefined;
      const server = await startMirrorServer({
        store,
        identity,
        anchor,
        registry,
        readLog,
        listen: serve.listen,
        following: () => mirror?.following ?? "ok",
        gossip,
        ...(serve.allowTls12 ? { allowTls12: true } : {}),
        ...(serve.log ? { log: true } : {}),
      });
      mirror = new Mirror(options, log, { store, gossip, registry, readLog, server });
      return mirror;
    } catch (error) {
      readLog?.close();
      await store.close();
      throw error;
    }
  }

  /** Where the copy is served (with the port the system chose for port 0), if it is. */
  get listen(): Listen | undefined {
    return this.#server?.listen;
  }

  /** Readiness: "ok" while following, else a short reason (no URLs or IDs). */
  get following(): string {
    return this.#trailAlert ?? this.#following;
  }

  /** Ends following after the current pass; run() then closes the copy and the server. */
  stop(): void {
    this.#stopping = true;
    this.#wake();
  }

  /**
   * Follows the node until stop() (one pass with `once`), then closes the server, the read log and the
   * copy. A node that is down or restarting is waited for: a mirror outlives the node's restarts.
   */
  async run(): Promise<void> {
    const options = this.#options;
    const output = options.output;
    try {
      const source = new MtlsClient(options.from, options.identity);
      while (!this.#stopping) {
        let result: FollowResult;
        try {
          result = await followOnce({
            source,
            store: this.#store,
            origin: this.#log.origin,
            verifierKey: this.#log.verifierKey,
            ...(options.witnesses ? { witnesses: options.witnesses } : {}),
          });
        } catch (error) {
          const code = (error as CustosError).code;
          const failedToVerify = code !== undefined && VERIFICATION_FAILURES.has(code);
          // A single pass reports whatever happened; so does a node that showed something that does
          // not verify, unless there is a verified copy to keep serving.
          if (options.once || (failedToVerify && !this.#server)) throw error;
          if (failedToVerify) {
            this.#following = `stopped following: ${code}`;
            output.err(
              `error: ${(error as Error).message}; no longer following, still serving the copy verified before`,
            );
            while (!this.#stopping) await this.#sleep(60_000);
            break;
          }
          if (this.#following === "ok")
            output.err(
              `warning: the node is unreachable (${code ?? "network"}: ${(error as Error).message}); ${this.#server ? "serving the copy, " : ""}retrying every ${options.everyMs / 1000} s`,
            );
          this.#following = "the node is unreachable";
          if (options.gossip) this.#report((await this.#gossip.round()).raised);
          await this.#sleep(options.everyMs);
          continue;
        }
        await this.#checkTrails(result);
        if (options.gossip) this.#report((await this.#gossip.round()).raised);
        if (this.#following !== "ok") output.out("following the node again");
        this.#following = "ok";
        await this.#registry?.refresh(this.#store);
        const witnessed = result.cosigners.length > 0 ? `, cosigned by ${result.cosigners.join(", ")}` : "";
        if (result.to > result.from || options.once) {
          output.out(
            `copied entries ${result.from} to ${result.to} of ${result.target}, verified against the signed checkpoint${witnessed}`,
          );
        }
        if (options.once || this.#stopping) break;
        await this.#sleep(options.everyMs);
      }
    } finally {
      await this.#server?.close();
      this.#readLog?.close();
      await this.#store.close();
    }
  }

  async #checkTrails(result: FollowResult): Promise<void> {
    const once = this.#options.once === true;
    this.#trailsChecked ??= result.from;
    const checkTo = once ? result.to : Math.max(this.#trailsChecked, result.to - TRAIL_HOLD);
    if (checkTo <= this.#trailsChecked) return;
    const broken = await checkTrailRange(this.#store, this.#trailsChecked, checkTo);
    this.#trailsChecked = checkTo;
    for (const finding of broken) this.#options.output.err(`ALERT ${finding.code}: ${finding.message}`);
    const first = broken[0];
    if (first) {
      this.#trailAlert = `${first.code} at entry ${first.firstIndex}: run custos verify on this copy`;
      if (once) throw new CustosError("TAMPERED_ENTRY", first.message);
    }
  }

  #report(raised: readonly Alert[]): void {
    const { output } = this.#options;
    for (const alert of raised) {
      output.err(`ALERT ${alert.id}: split view shown by ${alert.witness}: ${alert.reason}`);
      output.err(`  the verified copy's checkpoint:\n${indent(alert.checkpoint)}`);
      output.err(`  the conflicting checkpoint:\n${indent(alert.witnessCheckpoint ?? "(none)")}`);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function indent(note: string): string {
  return note
    .trimEnd()
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
