// Copying a log from a node over its read API, verifying before storing: the mirror's follow loop and
// a node's restore. Each pass takes the node's (witnessed) checkpoint, checks its signature, the witness
// quorum and its consistency with what is already held, then fetches entry bundles, content and keys,
// rebuilds the tree and stores a batch only if the rebuilt root equals the checkpoint's. A batch is one
// transaction, so a copy killed at any point resumes from the last stored batch.

import type { MtlsClient } from "../client/index.js";
import { openCheckpoint } from "../core/checkpoint/index.js";
import { contentHashOf, decodeEntry, ENTRY_FORMAT_VERSION } from "../core/entry/index.js";
import { bytesEqual, CustosError, fromBase64, sha256, toBase64 } from "../core/index.js";
import { leafHash, verifyConsistency } from "../core/merkle/index.js";
import { parseVerifierKey } from "../core/note/index.js";
import {
  MAX_CONTENTS_PER_REQUEST,
  type MirrorContentsReplyBody,
  type MirrorKeysReplyBody,
} from "../core/wire/index.js";
import type { ContentBlob, LedgerStore } from "../ledger/index.js";
import { applyErasures, C2SP_TILE_WIDTH, formatTilePath, verifyStore } from "../ledger/index.js";
import { TreeBuilder, TreeReader } from "../ledger/tree/index.js";

export interface FollowOptions {
  readonly source: MtlsClient;
  readonly store: LedgerStore;
  readonly origin: string;
  readonly verifierKey: string;
  readonly witnesses?: { readonly keys: readonly string[]; readonly quorum: number };
  /** Stop after this many entries in one pass (default: all). */
  readonly maxEntries?: number;
  readonly onProgress?: (copied: number, target: number) => void;
}

export interface FollowResult {
  readonly from: number;
  readonly to: number;
  readonly target: number;
  readonly cosigners: readonly string[];
}

/** Splits a C2SP entry bundle (c2sp.org/tlog-tiles "Log entries"), refusing one of another width. */
export function parseBundle(bytes: Uint8Array, expected: number): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 2 > bytes.length) throw new CustosError("BAD_ENCODING", "truncated entry bundle");
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    offset += 2;
    if (offset + length > bytes.length) throw new CustosError("BAD_ENCODING", "truncated entry bundle");
    entries.push(bytes.slice(offset, offset + length));
    offset += length;
  }
  if (entries.length !== expected) {
    throw new CustosError(
      "BAD_ENCODING",
      `the entry bundle holds ${entries.length} entries, not ${expected}`,
    );
  }
  return entries;
}

/**
 * A whole copy (a restore over the network): sets up `store` for the log if it is empty, copies pass
 * after pass until it holds the source's checkpoint, then verifies the copy as `custos verify` does.
 */
export async function copyLog(options: FollowOptions): Promise<FollowResult> {
  const { store } = options;
  if (!(await store.getMeta())) {
    await store.initialize({
      origin: options.origin,
      verifierKey: options.verifierKey,
      createdAt: Date.now(),
      formatVersion: ENTRY_FORMAT_VERSION,
    });
  }
  let result = await followOnce(options);
  while (result.to < result.target) result = await followOnce(options);
  const report = await verifyStore(store);
  if (!report.ok) {
    throw new CustosError("TAMPERED_ENTRY", `the copy does not verify: ${report.findings[0]?.message}`);
  }
  return result;
}

/** One catch-up pass: copies the source's log up to its witnessed checkpoint, verified. */
export async function followOnce(options: FollowOptions): Promise<FollowResult> {
  const { source, store } = options;
  // A mirror requiring a quorum follows the newest checkpoint the quorum cosigned, so it keeps
  // copying while a witness is down (a node that does not know `quorum` ignores it).
  const quorum = options.witnesses?.quorum ?? 0;
  const note = await source.call<string>("GET", `/v1/checkpoint${quorum > 0 ? `?quorum=${quorum}` : ""}`);
  const witnessKeys = options.witnesses?.keys ?? [];
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(note, options.verifierKey, { cosignerKeys: witnessKeys });
  } catch (error) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `the source's checkpoint does not verify: ${(error as Error).message}`,
    );
  }
  const { checkpoint } = opened;
  if (checkpoint.origin !== options.origin) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `the source serves log "${checkpoint.origin}", not "${options.origin}"`,
    );
  }
  const names = new Set(witnessKeys.map((k) => parseVerifierKey(k).name));
  const cosigners = opened.cosigners.filter((n) => names.has(n));
  if (cosigners.length < (options.witnesses?.quorum ?? 0)) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `the source's checkpoint is cosigned by ${cosigners.length} required witnesses, fewer than the quorum of ${options.witnesses?.quorum}`,
    );
  }
  const target = Number(checkpoint.size);
  const held = await store.getSize();
  if (target < held) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `the source shows ${target} entries, fewer than the ${held} already copied: rolled back or forked`,
    );
  }
  if (held > 0) {
    const heldRoot = await new TreeReader(store).rootAt(held);
    if (target === held) {
      if (!bytesEqual(heldRoot, checkpoint.rootHash)) {
        throw new CustosError(
          "BAD_CHECKPOINT",
          `the source's checkpoint of size ${target} has another root than the copy: forked`,
        );
      }
    } else {
      const reply = await source.call<{ proof: string[] }>(
        "GET",
        `/v1/proof/consistency?from=${held}&to=${target}`,
      );
      if (!verifyConsistency(held, target, reply.proof.map(fromBase64), heldRoot, checkpoint.rootHash)) {
        throw new CustosError(
          "BAD_PROOF",
          `the source's log is not an extension of the ${held} entries copied: history was rewritten`,
        );
      }
    }
  }
  const stop = Math.min(target, options.maxEntries === undefined ? target : held + options.maxEntries);
  const builder = TreeBuilder.resume(held, await store.getEdgeTiles());
  let next = held;
  while (next < stop) {
    const bundleIndex = Math.floor(next / C2SP_TILE_WIDTH);
    const bundleStart = bundleIndex * C2SP_TILE_WIDTH;
    const bundleEnd = Math.min(bundleStart + C2SP_TILE_WIDTH, target);
    const width = bundleEnd - bundleStart;
    const path = formatTilePath({
      kind: "entries",
      index: bundleIndex,
      ...(width < C2SP_TILE_WIDTH ? { width } : {}),
    });
    const bundle = parseBundle(await source.bytes(`/tile/${path}`), width);
    const end = Math.min(bundleEnd, stop);
    const entries = bundle.slice(next - bundleStart, end - bundleStart);
    // Content beside the tree, checked against the hash each entry commits to.
    const wanted = entries
      .map((e) => contentHashOf(decodeEntry(e)))
      .filter((h): h is Uint8Array => h !== undefined);
    const contents: ContentBlob[] = [];
    for (let i = 0; i < wanted.length; i += MAX_CONTENTS_PER_REQUEST) {
      const reply = await source.call<MirrorContentsReplyBody>("POST", "/v1/mirror/contents", {
        hashes: wanted.slice(i, i + MAX_CONTENTS_PER_REQUEST).map(toBase64),
      });
      for (const item of reply.contents) {
        if (item.data === null) continue; // erased under a signed erasure entry (verify checks)
        const data = fromBase64(item.data);
        if (!bytesEqual(sha256(data), fromBase64(item.hash))) {
          throw new CustosError("TAMPERED_ENTRY", "the source sent content that does not match its hash");
        }
        contents.push({ hash: fromBase64(item.hash), data });
      }
    }
    const keys = await source.call<MirrorKeysReplyBody>("GET", `/v1/mirror/keys?from=${next}&to=${end}`);
    for (const entry of entries) builder.append(leafHash(entry));
    const tiles = builder.takeChangedTiles();
    const atCheckpoint = end === target;
    // Nothing is stored unless the copy so far is proven to be a prefix of the checkpoint's tree.
    if (atCheckpoint) {
      if (!bytesEqual(builder.root(), checkpoint.rootHash)) {
        throw new CustosError(
          "TAMPERED_ENTRY",
          `the entries sent do not rebuild the checkpoint's root at size ${target}: forged`,
        );
      }
    } else {
      const reply = await source.call<{ proof: string[] }>(
        "GET",
        `/v1/proof/consistency?from=${end}&to=${target}`,
      );
      if (!verifyConsistency(end, target, reply.proof.map(fromBase64), builder.root(), checkpoint.rootHash)) {
        throw new CustosError(
          "TAMPERED_ENTRY",
          `entries ${next} to ${end - 1} sent are not the log's: forged`,
        );
      }
    }
    const inRange = (row: { index: number }) => row.index >= next && row.index < end;
    await store.appendBatch({
      startIndex: next,
      entries,
      tiles,
      contents,
      idempotencyKeys: keys.idempotency
        .filter(inRange)
        .map((row) => ({ key: fromBase64(row.key), index: row.index })),
      lookupKeys: keys.lookup.filter(inRange).map((row) => ({ key: fromBase64(row.key), index: row.index })),
      ...(atCheckpoint ? { checkpoint: { size: target, note, storedAt: Date.now() } } : {}),
    });
    // Erasure reaches every copy: the content a copied erasure entry names is deleted here too.
    await applyErasures(
      store,
      entries.map((data, i) => ({ index: next + i, data })),
    );
    next = end;
    options.onProgress?.(next, target);
  }
  return { from: held, to: next, target, cosigners };
}
