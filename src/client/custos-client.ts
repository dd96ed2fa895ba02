// The Custos client SDK for Node (used by the CLI): talks to a node over mutual TLS with an identity
// bundle, keeps what it trusted in a state file, and reads through TrailReader, which verifies
// everything the node returns and decrypts locally (the browser portal uses the same reader over
// fetch). Anything that does not verify is refused with a VerificationError naming the entry.

import { CustosError } from "../core/index.js";
import type { Identity } from "../identity/index.js";
import { ClientState } from "./client-state.js";
import { MtlsClient } from "./mtls-client.js";
import { TrailReader, type Transport, type WitnessPolicy } from "./trail-reader.js";

export type { AuditTrailsResult, CheckpointSummary, TrailQuery, TrailResult } from "./trail-reader.js";

export interface ClientOptions {
  /** The node's API address, e.g. https://127.0.0.1:8443 */
  readonly url: string;
  readonly identity: Identity;
  /** Where to keep the last trusted checkpoint (default: in memory only). */
  readonly statePath?: string;
  /** The log's verifier key and origin (default: from the identity bundle). */
  readonly log?: { readonly origin: string; readonly verifierKey: string };
  /**
   * Witnesses whose cosignatures a checkpoint must carry before it is trusted: their cosigner
   * verifier keys and how many of them must have cosigned (e.g. 2 of 3).
   */
  readonly witnesses?: WitnessPolicy;
  /**
   * Gossip peers (mirrors, other nodes: https://host:port): after each verified reply the trusted
   * checkpoint is sent to each (POST /v1/gossip), best effort, so a split view shown to this client
   * is caught by them. Await `gossipSettled()` before exiting to let the last sends finish.
   */
  readonly gossip?: readonly string[];
  /**
   * Other nodes of the same log (https://host:port) that writes go to when this one answers
   * STORE_BUSY (a standby, a store failing) or cannot be reached (UNAVAILABLE). The same records are
   * sent again, so their source event IDs make every retry return the original index, never a copy.
   */
  readonly failover?: readonly string[];
  /** Rounds over all the nodes before a write gives up (default 3); between rounds, the Retry-After. */
  readonly writeRounds?: number;
}

/** Failures after which the same write may go to another node (nothing was refused for good). */
function retryable(error: unknown): error is CustosError {
  return error instanceof CustosError && (error.code === "STORE_BUSY" || error.code === "UNAVAILABLE");
}

function logOf(options: ClientOptions): { origin: string; verifierKey: string } {
  const log = options.log ?? options.identity.bundle.log;
  if (!log) {
    throw new CustosError(
      "CONFIG",
      "the log's verifier key is unknown: the bundle has none; pass the log's origin and verifier key",
    );
  }
  return { origin: log.origin, verifierKey: log.verifierKey };
}

export class CustosClient extends TrailReader {
  readonly identity: Identity;

  readonly #gossipPeers: readonly MtlsClient[];
  readonly #writers: readonly Transport[];
  readonly #writeRounds: number;
  /** The node the last write went through: the next write tries it first. */
  #writer = 0;
  readonly #gossiping = new Set<Promise<void>>();
  #gossiped: string | undefined;

  constructor(options: ClientOptions) {
    const log = logOf(options);
    const peers = (options.gossip ?? []).map((url) => new MtlsClient(url, options.identity));
    super({
      transport: new MtlsClient(options.url, options.identity),
      log,
      ...(options.witnesses ? { witnesses: options.witnesses } : {}),
      encryptionPrivateKey: options.identity.encryptionPrivateKey(),
      state: ClientState.load(options.statePath, log.origin),
      ...(peers.length > 0 ? { onTrusted: (note: string) => this.#gossip(note) } : {}),
    });
    this.identity = options.identity;
    this.#gossipPeers = peers;
    this.#writers = [
      this.http,
      ...(options.failover ?? []).map((url) => new MtlsClient(url, options.identity)),
    ];
    this.#writeRounds = Math.max(1, options.writeRounds ?? 3);
  }

  #gossip(note: string): void {
    if (note === this.#gossiped) return;
    this.#gossiped = note;
    for (const peer of this.#gossipPeers) {
      const sent: Promise<void> = peer
        .call("POST", "/v1/gossip", { checkpoints: [note] })
        .then(
          () => undefined,
          () => undefined, // best effort: a peer that is down or refuses changes nothing here
        )
        .finally(() => this.#gossiping.delete(sent));
      this.#gossiping.add(sent);
    }
  }

  /** Waits (at most `timeoutMs`) for the checkpoints sent to gossip peers to be delivered or fail. */
  async gossipSettled(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#gossiping]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Submits records (EHR sources): an array or object as JSON, or NDJSON / FHIR text. On STORE_BUSY or
   * UNAVAILABLE the same body goes to the next node (`failover`), round after round, pausing between
   * rounds for the longest Retry-After seen; other errors are thrown at once.
   */
  async submit(
    records: unknown,
    contentType = "application/json",
  ): Promise<{ index: number; leafHash: string; duplicate: boolean }[]> {
    let last: CustosError | undefined;
    for (let round = 0; round < this.#writeRounds; round++) {
      let pauseSeconds = 1;
      for (let tried = 0; tried < this.#writers.length; tried++) {
        const at = (this.#writer + tried) % this.#writers.length;
        try {
          const reply = await this.#writers[at]!.call<{
            records: { index: number; leafHash: string; duplicate: boolean }[];
          }>("POST", "/v1/records", records, contentType);
          this.#writer = at;
          if (!Array.isArray(reply?.records))
            throw new CustosError("INTERNAL", "the node's reply to a submission holds no records");
          return reply.records;
        } catch (error) {
          if (!retryable(error)) throw error;
          last = error;
          pauseSeconds = Math.max(pauseSeconds, Math.min(30, error.retryAfterSeconds ?? 1));
        }
      }
      if (round + 1 < this.#writeRounds)
        await new Promise((resolve) => setTimeout(resolve, pauseSeconds * 1000));
    }
    throw last!;
  }
}

export { VerificationError } from "./trail-reader.js";
