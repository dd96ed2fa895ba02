// The reading half of the client, shared by the SDK (mutual TLS, Node) and the browser portal (fetch
// with a login token): asks a node for trails, query histories and receipts, verifies everything it
// returns (checkpoint signature and witness quorum, consistency with what was trusted before,
// inclusion of every entry, content hashes, unbroken record numbering) and decrypts locally. Nothing
// here touches the platform: the transport and the trust store are handed in. A page of a trail is
// verified and opened in trail-page.ts; the shapes taken and returned are in reader-types.ts.

import { CustosError, fromBase64, toBase64 } from "../core/index.js";
import { leafHash, verifyInclusion } from "../core/merkle/index.js";
import { parseVerifierKey } from "../core/note/index.js";
import type { AuditTrailsReplyBody, NoticesReplyBody, WireBehind } from "../core/wire/index.js";
import {
  type OpenedNotice,
  openNotice,
  openStaffDirectory,
  RecordOpener,
  type StaffDirectory,
} from "../records/browser.js";
import type {
  AuditTrailsResult,
  CheckpointSummary,
  Consistency,
  NoticesResult,
  ReaderOptions,
  TrailQuery,
  TrailReply,
  TrailResult,
  Transport,
} from "./reader-types.js";
import { openTrailPage } from "./trail-page.js";
import type { TrustStore } from "./trust-store.js";
import { VerificationError, type VerifiedCheckpoint, verifyCheckpoint, verifyItems } from "./verify-reply.js";

export type {
  AuditTrailsResult,
  CheckpointSummary,
  NoticesResult,
  ReaderOptions,
  TrailQuery,
  TrailResult,
  Transport,
  WitnessPolicy,
} from "./reader-types.js";
export { checkPageFollows, checkTrailStart } from "./trail-page.js";
export { MemoryTrustStore, type TrustStore, type TrustStoreJson } from "./trust-store.js";

export class TrailReader {
  protected readonly http: Transport;
  readonly #state: TrustStore;
  readonly #log: { origin: string; verifierKey: string };
  readonly #key: Uint8Array;
  /** What opening a page needs: the trust store and the opener holding the reader's key. */
  readonly #page: { readonly state: TrustStore; readonly opener: RecordOpener };
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
    this.#page = { state: options.state, opener: new RecordOpener(options.encryptionPrivateKey) };
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

  /**
   * Asks the node for the newest checkpoint this reader's quorum cosigned (`?quorum=N`), so reading
   * goes on, up to that checkpoint, while a witness is down; the reply says how far it is behind.
   */
  #atQuorum(path: string): string {
    return this.#witnesses.quorum > 0 ? `${path}?quorum=${this.#witnesses.quorum}` : path;
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

  #summary(checkpoint: VerifiedCheckpoint, behind?: WireBehind): CheckpointSummary {
    return {
      size: checkpoint.size,
      note: checkpoint.note,
      witnesses: this.witnessedBy(checkpoint),
      cosigned: checkpoint.cosignedAt.filter((c) => this.#witnesses.names.has(c.name)),
      ...(behind === undefined ? {} : { behind: { entries: behind.entries, seconds: behind.seconds } }),
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

  /**
   * The privacy office (custodians): the deployment's security events trail (`patientId`, the trail's
   * ID, custos.security-events), verified and decrypted as a granted patient's trail is.
   */
  securityEvents(query: TrailQuery & { patientId: string }): Promise<TrailResult> {
    return this.#serially(() => this.#trail(query, "/v1/office/security-events"));
  }

  async #trail(query: TrailQuery, path = "/v1/trail"): Promise<TrailResult> {
    const reply = await this.http.call<TrailReply>("POST", this.#atQuorum(path), {
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
    const page = openTrailPage(reply, checkpoint, query, this.#page, ownTag, ownTag !== undefined);
    this.#trust(checkpoint, page.seqs, own ? page.run?.tag : undefined);
    return {
      records: page.records,
      notReadable: page.notReadable,
      next: page.next,
      ...(page.run ? { run: page.run } : {}),
      completeness: page.completeness,
      checkpoint: this.#summary(checkpoint, reply.behind),
    };
  }

  /** An audit company's view over several patients (all granted ones if none are named). */
  auditTrails(query: TrailQuery & { patientIds?: readonly string[] } = {}): Promise<AuditTrailsResult> {
    return this.#serially(() => this.#auditTrails(query));
  }

  async #auditTrails(query: TrailQuery & { patientIds?: readonly string[] }): Promise<AuditTrailsResult> {
    const reply = await this.http.call<AuditTrailsReplyBody>("POST", this.#atQuorum("/v1/audit/trails"), {
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
          return { page: openTrailPage(reply, checkpoint, query, this.#page, tag) };
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
    return { checkpoint: this.#summary(checkpoint, reply.behind), patients };
  }

  #notices(path: string): Promise<NoticesResult> {
    return this.#serially(() => this.#noticesOnce(path));
  }

  async #noticesOnce(path: string): Promise<NoticesResult> {
    const reply = await this.http.call<NoticesReplyBody>(
      "POST",
      this.#atQuorum(path),
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
    return { notices, checkpoint: this.#summary(checkpoint, reply.behind) };
  }

  /** Who read my trail and who was refused (patients), verified and decrypted. */
  async queryHistory(): Promise<OpenedNotice[]> {
    return (await this.#notices("/v1/query-history")).notices;
  }

  /** The same, with the checkpoint it was verified against. */
  async queryHistoryWithCheckpoint(): Promise<NoticesResult> {
    return this.#notices("/v1/query-history");
  }

  /** Every refused request sealed to the privacy office (custodians), verified and decrypted. */
  async officeRefusals(): Promise<NoticesResult> {
    return this.#notices("/v1/office/refusals");
  }

  /**
   * The newest staff directory sealed to this reader (names, roles and departments for user IDs),
   * verified against the checkpoint and opened; `directory` is undefined when none reaches this reader.
   */
  staffDirectory(): Promise<{ directory?: StaffDirectory; checkpoint: NoticesResult["checkpoint"] }> {
    return this.#serially(async () => {
      const reply = await this.http.call<NoticesReplyBody>(
        "POST",
        this.#atQuorum("/v1/staff-directory"),
        this.#state.trusted ? { trustedSize: this.#state.trusted.size } : {},
      );
      const checkpoint = this.#checkpoint(reply.checkpoint, reply.consistency);
      const items = verifyItems(reply.items, checkpoint);
      if (items.length > 1)
        throw new VerificationError(
          "TAMPERED_ENTRY",
          "the node sent more than one staff directory",
          items[1]!.index,
        );
      let directory: StaffDirectory | undefined;
      const item = items[0];
      if (item) {
        try {
          directory = openStaffDirectory(item, this.#key);
        } catch (error) {
          if (error instanceof CustosError)
            throw new VerificationError(error.code, error.message, item.index);
          throw error;
        }
        if (!directory)
          throw new VerificationError(
            "TAMPERED_ENTRY",
            `the staff directory in entry ${item.index} is not sealed to this reader`,
            item.index,
          );
      }
      this.#trust(checkpoint);
      return { ...(directory ? { directory } : {}), checkpoint: this.#summary(checkpoint, reply.behind) };
    });
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
    }>("GET", this.#atQuorum(`/v1/receipt/${index}`));
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
      const note = await this.http
        .call<string>("GET", this.#atQuorum("/v1/checkpoint"))
        .catch(() => undefined);
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

export { VerificationError };
