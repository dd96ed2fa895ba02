// A reference copy of the log to compare a node's store with: a mirror's data directory here, or a
// mirror or node serving the log over mutual TLS (src/mirror/remote-reference.ts). A reference is not
// trusted for what it says: the comparison rebuilds its tree from the entries it streams and accepts
// the result only if that equals the root of its checkpoint, signed by the log's key (and cosigned).

import { bytesEqual, CustosError, sha256 } from "../../core/index.js";
import type { LedgerStore } from "../storage.js";

export interface ReferenceLog {
  /** How reports name it: "the mirror ./acme-mirror", "https://mirror.acme.example:9443". */
  readonly name: string;
  /** The log key the reference's own store records (a directory), to refuse another log's copy. */
  readonly recordedVerifierKey?: string;
  /** The latest checkpoint note the reference holds, with its cosignatures, unverified. */
  latestNote(): Promise<string>;
  /** Entries [start, end) in index order, in batches; fewer than asked means the reference lacks them. */
  entries(start: number, end: number): AsyncIterable<readonly Uint8Array[]>;
  /** For each hash: whether the reference holds content that matches it. */
  holdsContent(hashes: readonly Uint8Array[]): Promise<boolean[]>;
}

/** A mirror's data directory (any Custos store), read in batches. */
export class StoreReference implements ReferenceLog {
  readonly name: string;
  readonly recordedVerifierKey: string | undefined;
  readonly #store: LedgerStore;
  readonly #chunkSize: number;

  private constructor(name: string, store: LedgerStore, verifierKey: string | undefined, chunkSize: number) {
    this.name = name;
    this.#store = store;
    this.recordedVerifierKey = verifierKey;
    this.#chunkSize = chunkSize;
  }

  static async of(name: string, store: LedgerStore, chunkSize = 4096): Promise<StoreReference> {
    const meta = await store.getMeta();
    if (meta === undefined) throw new CustosError("STORE_NOT_FOUND", `${name} holds no initialized log`);
    return new StoreReference(name, store, meta.verifierKey, chunkSize);
  }

  async latestNote(): Promise<string> {
    const latest = await this.#store.getLatestCheckpoint();
    if (latest === undefined) throw new CustosError("STORE_NOT_FOUND", `${this.name} holds no checkpoint`);
    return latest.note;
  }

  async *entries(start: number, end: number): AsyncIterable<readonly Uint8Array[]> {
    let expected = start;
    for await (const chunk of this.#store.scanEntries(start, end, this.#chunkSize)) {
      const batch: Uint8Array[] = [];
      for (const entry of chunk) {
        // A gap in the reference's own rows ends what it can vouch for; the caller sees it as short.
        if (entry.index !== expected) {
          if (batch.length > 0) yield batch;
          return;
        }
        batch.push(entry.data);
        expected++;
      }
      yield batch;
    }
  }

  async holdsContent(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    const held: boolean[] = [];
    for (const hash of hashes) {
      const data = await this.#store.getContent(hash);
      held.push(data !== undefined && bytesEqual(sha256(data), hash));
    }
    return held;
  }
}
