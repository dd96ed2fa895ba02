// Split-view detection (threat model item 2): a checkpoint note from anyone - a witness, a mirror, a
// client - is compared with a reference copy of the log (a node's own tree, or a mirror's verified
// copy). Only a note signed by the log's key counts; two signed notes that cannot both describe one
// append-only log prove the log's operator signed two histories. Nothing here throws on a hostile note.
//
// Verdicts: same size with another root, or a smaller size whose root is not the reference's root at
// that size -> inconsistent, with both notes and (for a smaller one) the reference's own consistency
// proof as evidence anyone can check; a bigger note is consistent only with a consistency proof from
// whoever offered it, and otherwise unverified (kept, and checked again once the reference has grown).

import { type OpenedCheckpoint, openCheckpoint } from "../core/checkpoint/index.js";
import { bytesEqual, CustosError, fromBase64, sha256, toBase64, toHex, utf8 } from "../core/index.js";
import { verifyConsistency } from "../core/merkle/index.js";
import { MAX_NOTE_BYTES } from "../core/note/index.js";
import type { Ledger, LedgerStore } from "../ledger/index.js";
import { TreeReader } from "../ledger/tree/index.js";
import type { AlertEvidence } from "./alerts.js";

export const SPLIT_VIEW_KINDS = {
  /** Two signed checkpoints of one size with different roots. */
  sameSizeDifferentRoot: "same-size-different-root",
  /** A signed checkpoint smaller than the reference's whose root is not the reference's at its size. */
  notAPrefix: "not-a-prefix",
} as const;
export type SplitViewKind = (typeof SPLIT_VIEW_KINDS)[keyof typeof SPLIT_VIEW_KINDS];

/** A copy of the log to compare against: its latest signed checkpoint, and its tree below it. */
export interface GossipReference {
  latest(): Promise<{ readonly size: number; readonly note: string } | undefined>;
  rootAt(size: number): Promise<Uint8Array>;
  consistencyProof(from: number, to: number): Promise<Uint8Array[]>;
}

/** A mirror's (or any store's) copy: its latest stored checkpoint and the tree in its tiles. */
export function storeReference(store: LedgerStore): GossipReference {
  const reader = new TreeReader(store);
  return {
    latest: () => store.getLatestCheckpoint(),
    rootAt: (size) => reader.rootAt(size),
    consistencyProof: (from, to) => reader.consistencyProof(from, to),
  };
}

/** A node's own log. */
export function ledgerReference(ledger: Ledger): GossipReference {
  return {
    latest: () => ledger.latestCheckpoint(),
    rootAt: (size) => ledger.rootAt(size),
    consistencyProof: (from, to) => ledger.consistencyProof(from, to),
  };
}

/** Asks whoever offered a bigger note for a consistency proof from `from` to `to`; undefined if it cannot. */
export type ProofSource = (from: number, to: number) => Promise<readonly Uint8Array[] | undefined>;

export type GossipVerdict =
  /** Not signed by the log's key, another log, or malformed: evidence of nothing. */
  | { readonly status: "ignored"; readonly reason: string }
  | { readonly status: "consistent"; readonly size: number }
  /** Bigger than the reference and no proof that verifies: neither trusted nor proven false. */
  | { readonly status: "unverified"; readonly size: number; readonly reason: string }
  | {
      readonly status: "inconsistent";
      readonly size: number;
      readonly kind: SplitViewKind;
      readonly reason: string;
      /** Identifies the foreign checkpoint (its signed body), so one fork is reported once. */
      readonly key: string;
      readonly evidence: AlertEvidence;
    };

/** The key a conflicting foreign checkpoint is recorded under: SHA-256 of its signed body. */
export function splitViewKey(checkpointBody: string): string {
  return `gossip:${toHex(sha256(utf8(checkpointBody)))}`;
}

export class GossipChecker {
  readonly origin: string;
  readonly #verifierKey: string;
  readonly #reference: GossipReference;

  constructor(log: { readonly origin: string; readonly verifierKey: string }, reference: GossipReference) {
    this.origin = log.origin;
    this.#verifierKey = log.verifierKey;
    this.#reference = reference;
  }

  /**
   * Checks one note against the reference. Throws only if the reference itself cannot be read or
   * does not verify (the caller's own copy is broken); a hostile note gets a verdict, never a throw.
   */
  async check(note: unknown, options: { proof?: ProofSource } = {}): Promise<GossipVerdict> {
    if (typeof note !== "string" || note.length === 0 || note.length > MAX_NOTE_BYTES) {
      return { status: "ignored", reason: "not a note" };
    }
    let opened: OpenedCheckpoint;
    try {
      opened = openCheckpoint(note, this.#verifierKey);
    } catch (error) {
      return { status: "ignored", reason: `not signed by the log's key: ${(error as Error).message}` };
    }
    const foreign = opened.checkpoint;
    if (foreign.origin !== this.origin) {
      return { status: "ignored", reason: `a checkpoint of another log ("${foreign.origin.slice(0, 100)}")` };
    }
    const latest = await this.#reference.latest();
    if (!latest)
      return { status: "unverified", size: foreign.size, reason: "the reference holds no checkpoint yet" };
    let own: OpenedCheckpoint;
    try {
      own = openCheckpoint(latest.note, this.#verifierKey);
    } catch (error) {
      throw new CustosError(
        "STORE_CORRUPT",
        "the reference's own checkpoint does not verify with the log's key",
        {
          cause: error,
        },
      );
    }
    const size = own.checkpoint.size;
    const root = own.checkpoint.rootHash;
    const m = foreign.size;
    const inconsistent = (
      kind: SplitViewKind,
      reason: string,
      proof?: AlertEvidence["proof"],
    ): GossipVerdict => ({
      status: "inconsistent",
      size: m,
      kind,
      reason,
      key: splitViewKey(opened.text),
      evidence: { foreignNote: note, referenceNote: latest.note, ...(proof ? { proof } : {}) },
    });
    if (m === size) {
      if (bytesEqual(foreign.rootHash, root)) return { status: "consistent", size: m };
      return inconsistent(
        SPLIT_VIEW_KINDS.sameSizeDifferentRoot,
        `two checkpoints of size ${m} signed with the log's key have different roots: the log forked`,
      );
    }
    if (m < size) {
      const rootAtM = await this.#reference.rootAt(m);
      if (bytesEqual(rootAtM, foreign.rootHash)) return { status: "consistent", size: m };
      const hashes = await this.#reference.consistencyProof(m, size);
      // RFC 6962 2.1.2: the reference's own proof must hold, or the evidence would prove nothing.
      if (!verifyConsistency(m, size, hashes, rootAtM, root)) {
        throw new CustosError(
          "STORE_CORRUPT",
          `the reference's tree does not prove its own checkpoint from ${m}`,
        );
      }
      return inconsistent(
        SPLIT_VIEW_KINDS.notAPrefix,
        `a checkpoint of size ${m} signed with the log's key is not a prefix of the signed log of size ${size}: the log forked`,
        { fromSize: m, fromRoot: toBase64(rootAtM), toSize: size, hashes: hashes.map(toBase64) },
      );
    }
    // Bigger than the reference: only whoever offered it can prove it extends the reference.
    let proof: readonly Uint8Array[] | undefined;
    try {
      proof = await options.proof?.(size, m);
    } catch {
      proof = undefined;
    }
    if (proof === undefined) {
      return {
        status: "unverified",
        size: m,
        reason: `bigger than the reference's ${size} entries and no consistency proof was offered`,
      };
    }
    if (verifyConsistency(size, m, proof, root, foreign.rootHash)) return { status: "consistent", size: m };
    return {
      status: "unverified",
      size: m,
      reason: `bigger than the reference's ${size} entries and the consistency proof offered does not verify`,
    };
  }
}

/** Decodes base64 proof hashes from a peer; undefined if any is malformed (treated as no proof). */
export function decodeProof(hashes: unknown): Uint8Array[] | undefined {
  if (!Array.isArray(hashes) || hashes.length > 64) return undefined;
  const out: Uint8Array[] = [];
  for (const hash of hashes) {
    if (typeof hash !== "string" || hash.length > 64) return undefined;
    try {
      const bytes = fromBase64(hash);
      if (bytes.length !== 32) return undefined;
      out.push(bytes);
    } catch {
      return undefined;
    }
  }
  return out;
}
