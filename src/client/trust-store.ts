// What a verifying reader remembers between replies: the last checkpoint it trusted and the newest
// record number seen per trail. The SDK keeps it in a file (client-state.ts), the portal in
// localStorage through MemoryTrustStore. Browser-safe.

import type { TrustedCheckpoint } from "./verify-reply.js";

/** What a reader remembers: the last trusted checkpoint and the newest record number per trail. */
export interface TrustStore {
  readonly trusted: TrustedCheckpoint | undefined;
  newestSeq(patientTag: string): number | undefined;
  /** The tag (hex) of the reader's own trail (a patient's), once one was read. */
  readonly ownTag?: string | undefined;
  /** Records what was verified; called only after every check of a reply passed. */
  commit(trusted: TrustedCheckpoint, seqs?: readonly { tag: string; seq: number }[], ownTag?: string): void;
}

export interface TrustStoreJson {
  trusted?: TrustedCheckpoint;
  /** patient tag (hex) -> newest record number seen */
  newestSeq: Record<string, number>;
  /** The reader's own trail's tag (a patient's), once known. */
  ownTag?: string;
}

/** A trust store in memory; `toJSON()` gives what to persist (the portal keeps it in localStorage). */
export class MemoryTrustStore implements TrustStore {
  #json: TrustStoreJson;
  readonly #onCommit: ((json: TrustStoreJson) => void) | undefined;

  constructor(json?: TrustStoreJson, onCommit?: (json: TrustStoreJson) => void) {
    this.#json = {
      ...(json?.trusted ? { trusted: json.trusted } : {}),
      newestSeq: { ...json?.newestSeq },
      ...(typeof json?.ownTag === "string" ? { ownTag: json.ownTag } : {}),
    };
    this.#onCommit = onCommit;
  }

  get trusted(): TrustedCheckpoint | undefined {
    return this.#json.trusted;
  }

  newestSeq(patientTag: string): number | undefined {
    return this.#json.newestSeq[patientTag];
  }

  get ownTag(): string | undefined {
    return this.#json.ownTag;
  }

  commit(
    trusted: TrustedCheckpoint,
    seqs: readonly { tag: string; seq: number }[] = [],
    ownTag?: string,
  ): void {
    const newestSeq = { ...this.#json.newestSeq };
    for (const { tag, seq } of seqs) newestSeq[tag] = Math.max(newestSeq[tag] ?? -1, seq);
    const own = this.#json.ownTag ?? ownTag;
    this.#json = { trusted, newestSeq, ...(own !== undefined ? { ownTag: own } : {}) };
    this.#onCommit?.(this.toJSON());
  }

  toJSON(): TrustStoreJson {
    return structuredClone(this.#json);
  }
}
