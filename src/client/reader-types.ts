// The shapes the verifying reader (trail-reader.ts) is given and returns: its transport, options and
// queries, the verified results, and the node's replies as they come off the wire. Browser-safe.

import type { TrailReplyBody, WireConsistency } from "../core/wire/index.js";
import type { OpenedNotice, OpenedRecord } from "../records/index.js";
import type { RecordFilter } from "./record-filter.js";
import type { TrustStore } from "./trust-store.js";
import type { Completeness, VerificationError } from "./verify-reply.js";

/** Sends one request to the node; JSON replies parsed, text replies (a checkpoint) as a string. */
export interface Transport {
  call<T>(method: "GET" | "POST", path: string, body?: unknown, contentType?: string): Promise<T>;
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
  /**
   * The node's word (not proven) that the log has a newer checkpoint than this one, which the
   * reader's witness quorum has not cosigned yet: entries past it, and since how many seconds.
   */
  readonly behind?: { readonly entries: number; readonly seconds: number };
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

/** The node's replies, typed by the very schemas it sends them with (core/wire). */
export type Consistency = WireConsistency;
export type TrailReply = TrailReplyBody;
