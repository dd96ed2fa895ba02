// What a client remembers between runs, in a small JSON file: the last checkpoint it verified (so the
// next reply must prove consistency with it) and, per patient trail, the newest record number seen (so
// a node that later hides newer records is caught). Written atomically.

import { existsSync, readFileSync } from "node:fs";
import { CustosError } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import type { TrustedCheckpoint } from "./verify-reply.js";

export interface ClientStateJson {
  version: 1;
  origin: string;
  trusted?: TrustedCheckpoint;
  /** patient tag (hex) -> newest record number seen */
  newestSeq: Record<string, number>;
  /** The reader's own trail's tag (a patient's), once known. */
  ownTag?: string;
}

export class ClientState {
  readonly #path: string | undefined;
  #json: ClientStateJson;

  private constructor(path: string | undefined, json: ClientStateJson) {
    this.#path = path;
    this.#json = json;
  }

  /** Loads the state file (or starts empty); without a path the state lives in memory only. */
  static load(path: string | undefined, origin: string): ClientState {
    if (path === undefined || !existsSync(path))
      return new ClientState(path, { version: 1, origin, newestSeq: {} });
    let json: ClientStateJson;
    try {
      json = JSON.parse(readFileSync(path, "utf8")) as ClientStateJson;
    } catch {
      throw new CustosError(
        "CONFIG",
        `the client state file ${path} is not readable JSON; move it aside to start over`,
      );
    }
    if (json.version !== 1 || typeof json.newestSeq !== "object") {
      throw new CustosError("CONFIG", `the client state file ${path} is not a Custos client state`);
    }
    if (json.origin !== origin) {
      throw new CustosError(
        "CONFIG",
        `the client state file ${path} is for log "${json.origin}", not "${origin}"`,
      );
    }
    return new ClientState(path, json);
  }

  get trusted(): TrustedCheckpoint | undefined {
    return this.#json.trusted;
  }

  newestSeq(patientTag: string): number | undefined {
    return this.#json.newestSeq[patientTag];
  }

  get ownTag(): string | undefined {
    return typeof this.#json.ownTag === "string" ? this.#json.ownTag : undefined;
  }

  /** Records what was verified; saved only after every check of a reply passed. */
  commit(
    trusted: TrustedCheckpoint,
    seqs: readonly { tag: string; seq: number }[] = [],
    ownTag?: string,
  ): void {
    const next: ClientStateJson = { ...this.#json, trusted, newestSeq: { ...this.#json.newestSeq } };
    if (next.ownTag === undefined && ownTag !== undefined) next.ownTag = ownTag;
    for (const { tag, seq } of seqs) next.newestSeq[tag] = Math.max(next.newestSeq[tag] ?? -1, seq);
    this.#json = next;
    if (this.#path) writeFileAtomic(this.#path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  }
}
