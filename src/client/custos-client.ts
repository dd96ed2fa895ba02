// The Custos client SDK for Node (used by the CLI): talks to a node over mutual TLS with an identity
// bundle, keeps what it trusted in a state file, and reads through TrailReader, which verifies
// everything the node returns and decrypts locally (the browser portal uses the same reader over
// fetch). Anything that does not verify is refused with a VerificationError naming the entry.

import { CustosError } from "../core/errors.js";
import type { Identity } from "../identity/bundle.js";
import { ClientState } from "./client-state.js";
import { MtlsClient } from "./mtls-client.js";
import { TrailReader, type WitnessPolicy } from "./trail-reader.js";

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

  /** Submits records (EHR sources): an array or object as JSON, or NDJSON / FHIR text. */
  async submit(
    records: unknown,
    contentType = "application/json",
  ): Promise<{ index: number; leafHash: string; duplicate: boolean }[]> {
    const reply = await this.http.call<{
      records: { index: number; leafHash: string; duplicate: boolean }[];
    }>("POST", "/v1/records", records, contentType);
    return reply.records;
  }
}

export { VerificationError } from "./trail-reader.js";
