// A mirror (`custos mirror --serve`) or another node as the reference for `custos verify --against`:
// its witnessed checkpoint, its C2SP entry bundles one at a time, and content by hash, over mutual TLS.
// Nothing it sends is believed until the comparison has rebuilt its checkpoint's root from it.

import type { MtlsClient } from "../client/index.js";
import { bytesEqual, fromBase64, sha256, toBase64 } from "../core/index.js";
import { MAX_CONTENTS_PER_REQUEST, type MirrorContentsReplyBody } from "../core/wire/index.js";
import type { ReferenceLog } from "../ledger/index.js";
import { C2SP_TILE_WIDTH, formatTilePath } from "../ledger/index.js";
import { parseBundle } from "./follower.js";

export class RemoteReference implements ReferenceLog {
  readonly name: string;
  readonly #client: MtlsClient;

  constructor(url: string, client: MtlsClient) {
    this.name = url;
    this.#client = client;
  }

  latestNote(): Promise<string> {
    return this.#client.call<string>("GET", "/v1/checkpoint");
  }

  async *entries(start: number, end: number): AsyncIterable<readonly Uint8Array[]> {
    let next = start;
    while (next < end) {
      const index = Math.floor(next / C2SP_TILE_WIDTH);
      const bundleStart = index * C2SP_TILE_WIDTH;
      // c2sp.org/tlog-tiles: the partial bundle at the tree's edge is asked for by its width.
      const width = Math.min(C2SP_TILE_WIDTH, end - bundleStart);
      const path = formatTilePath({ kind: "entries", index, ...(width < C2SP_TILE_WIDTH ? { width } : {}) });
      const bundle = parseBundle(await this.#client.bytes(`/tile/${path}`), width);
      yield bundle.slice(next - bundleStart);
      next = bundleStart + width;
    }
  }

  async holdsContent(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    const held: boolean[] = [];
    for (let i = 0; i < hashes.length; i += MAX_CONTENTS_PER_REQUEST) {
      const asked = hashes.slice(i, i + MAX_CONTENTS_PER_REQUEST);
      const reply = await this.#client.call<MirrorContentsReplyBody>("POST", "/v1/mirror/contents", {
        hashes: asked.map(toBase64),
      });
      const byHash = new Map(reply.contents.map((item) => [item.hash, item.data]));
      for (const hash of asked) {
        const data = byHash.get(toBase64(hash));
        held.push(typeof data === "string" && bytesEqual(sha256(fromBase64(data)), hash));
      }
    }
    return held;
  }
}
