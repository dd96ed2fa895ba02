// A node's encrypted-records service over its data directory: seals incoming records into the log,
// reads a patient's trail for a reader holding its private key, lets the custodian re-grant or
// recover access, reports key status, and erases content under a signed erasure entry.

import { join } from "node:path";
import {
  accessRecordFromEntry,
  contentHashOf,
  decodeAccessRecordEntry,
  decodeEntry,
  ENTRY_KINDS,
  type ErasureReason,
  encodeErasureEntry,
  keyEnvelopeFromEntry,
  MAX_ERASED_PER_ENTRY,
} from "../core/entry/index.js";
import { CustosError, constantTimeEqual, fromHex, fromUtf8, randomBytes, toHex } from "../core/index.js";
import { leafHash } from "../core/merkle/index.js";
import { type AuditRecord, parseRecordInput, parseRecordValue } from "../core/record/index.js";
import { collectGarbage } from "../crypto/index.js";
import { Keystore, type MasterKeyProvider } from "../crypto/keystore/index.js";
import type { AppendResult, Ledger } from "../ledger/index.js";
import { KEYSTORE_FILE_NAME, openLogReadOnly, openLogWritable } from "../ledger/index.js";
import { BlindIndex } from "./blind-index.js";
import { EpochKeyCache } from "./epoch-keys.js";
import { Holds } from "./holds.js";
import { type LegacyDirectory, legacyDirectoryIsEmpty, parseLegacyDirectory } from "./legacy-directory.js";
import { PrepPool } from "./prep-pool.js";
import { type PreparedRecord, prepareRecord, wipePrepared } from "./prepared-record.js";
import type { Recipient, RecipientDirectory } from "./recipients.js";
import type { OpenedRecord, RecordOpener, StoredItem } from "./record-opener.js";
import { RecordSealer } from "./record-sealer.js";

export const BLIND_INDEX_SECRET = "blind-index-key";
/**
 * Where releases before the single identity model kept their reader directory (party keys and grants
 * outside the log). Read only to refuse a data directory that still depends on it (docs/identity.md).
 */
export const LEGACY_DIRECTORY_SECRET = "reader-directory";
/** Entries (and their contents) read per store call when a patient's items are gathered. */
const ITEMS_PER_READ = 4096;

export interface VaultOptions {
  /** PostgreSQL URL of the log (default: SQLite in the data directory). */
  readonly db?: string;
  readonly epochMs?: number;
  readonly checkpointIntervalMs?: number;
  readonly now?: () => number;
  /**
   * Who may read a patient's records: the identity registry folded from the log, which
   * src/identity/deployment.ts passes (the only source of enrollments and grants).
   */
  readonly readers: (
    ledger: Ledger,
    patientTag: (patientId: string) => Uint8Array,
  ) => Promise<RecipientDirectory>;
  /**
   * Open the log without sequencing (a standby node beside another node's sequencer on PostgreSQL):
   * reads work, appends fail.
   */
  readonly readOnly?: boolean;
  /**
   * Open a data directory that still holds the retired party-key directory: only for creating its CA
   * and for `custos keys upgrade`, which moves it into the registry.
   */
  readonly allowLegacyDirectory?: boolean;
  /**
   * Worker threads that parse, validate and prepare submitted records (prep-pool.ts); 0 or absent:
   * on the calling thread. A node passes its --prep-workers (default: one per core).
   */
  readonly prepWorkers?: number;
}

export interface TrailQuery {
  readonly from?: number;
  readonly to?: number;
  readonly limit?: number;
}

export interface KeyStatus {
  readonly epochs: number;
  readonly envelopes: number;
  readonly readers: { readonly role: string; readonly fingerprint: string; readonly epochs: number }[];
  readonly records: number;
  readonly erasedItems: number;
}

/** Adds the records layer's secrets to a freshly initialized data directory. */
export async function initVaultSecrets(keystore: Keystore): Promise<void> {
  if (!keystore.has(BLIND_INDEX_SECRET)) await keystore.set(BLIND_INDEX_SECRET, randomBytes(32));
}

/**
 * Whether the keystore still holds a reader directory with parties in it: such a data directory was
 * written with the retired party-key model and must be upgraded before use (`custos keys upgrade`).
 * An empty directory (every data directory a release before this one initialized) is no obstacle.
 */
export function legacyDirectoryIn(keystore: Keystore): LegacyDirectory | undefined {
  if (!keystore.has(LEGACY_DIRECTORY_SECRET)) return undefined;
  const directory = parseLegacyDirectory(fromUtf8(keystore.get(LEGACY_DIRECTORY_SECRET)));
  return legacyDirectoryIsEmpty(directory) ? undefined : directory;
}

/** What to do with a data directory of the party-key model: the one-time upgrade, in order. */
export function legacyDirectoryMessage(dir: string): string {
  return `${dir} still keeps its readers in the retired party-key directory; upgrade it to the identity registry: \`custos ca init --data ${dir} --deployment NAME\` (once), then \`custos keys upgrade --data ${dir} --custodian-key CUSTODIAN_KEY_FILE --custodian-key-passphrase-file FILE --out DIR\` (docs/identity.md)`;
}

export class Vault {
  readonly ledger: Ledger;
  readonly sealer: RecordSealer;
  readonly #blindIndex: BlindIndex;
  readonly #keystore: Keystore;
  readonly #now: () => number;
  readonly #prepPool: PrepPool | undefined;

  private constructor(
    ledger: Ledger,
    keystore: Keystore,
    blindIndex: BlindIndex,
    options: VaultOptions,
    readers: RecipientDirectory,
  ) {
    this.ledger = ledger;
    this.#keystore = keystore;
    this.#blindIndex = blindIndex;
    this.#now = options.now ?? Date.now;
    if (options.prepWorkers !== undefined && options.prepWorkers > 0 && !options.readOnly) {
      const key = keystore.get(BLIND_INDEX_SECRET);
      try {
        this.#prepPool = new PrepPool(key, options.prepWorkers);
      } finally {
        key.fill(0);
      }
    }
    this.sealer = new RecordSealer({
      blindIndex,
      directory: readers,
      log: ledger,
      epochs: new EpochKeyCache({
        ...(options.epochMs ? { periodMs: options.epochMs } : {}),
        now: this.#now,
        onSwept: collectGarbage,
      }),
      now: this.#now,
      lastRecord: (tag) => lastRecordOf(ledger, tag),
    });
  }

  static async open(dir: string, masterKey: MasterKeyProvider, options: VaultOptions): Promise<Vault> {
    const keystore = await Keystore.open(join(dir, KEYSTORE_FILE_NAME), masterKey);
    if (!options.allowLegacyDirectory && legacyDirectoryIn(keystore))
      throw new CustosError("CONFIG", legacyDirectoryMessage(dir));
    if (!keystore.has(BLIND_INDEX_SECRET)) await initVaultSecrets(keystore);
    const blindIndex = new BlindIndex(keystore.get(BLIND_INDEX_SECRET));
    const ledger = options.readOnly
      ? await openLogReadOnly(dir, options.db ? { db: options.db } : {})
      : await openLogWritable(dir, masterKey, {
          ...(options.checkpointIntervalMs ? { checkpointIntervalMs: options.checkpointIntervalMs } : {}),
          ...(options.db ? { db: options.db } : {}),
        });
    const readers = await options.readers(ledger, (patientId) => blindIndex.patientTag(patientId));
    return new Vault(ledger, keystore, blindIndex, options, readers);
  }

  /** Seals validated records and appends them as one atomic group; resolves once durable. */
  /** Appends in flight, by idempotency key (hex): a concurrent replay waits for the original. */
  readonly #inFlight = new Map<string, Promise<void>>();

  /**
   * Seals validated records and appends them as one atomic group; resolves once durable. Replays (a
   * source event ID already in the log, in flight, or repeated in the batch) get the original index
   * back and are never sealed, so they use up no record number in the patient's trail.
   */
  async ingest(records: readonly AuditRecord[], source: string): Promise<AppendResult[]> {
    return this.ingestPrepared(
      records.map((record) => prepareRecord(record, source, this.#blindIndex)),
      source,
    );
  }

  /**
   * Parses and validates a submission (its text, JSON or NDJSON, or its parsed JSON value) and
   * prepares its records for `source`: on the prep workers when the vault has them, else here.
   * Nothing is stored; INVALID_RECORD names the first bad record.
   */
  async prepare(input: unknown, source: string): Promise<PreparedRecord[]> {
    if (this.#prepPool) return this.#prepPool.prepare(input, source);
    const records = typeof input === "string" ? parseRecordInput(input) : parseRecordValue(input);
    return records.map((record) => prepareRecord(record, source, this.#blindIndex));
  }

  /** Worker threads preparing records (0: none, records are prepared on the calling thread). */
  get prepWorkers(): number {
    return this.#prepPool?.size ?? 0;
  }

  /**
   * The same for records already prepared (prepared-record.ts; on worker threads: prep-pool.ts) for
   * this source. Their canonical encodings are zero-filled once done, sealed or not.
   */
  async ingestPrepared(records: readonly PreparedRecord[], source: string): Promise<AppendResult[]> {
    try {
      return await this.#ingest(records, source);
    } finally {
      wipePrepared(records);
    }
  }

  async #ingest(records: readonly PreparedRecord[], source: string): Promise<AppendResult[]> {
    const keys = records.map((r) => (r.eventKey === undefined ? undefined : toHex(r.eventKey)));
    const unique = [...new Set(keys.filter((k): k is string => k !== undefined))];
    // Wait for any append in flight with one of these keys, then claim them (synchronously) until done.
    for (;;) {
      const pending = unique.map((k) => this.#inFlight.get(k)).filter((p) => p !== undefined);
      if (pending.length === 0) break;
      await Promise.allSettled(pending);
    }
    let release: () => void = () => undefined;
    const claim = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (const key of unique) this.#inFlight.set(key, claim);
    let known: Map<string, number>;
    const firstInBatch = new Map<string, number>();
    const fresh: number[] = [];
    let appended: AppendResult[] = [];
    try {
      known = await this.ledger.store.findIdempotencyKeys(unique.map(fromHex));
      records.forEach((_, i) => {
        const key = keys[i];
        if (key === undefined) fresh.push(i);
        else if (!known.has(key) && !firstInBatch.has(key)) {
          firstInBatch.set(key, i);
          fresh.push(i);
        }
      });
      this.#refuseConflicts(
        records,
        keys,
        known,
        firstInBatch,
        await this.#storedDigests(keys, known, firstInBatch),
      );
      if (fresh.length > 0) {
        appended = await this.sealer.sealAndAppend(
          fresh.map((i) => records[i]!),
          source,
        );
      }
    } finally {
      for (const key of unique) if (this.#inFlight.get(key) === claim) this.#inFlight.delete(key);
      release();
    }
    const byRecord = new Map<number, AppendResult>();
    fresh.forEach((recordIndex, j) => {
      byRecord.set(recordIndex, appended[j]!);
    });
    const results: AppendResult[] = [];
    for (let i = 0; i < records.length; i++) {
      const own = byRecord.get(i);
      if (own) {
        results.push(own);
        continue;
      }
      const key = keys[i]!;
      const index = known.get(key) ?? byRecord.get(firstInBatch.get(key)!)!.index;
      const entry = await this.ledger.getEntry(index);
      results.push({ index, leafHash: leafHash(entry.data), duplicate: true });
    }
    return results;
  }

  /**
   * A replayed source event ID must carry the record it first came with: CONFLICT (nothing written)
   * when a replay differs from the stored record (compared by keyed digest; records written before
   * digests existed cannot be compared and stay plain duplicates) or from its first copy in the batch.
   */
  async #storedDigests(
    keys: readonly (string | undefined)[],
    known: ReadonlyMap<string, number>,
    firstInBatch: ReadonlyMap<string, number>,
  ): Promise<Map<number, Uint8Array | undefined>> {
    const stored = new Map<number, Uint8Array | undefined>();
    for (const key of keys) {
      if (key === undefined || firstInBatch.has(key)) continue;
      const index = known.get(key)!;
      if (stored.has(index)) continue;
      const { header } = decodeAccessRecordEntry((await this.ledger.getEntry(index)).data);
      stored.set(index, header.eventDigest);
    }
    return stored;
  }

  #refuseConflicts(
    records: readonly PreparedRecord[],
    keys: readonly (string | undefined)[],
    known: ReadonlyMap<string, number>,
    firstInBatch: ReadonlyMap<string, number>,
    stored: ReadonlyMap<number, Uint8Array | undefined>,
  ): void {
    for (let i = 0; i < records.length; i++) {
      const key = keys[i];
      if (key === undefined) continue;
      const first = firstInBatch.get(key);
      let against: Uint8Array | undefined;
      let where: string;
      if (first !== undefined) {
        if (first === i) continue;
        against = records[first]!.eventDigest;
        where = `record ${first + 1} of this request`;
      } else {
        const index = known.get(key)!;
        against = stored.get(index);
        where = `entry ${index}`;
      }
      if (against !== undefined && !constantTimeEqual(against, records[i]!.eventDigest!)) {
        throw new CustosError(
          "CONFLICT",
          `record ${i + 1}: its sourceEventId was already recorded (${where}) with different content; a replay must repeat the record exactly, and a new event needs a new sourceEventId`,
        );
      }
    }
  }

  /** Starts new epochs for a patient (or everyone) at the next record. */
  rotate(patientId?: string): void {
    this.sealer.epochs.rotate(patientId === undefined ? undefined : this.#blindIndex.patientTag(patientId));
  }

  patientTag(patientId: string): Uint8Array {
    return this.#blindIndex.patientTag(patientId);
  }

  /** Every stored entry filed under the patient's tag (records and key envelopes), in log order. */
  async patientItems(patientId: string, query: TrailQuery = {}): Promise<StoredItem[]> {
    return this.itemsByTag(this.#blindIndex.patientTag(patientId), query);
  }

  /** The same by patient tag: what a node can name a patient by without knowing the ID. */
  async itemsByTag(tag: Uint8Array, query: TrailQuery = {}): Promise<StoredItem[]> {
    const indexes = await this.ledger.store.findByLookupKey({ key: tag, limit: query.limit ?? 1_000_000 });
    return this.patientItemsAt(indexes);
  }

  /** Stored items (entry and content) at these indexes. */
  async patientItemsAt(indexes: readonly number[]): Promise<StoredItem[]> {
    const items: StoredItem[] = [];
    // A batched read of entries, then of their contents, per chunk: a few round trips in all.
    for (let start = 0; start < indexes.length; start += ITEMS_PER_READ) {
      const entries = await this.ledger.getEntriesAt(indexes.slice(start, start + ITEMS_PER_READ));
      const hashes = entries.map((entry) => contentHashOf(decodeEntry(entry.data)));
      const contents = await this.ledger.store.getContents(
        hashes.filter((hash): hash is Uint8Array => hash !== undefined),
      );
      let nextContent = 0;
      entries.forEach((entry, i) => {
        items.push({
          index: entry.index,
          entry: entry.data,
          content: hashes[i] === undefined ? undefined : contents[nextContent++],
        });
      });
    }
    return items;
  }

  /** A reader's view of a patient's trail, decrypted with the reader's own key, newest first. */
  async readTrail(
    patientId: string,
    opener: RecordOpener,
    query: TrailQuery = {},
  ): Promise<{ records: OpenedRecord[]; notReadable: number[] }> {
    const items = await this.patientItems(patientId);
    const { records, notReadable } = opener.openAll(items);
    const inRange = records.filter((r) => {
      const t = Date.parse(r.record.time);
      return (query.from === undefined || t >= query.from) && (query.to === undefined || t < query.to);
    });
    // Newest first by the time of the access (the log's order is the order of arrival).
    inRange.sort((a, b) => Date.parse(b.record.time) - Date.parse(a.record.time) || b.index - a.index);
    return { records: inRange.slice(0, query.limit ?? inRange.length), notReadable };
  }

  async keyStatus(patientId: string): Promise<KeyStatus> {
    const items = await this.patientItems(patientId);
    const epochs = new Set<string>();
    const readers = new Map<string, { role: string; fingerprint: string; epochs: Set<string> }>();
    let envelopes = 0;
    let records = 0;
    let erasedItems = 0;
    for (const item of items) {
      const entry = decodeEntry(item.entry);
      if (item.content === undefined) erasedItems++;
      if (entry.kind === ENTRY_KINDS.keyEnvelope) {
        const { header } = keyEnvelopeFromEntry(entry);
        envelopes++;
        const epoch = toHex(header.epochId);
        epochs.add(epoch);
        const fingerprint = toHex(header.recipient);
        const reader = readers.get(fingerprint) ?? {
          role: header.role,
          fingerprint,
          epochs: new Set<string>(),
        };
        reader.epochs.add(epoch);
        readers.set(fingerprint, reader);
      } else if (entry.kind === ENTRY_KINDS.accessRecord) {
        records++;
        epochs.add(toHex(accessRecordFromEntry(entry).header.epochId));
      }
    }
    return {
      epochs: epochs.size,
      envelopes,
      records,
      erasedItems,
      readers: [...readers.values()].map((r) => ({
        role: r.role,
        fingerprint: r.fingerprint,
        epochs: r.epochs.size,
      })),
    };
  }

  /**
   * Erases a patient's encrypted content (records and wrapped keys): first a signed erasure entry
   * naming every content hash and the reason, then the content itself. The log stays verifiable.
   */
  async erase(
    patientId: string,
    reason: ErasureReason,
    authorizedBy: string,
  ): Promise<{ erased: number; entries: number }> {
    (await Holds.load(this.ledger.store)).refuse(this.#blindIndex.patientTag(patientId), "erasure");
    const items = await this.patientItems(patientId);
    const hashes: Uint8Array[] = [];
    // Entries naming content: their trail copies are cleared too (also of content already gone, so
    // erasing again repairs a copy that outlived its content).
    const indexes: number[] = [];
    for (const item of items) {
      const hash = contentHashOf(decodeEntry(item.entry));
      if (hash === undefined) continue;
      indexes.push(item.index);
      if (item.content !== undefined) hashes.push(hash);
    }
    if (hashes.length === 0) {
      if (indexes.length > 0) await this.ledger.store.deleteContent([], indexes);
      return { erased: 0, entries: 0 };
    }
    this.rotate(patientId);
    const subject = `patient-tag:${toHex(this.#blindIndex.patientTag(patientId))}`;
    const erasures = [];
    for (let i = 0; i < hashes.length; i += MAX_ERASED_PER_ENTRY) {
      erasures.push({
        entry: encodeErasureEntry({
          time: this.#now(),
          reason,
          subject,
          contentHashes: hashes.slice(i, i + MAX_ERASED_PER_ENTRY),
          authorizedBy,
        }),
      });
    }
    await this.ledger.append(erasures);
    await this.ledger.store.deleteContent(hashes, indexes);
    return { erased: hashes.length, entries: erasures.length };
  }

  /** The node's keystore (sealed under the master key). */
  get keystore(): Keystore {
    return this.#keystore;
  }

  async close(): Promise<void> {
    this.sealer.epochs.close(); // keys zero-filled, sweep timer stopped
    await this.#prepPool?.close(); // the workers' key copies zero-filled
    await this.ledger.close();
  }
}

/**
 * A patient's latest access record in the log: its seq (absent if written before seqs) and leaf hash.
 * Records of concurrent batches can land slightly out of order, so the highest number among the
 * newest records found is taken, not simply the newest by position.
 */
export async function lastRecordOf(
  ledger: Ledger,
  tag: Uint8Array,
): Promise<{ seq?: number; leaf: Uint8Array } | undefined> {
  let toIndex: number | undefined;
  let best: { seq?: number; leaf: Uint8Array } | undefined;
  for (;;) {
    const indexes = await ledger.store.findByLookupKey({
      key: tag,
      descending: true,
      limit: 256,
      ...(toIndex === undefined ? {} : { toIndex }),
    });
    if (indexes.length === 0) return best;
    for (const stored of await ledger.store.getEntriesAt(indexes)) {
      const entry = decodeEntry(stored.data);
      if (entry.kind !== ENTRY_KINDS.accessRecord) continue;
      const { seq } = accessRecordFromEntry(entry).header;
      if (best === undefined) best = { ...(seq === undefined ? {} : { seq }), leaf: leafHash(stored.data) };
      else if (seq !== undefined && (best.seq === undefined || seq > best.seq))
        best = { seq, leaf: leafHash(stored.data) };
    }
    // Once a record is found, the chunk it came in covers any records that landed around it.
    if (best !== undefined || indexes.length < 256) return best;
    toIndex = indexes[indexes.length - 1];
  }
}

export function requireRecipient(recipient: Recipient | undefined, what: string): Recipient {
  if (recipient === undefined) throw new CustosError("NOT_FOUND", `${what} is not enrolled`);
  return recipient;
}
