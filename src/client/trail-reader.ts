// The reading half of the client, shared by the SDK (mutual TLS, Node) and the browser portal (fetch
// with a login token): asks a node for trails, query histories and receipts, verifies everything it
// returns (checkpoint signature and witness quorum, consistency with what was trusted before,
// inclusion of every entry, content hashes, unbroken record numbering) and decrypts locally. Nothing
// here touches the platform: the transport and the trust store are handed in.

import { fromBase64, toBase64 } from "../core/bytes.js";
import { CustosError } from "../core/errors.js";
import { leafHash, verifyInclusion } from "../core/merkle/index.js";
import { parseVerifierKey } from "../core/note/index.js";
import type { AuditRecord } from "../core/record/index.js";
import { type OpenedNotice, openNotice } from "../records/notices.js";
import { type OpenedRecord, RecordOpener } from "../records/record-opener.js";
import { matchesRecordFilter, type RecordFilter } from "./record-filter.js";
import {
  type Completeness,
  type TrustedCheckpoint,
  VerificationError,
  type VerifiedCheckpoint,
  verifyCheckpoint,
  verifyItems,
  verifyRun,
  verifyTrailHead,
  type WireItem,
  type WireTrailMap,
} from "./verify-reply.js";

/** Sends one request to the node; JSON replies parsed, text replies (a checkpoint) as a string. */
export interface Transport {
  call<T>(method: "GET" | "POST", path: string, body?: unknown, contentType?: string): Promise<T>;
}

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

export interface WitnessPolicy {
  /** Cosigner verifier keys of the witnesses. */
  readonly keys: readonly string[];
  /** How many of them must have cosigned a checkpoint before it is trusted (e.g. 2 of 3). */
  readonly quorum: number;
}

export interface ReaderOptions {
  readonly transport: Transport;
  /** The log's origin and note verifier key. */
  readonly log: { readonly origin: string; readonly verifierKey: string };
  readonly witnesses?: WitnessPolicy;
  /** The reader's X25519 private key (raw 32 bytes): records and notices are opened with it. */
  readonly encryptionPrivateKey: Uint8Array;
  readonly state: TrustStore;
  /** Called with each checkpoint note once a reply verified against it (e.g. to gossip it). */
  readonly onTrusted?: (note: string) => void;
}

/** The record filters (record-filter.ts) are applied after decryption: the node cannot read them. */
export interface TrailQuery extends RecordFilter {
  readonly patientId?: string;
  readonly from?: string;
  readonly to?: string;
  readonly limit?: number;
  readonly before?: number;
}

/** The checkpoint a reply was verified against, as shown to a person. */
export interface CheckpointSummary {
  readonly size: number;
  readonly note: string;
  /** Names of the required witnesses that cosigned it. */
  readonly witnesses: readonly string[];
  /** When each of them cosigned (ms since the epoch). */
  readonly cosigned: readonly { readonly name: string; readonly time: number }[];
}

export interface TrailResult {
  /** Newest first by access time. */
  readonly records: OpenedRecord[];
  /**
   * The trail's record numbers this page holds (newest and oldest), for checking that the next page
   * continues right below it (`checkPageFollows`) and that a whole trail starts at record 0.
   */
  readonly run?: { readonly tag: string; readonly newest: number; readonly oldest: number };
  /** Entries in the window this identity holds no key for (outside its grant). */
  readonly notReadable: number[];
  /** Pass as `before` for the next page. */
  readonly next: number | null;
  /**
   * What the checkpoint's trail map proved: the trail's record count at the checkpoint (and, for a page
   * at the trail's end, that its newest record is shown), or why nothing was proven (a checkpoint
   * without a trail map). A caller shows `proven: false` as "completeness not checked".
   */
  readonly completeness: Completeness;
  readonly checkpoint: CheckpointSummary;
}

export interface AuditTrailsResult {
  readonly checkpoint: CheckpointSummary;
  readonly patients: {
    patientId: string | null;
    /** The patient's tag (absent when the node refused a patient named by ID: it names no tag then). */
    tag?: string;
    result?: Omit<TrailResult, "checkpoint">;
    /** The node refused or could not serve this patient. */
    error?: { code: string; message: string };
    /**
     * This patient's entries failed verification (tampering, naming the entry): nothing of this
     * patient is returned, the other patients' verified entries are. A caller must show it loudly.
     */
    verification?: VerificationError;
  }[];
}

export interface NoticesResult {
  readonly notices: OpenedNotice[];
  readonly checkpoint: CheckpointSummary;
}

type Consistency = { from: number; to: number; proof: string[] } | null;

interface TrailReply {
  checkpoint: string;
  consistency: Consistency;
  items: WireItem[];
  next: number | null;
  trailMap?: WireTrailMap;
}

function matches(record: AuditRecord, q: TrailQuery): boolean {
  const t = Date.parse(record.time);
  if (q.from !== undefined && t < Date.parse(q.from)) return false;
  if (q.to !== undefined && t >= Date.parse(q.to)) return false;
  return matchesRecordFilter(record, q);
}

export class TrailReader {
  protected readonly http: Transport;
  readonly #state: TrustStore;
  readonly #log: { origin: string; verifierKey: string };
  readonly #key: Uint8Array;
  readonly #opener: RecordOpener;
  readonly #onTrusted: ((note: string) => void) | undefined;
  readonly #witnesses: {
    readonly keys: readonly string[];
    readonly names: ReadonlySet<string>;
    readonly quorum: number;
  };

  constructor(options: ReaderOptions) {
    this.http = options.transport;
    this.#log = { origin: options.log.origin, verifierKey: options.log.verifierKey };
    this.#state = options.state;
    this.#key = options.encryptionPrivateKey;
    this.#opener = new RecordOpener(options.encryptionPrivateKey);
    this.#onTrusted = options.onTrusted;
    const witnesses = options.witnesses ?? { keys: [], quorum: 0 };
    if (
      !Number.isInteger(witnesses.quorum) ||
      witnesses.quorum < 0 ||
      witnesses.quorum > witnesses.keys.length
    ) {
      throw new CustosError(
        "CONFIG",
        `the witness quorum must be 0 to ${witnesses.keys.length} (the number of witness keys)`,
      );
    }
    this.#witnesses = {
      keys: witnesses.keys,
      names: new Set(witnesses.keys.map((k) => parseVerifierKey(k).name)),
      quorum: witnesses.quorum,
    };
  }

  get trustedSize(): number {
    return this.#state.trusted?.size ?? 0;
  }

  get witnessPolicy(): { readonly count: number; readonly quorum: number } {
    return { count: this.#witnesses.keys.length, quorum: this.#witnesses.quorum };
  }

  #checkpoint(note: string, consistency: Consistency): VerifiedCheckpoint {
    const checkpoint = verifyCheckpoint(
      note,
      this.#log.verifierKey,
      this.#log.origin,
      this.#state.trusted,
      consistency,
      this.#witnesses.keys,
    );
    const cosigned = new Set(checkpoint.cosigners.filter((name) => this.#witnesses.names.has(name)));
    if (cosigned.size < this.#witnesses.quorum) {
      throw new VerificationError(
        "BAD_CHECKPOINT",
        `the checkpoint of size ${checkpoint.size} is cosigned by ${cosigned.size} of the witnesses you require, fewer than your quorum of ${this.#witnesses.quorum}: not trusted`,
      );
    }
    return checkpoint;
  }

  /** Witnesses that cosigned the checkpoint last trusted (names). */
  witnessedBy(checkpoint: VerifiedCheckpoint): string[] {
    return checkpoint.cosigners.filter((name) => this.#witnesses.names.has(name));
  }

  #summary(checkpoint: VerifiedCheckpoint): CheckpointSummary {
    return {
      size: checkpoint.size,
      note: checkpoint.note,
      witnesses: this.witnessedBy(checkpoint),
      cosigned: checkpoint.cosignedAt.filter((c) => this.#witnesses.names.has(c.name)),
    };
  }

  #trust(checkpoint: VerifiedCheckpoint, seqs: { tag: string; seq: number }[] = [], ownTag?: string): void {
    this.#state.commit(
      { size: checkpoint.size, rootHash: toBase64(checkpoint.rootHash), note: checkpoint.note },
      seqs,
      ownTag,
    );
    try {
      this.#onTrusted?.(checkpoint.note);
    } catch {
      // best effort: a failing listener never undoes a verified read
    }
  }

  #openPage(
    reply: { items: WireItem[]; next: number | null; trailMap?: WireTrailMap | undefined },
    checkpoint: VerifiedCheckpoint,
    query: TrailQuery,
    /** The patient tag (hex) the node says this page is about, when it says (audit companies). */
    expectedTag?: string,
    /** Whether expectedTag is known to this client (its own trail's, seen in its records before). */
    tagKnown = false,
  ) {
    const items = verifyItems(reply.items, checkpoint);
    const run = verifyRun(items);
    if (expectedTag !== undefined && run.patientTag !== undefined && run.patientTag !== expectedTag) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        "the node put another patient's entries in this patient's place",
        items[0]?.index,
      );
    }
    const top = query.to === undefined && query.before === undefined;
    // An empty page of a trail seen before hides its records, unless a time window explains it.
    const tag = run.patientTag ?? (query.from === undefined ? expectedTag : undefined);
    if (top && tag !== undefined) {
      const seen = this.#state.newestSeq(tag);
      if (seen !== undefined && (run.newestSeq === undefined || run.newestSeq < seen)) {
        throw new VerificationError(
          "TAMPERED_ENTRY",
          `the node hides this trail's newest records: record ${seen} was seen before, the newest now shown is ${run.newestSeq ?? "none"}`,
        );
      }
    }
    // The trail's head in the checkpoint's trail map: a page at the trail's end must show it.
    const headTag = run.patientTag ?? expectedTag;
    let completeness = verifyTrailHead(reply.trailMap, checkpoint, items, { top, patientTag: headTag });
    if (completeness.proven && run.patientTag === undefined && !tagKnown) {
      // No record shown and the trail's tag not known (a patient's first read of an empty trail, an
      // audit company's patient without records): the proof is for the tag the node names, which this
      // client cannot tie to the patient.
      completeness = {
        proven: false,
        reason:
          "the node shows no record and names the trail's patient tag itself: that this tag is the patient's is not checked on a first read",
      };
    }
    let opened: { records: OpenedRecord[]; notReadable: number[] };
    try {
      opened = this.#opener.openAll(items);
    } catch (error) {
      if (error instanceof VerificationError) throw error;
      if (error instanceof CustosError) throw new VerificationError(error.code, error.message);
      throw error;
    }
    const records = opened.records
      .filter((r) => matches(r.record, query))
      .sort((a, b) => Date.parse(b.record.time) - Date.parse(a.record.time) || b.index - a.index);
    const seqs =
      run.patientTag !== undefined && run.newestSeq !== undefined
        ? [{ tag: run.patientTag, seq: run.newestSeq }]
        : [];
    // The head the checkpoint proved counts as seen: a later reply must not end below it either.
    if (completeness.proven && headTag !== undefined && completeness.count > 0)
      seqs.push({ tag: completeness.tag, seq: completeness.count - 1 });
    const span =
      run.patientTag !== undefined && run.newestSeq !== undefined && run.oldestSeq !== undefined
        ? { run: { tag: run.patientTag, newest: run.newestSeq, oldest: run.oldestSeq } }
        : {};
    return { records, notReadable: opened.notReadable, next: reply.next, seqs, completeness, ...span };
  }

  // One request at a time: each request names the checkpoint trusted when it is sent, and its reply is
  // verified against exactly that one. Two requests in flight would both start from one checkpoint;
  // the second reply would then be checked against a checkpoint the first one moved on from.
  #queue: Promise<unknown> = Promise.resolve();

  #serially<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** A patient's own trail (or, for an audit company, a granted patient's), verified and decrypted. */
  trail(query: TrailQuery = {}): Promise<TrailResult> {
    return this.#serially(() => this.#trail(query));
  }

  async #trail(query: TrailQuery): Promise<TrailResult> {
    const reply = await this.http.call<TrailReply>("POST", "/v1/trail", {
      ...(query.patientId ? { patientId: query.patientId } : {}),
      ...(query.from ? { from: query.from } : {}),
      ...(query.to ? { to: query.to } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
      ...(query.before !== undefined ? { before: query.before } : {}),
      ...(this.#state.trusted ? { trustedSize: this.#state.trusted.size } : {}),
    });
    const checkpoint = this.#checkpoint(reply.checkpoint, reply.consistency);
    // A patient's own trail: once its tag is known, an empty or foreign page is caught like an audit
    // company's (the node cannot hide the whole trail by answering with nothing).
    const own = query.patientId === undefined;
    const ownTag = own ? this.#state.ownTag : undefined;
    const page = this.#openPage(reply, checkpoint, query, ownTag, ownTag !== undefined);
    this.#trust(checkpoint, page.seqs, own ? page.run?.tag : undefined);
    return {
      records: page.records,
      notReadable: page.notReadable,
      next: page.next,
      ...(page.run ? { run: page.run } : {}),
      completeness: page.completeness,
      checkpoint: this.#summary(checkpoint),
    };
  }

  /** An audit company's view over several patients (all granted ones if none are named). */
  auditTrails(query: TrailQuery & { patientIds?: readonly string[] } = {}): Promise<AuditTrailsResult> {
    return this.#serially(() => this.#auditTrails(query));
  }

  async #auditTrails(query: TrailQuery & { patientIds?: readonly string[] }): Promise<AuditTrailsResult> {
    const reply = await this.http.call<{
      checkpoint: string;
      consistency: Consistency;
      patients: {
        patientId: string | null;
        tag?: string;
        items?: WireItem[];
        next?: number | null;
        trailMap?: WireTrailMap;
        error?: { code: string; message: string };
      }[];
    }>("POST", "/v1/audit/trails", {
      ...(query.patientIds ? { patientIds: query.patientIds } : {}),
      ...(query.from ? { from: query.from } : {}),
      ...(query.to ? { to: query.to } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
      ...(this.#state.trusted ? { trustedSize: this.#state.trusted.size } : {}),
    });
    const checkpoint = this.#checkpoint(reply.checkpoint, reply.consistency);
    const seqs: { tag: string; seq: number }[] = [];
    const patients = reply.patients.map((p) => {
      if (p.error || !p.items || p.tag === undefined)
        return {
          patientId: p.patientId,
          ...(p.tag === undefined ? {} : { tag: p.tag }),
          error: p.error ?? {
            code: "INTERNAL",
            message: "the node's reply for this patient holds no entries or no tag",
          },
        };
      const items = p.items;
      const tag = p.tag;
      const opened = (() => {
        try {
          const reply = { items, next: p.next ?? null, trailMap: p.trailMap };
          return { page: this.#openPage(reply, checkpoint, query, tag) };
        } catch (error) {
          if (error instanceof VerificationError) return { failed: error };
          throw error;
        }
      })();
      // Each patient's entries are proven on their own against the verified checkpoint: one
      // patient's altered entry says nothing about another's, which stay shown.
      if (!opened.page) return { patientId: p.patientId, tag, verification: opened.failed };
      const { page } = opened;
      seqs.push(...page.seqs);
      return {
        patientId: p.patientId,
        tag,
        result: {
          records: page.records,
          notReadable: page.notReadable,
          next: page.next,
          ...(page.run ? { run: page.run } : {}),
          completeness: page.completeness,
        },
      };
    });
    this.#trust(checkpoint, seqs);
    return { checkpoint: this.#summary(checkpoint), patients };
  }

  #notices(path: string): Promise<NoticesResult> {
    return this.#serially(() => this.#noticesOnce(path));
  }

  async #noticesOnce(path: string): Promise<NoticesResult> {
    const reply = await this.http.call<{ checkpoint: string; consistency: Consistency; items: WireItem[] }>(
      "POST",
      path,
      this.#state.trusted ? { trustedSize: this.#state.trusted.size } : {},
    );
    const checkpoint = this.#checkpoint(reply.checkpoint, reply.consistency);
    const items = verifyItems(reply.items, checkpoint);
    const notices: OpenedNotice[] = [];
    for (const item of items) {
      try {
        const notice = openNotice(item, this.#key);
        if (notice) notices.push(notice);
      } catch (error) {
        if (error instanceof CustosError) throw new VerificationError(error.code, error.message, item.index);
        throw error;
      }
    }
    this.#trust(checkpoint);
    return { notices, checkpoint: this.#summary(checkpoint) };
  }

  /** Who read my trail and who was refused (patients), verified and decrypted. */
  async queryHistory(): Promise<OpenedNotice[]> {
    return (await this.#notices("/v1/query-history")).notices;
  }

  /** The same, with the checkpoint it was verified against. */
  async queryHistoryWithCheckpoint(): Promise<NoticesResult> {
    return this.#notices("/v1/query-history");
  }

  /** Refused requests concerning an audit company's granted patients, verified and decrypted. */
  async auditNotices(): Promise<NoticesResult> {
    return this.#notices("/v1/audit/notices");
  }

  /** A verified receipt: the entry at `index` is in the log under a signed checkpoint. */
  receipt(
    index: number,
  ): Promise<{ index: number; leafHash: string; checkpoint: VerifiedCheckpoint; tlogProof: string }> {
    return this.#serially(() => this.#receipt(index));
  }

  async #receipt(
    index: number,
  ): Promise<{ index: number; leafHash: string; checkpoint: VerifiedCheckpoint; tlogProof: string }> {
    const reply = await this.http.call<{
      index: number;
      leafHash: string;
      entry?: string;
      checkpoint: string;
      inclusion: string[];
      tlogProof: string;
    }>("GET", `/v1/receipt/${index}`);
    const trustedSize = this.#state.trusted?.size ?? 0;
    let consistency: Consistency = null;
    const opened = verifyCheckpoint(
      reply.checkpoint,
      this.#log.verifierKey,
      this.#log.origin,
      undefined,
      null,
    );
    if (trustedSize > 0 && opened.size > trustedSize) {
      consistency = await this.http.call(
        "GET",
        `/v1/proof/consistency?from=${trustedSize}&to=${opened.size}`,
      );
    }
    const checkpoint = this.#checkpoint(reply.checkpoint, consistency);
    // The entry comes only to those who may see it (it may name a patient); the leaf hash always.
    const leaf = reply.entry === undefined ? fromBase64(reply.leafHash) : leafHash(fromBase64(reply.entry));
    const proof = reply.inclusion.map(fromBase64);
    if (
      reply.index !== index ||
      leaf.length !== 32 ||
      toBase64(leaf) !== reply.leafHash ||
      !verifyInclusion(leaf, index, checkpoint.size, proof, checkpoint.rootHash)
    ) {
      throw new VerificationError("BAD_PROOF", `the receipt for entry ${index} does not verify`, index);
    }
    this.#trust(checkpoint);
    return { index, leafHash: toBase64(leaf), checkpoint, tlogProof: reply.tlogProof };
  }

  /** Waits until a checkpoint this reader trusts (signed, witnessed by the quorum) covers `size` entries. */
  async waitForCheckpoint(size: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const note = await this.http.call<string>("GET", "/v1/checkpoint").catch(() => undefined);
      if (typeof note === "string") {
        try {
          const checkpoint = verifyCheckpoint(
            note,
            this.#log.verifierKey,
            this.#log.origin,
            undefined,
            null,
            this.#witnesses.keys,
          );
          const cosigned = checkpoint.cosigners.filter((name) => this.#witnesses.names.has(name)).length;
          if (checkpoint.size >= size && cosigned >= this.#witnesses.quorum) return;
        } catch {
          // not (yet) a checkpoint this reader trusts: wait for the next one
        }
      }
      if (Date.now() > deadline) {
        throw new CustosError("STORE_BUSY", `no checkpoint this client trusts covers ${size} entries yet`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Paging through one trail: the next page must carry the records right below the previous page's
 * oldest (a node choosing `next` could otherwise skip a block of records between two pages, each of
 * which is unbroken on its own).
 */
export function checkPageFollows(previous: Pick<TrailResult, "run">, next: Pick<TrailResult, "run">): void {
  if (!previous.run || !next.run) return;
  if (next.run.tag !== previous.run.tag) {
    throw new VerificationError("TAMPERED_ENTRY", "the next page belongs to another patient's trail");
  }
  if (next.run.newest !== previous.run.oldest - 1) {
    const gap =
      next.run.newest < previous.run.oldest - 1
        ? `records ${next.run.newest + 1} to ${previous.run.oldest - 1} of this trail are missing between two pages: the node left them out`
        : `the next page repeats records down from ${next.run.newest}, already shown`;
    throw new VerificationError("TAMPERED_ENTRY", gap);
  }
}

/**
 * The last page of a whole trail (no time window) must end at the trail's first record (number 0):
 * a node that stops early has hidden the oldest records.
 */
export function checkTrailStart(last: Pick<TrailResult, "run" | "next">, query: TrailQuery): void {
  if (last.next !== null || !last.run || query.from !== undefined) return;
  if (last.run.oldest !== 0) {
    throw new VerificationError(
      "TAMPERED_ENTRY",
      `the trail ends at record ${last.run.oldest}: records 0 to ${last.run.oldest - 1} are missing (the node left out its oldest records)`,
    );
  }
}

export { VerificationError };
