// Turns audit records given in clear into log entries only their readers can open:
//   record  -> AES-256-GCM under the (patient, epoch) data key, header as associated data
//   epoch   -> the data key HPKE-wrapped once per reader (patient, granted auditors, custodian),
//              each wrapped key a keyEnvelope entry of its own.
// A new epoch's envelopes are committed to the log before any record sealed under it is appended,
// so a record can never land without the keys to read it.

import {
  type AccessRecordHeader,
  accessRecordAad,
  encodeAccessRecordEntry,
  encodeKeyEnvelopeEntry,
  epochLookupKey,
  hourOf,
  type KeyEnvelopeHeader,
  keyEnvelopeAad,
} from "../core/entry/index.js";
import { CustosError, concatBytes, randomBytes, sha256, toHex, utf8 } from "../core/index.js";
import { leafHash } from "../core/merkle/index.js";
import type { AuditRecord } from "../core/record/index.js";
import { aesGcmSeal } from "../crypto/browser.js";
import { sealBase } from "../crypto/hpke/index.js";
import type { AppendItem, AppendOptions, AppendResult } from "../ledger/index.js";
import type { BlindIndex } from "./blind-index.js";
import { type EpochKey, EpochKeyCache, type TrailLine, type TrailPosition } from "./epoch-keys.js";
import { type PreparedRecord, prepareRecord, wipePrepared } from "./prepared-record.js";
import {
  type Recipient,
  type RecipientDirectory,
  readerSetDigest,
  recipientFingerprint,
} from "./recipients.js";

/** HPKE info string for wrapping epoch data keys. */
export const EPOCH_KEY_INFO = utf8("custos epoch key v1");

export interface Appender {
  append(items: readonly AppendItem[], options?: AppendOptions): Promise<AppendResult[]>;
}

export interface RecordSealerOptions {
  readonly blindIndex: BlindIndex;
  readonly directory: RecipientDirectory;
  readonly log: Appender;
  readonly epochs?: EpochKeyCache;
  readonly now?: () => number;
  /**
   * The patient's latest access record in the log (undefined: none): its number and leaf hash, so the
   * trail's numbering and hash chain continue from it (`lastRecordOf` in vault.ts). Required: the
   * cache forgets the positions of patients idle longest, and a patient whose position is forgotten
   * must continue from the log, not from 0 (that would fork the trail: TRAIL_FORKED).
   */
  readonly lastRecord: (patientTag: Uint8Array) => Promise<{ seq?: number; leaf: Uint8Array } | undefined>;
}

export interface SealStats {
  readonly wraps: number;
  readonly records: number;
}

/** Wraps a data key for one reader as a keyEnvelope entry (also used by the custodian to re-grant). */
export function wrapForReader(
  epoch: { epochId: Uint8Array; patientTag: Uint8Array; dataKey: Uint8Array },
  reader: Recipient,
  reason: KeyEnvelopeHeader["reason"],
): AppendItem {
  const recipient = recipientFingerprint(reader.encryptionKey);
  const header: KeyEnvelopeHeader = {
    epochId: epoch.epochId,
    patientTag: epoch.patientTag,
    recipient,
    role: reader.role,
    reason,
  };
  const { enc, ciphertext } = sealBase(
    reader.encryptionKey,
    EPOCH_KEY_INFO,
    keyEnvelopeAad(header),
    epoch.dataKey,
  );
  const content = concatBytes(enc, ciphertext);
  return {
    entry: encodeKeyEnvelopeEntry(header, sha256(content)),
    content,
    lookupKeys: [epoch.patientTag, recipient, epochLookupKey(epoch.epochId)],
  };
}

export class RecordSealer {
  readonly #blindIndex: BlindIndex;
  readonly #directory: RecipientDirectory;
  readonly #log: Appender;
  readonly #now: () => number;
  readonly #lastRecord: RecordSealerOptions["lastRecord"];
  readonly epochs: EpochKeyCache;
  /** Epochs whose envelopes are being committed, by patient tag: concurrent callers share it. */
  readonly #starting = new Map<string, Promise<void>>();
  #wraps = 0;
  #records = 0;

  constructor(options: RecordSealerOptions) {
    this.#blindIndex = options.blindIndex;
    this.#directory = options.directory;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#lastRecord = options.lastRecord;
    this.epochs = options.epochs ?? new EpochKeyCache({ now: this.#now });
  }

  /** Patient tags of recently seen patients (bounded), so a warm record costs no HMAC for its tag. */
  readonly #tags = new Map<string, Uint8Array>();

  #patientTag(patientId: string): Uint8Array {
    let tag = this.#tags.get(patientId);
    if (tag === undefined) {
      tag = this.#blindIndex.patientTag(patientId);
      if (this.#tags.size >= 100_000) this.#tags.delete(this.#tags.keys().next().value!);
      this.#tags.set(patientId, tag);
    }
    return tag;
  }

  stats(): SealStats {
    return { wraps: this.#wraps, records: this.#records };
  }

  /**
   * Seals records (already validated) from one source into append items, starting and committing
   * new epochs as needed. The caller appends the items as one group.
   */
  async seal(records: readonly AuditRecord[], source: string): Promise<AppendItem[]> {
    const prepared = records.map((record) => prepareRecord(record, source, this.#blindIndex));
    try {
      return (await this.#seal(prepared, source)).items;
    } finally {
      wipePrepared(prepared);
    }
  }

  /**
   * Seals records and appends them to the log as one group; resolves once they are durable. Records
   * link to the patient's record sealed before them, which may still be waiting to be written: if a
   * group fails, every later group of the same patients' numbering (the same line) is refused too,
   * and the numbering is read again from the log, so the trail never links to a record not in it.
   */
  async sealAndAppend(records: readonly PreparedRecord[], source: string): Promise<AppendResult[]> {
    const { items, lines } = await this.#seal(records, source);
    // From seal to append without a pause: groups reach the log in the order their numbers were given.
    let failed = false;
    const onFailure = (): void => {
      if (failed) return;
      failed = true;
      for (const [line, tag] of lines) {
        line.broken = true;
        this.epochs.forgetLine(tag, line);
      }
    };
    const precondition = (): void => {
      for (const line of lines.keys()) {
        if (line.broken) {
          throw new CustosError(
            "STORE_BUSY",
            "an earlier group of this patient's records failed to land, so these were not written; retry",
          );
        }
      }
    };
    try {
      return await this.#log.append(items, { precondition, onFailure });
    } catch (error) {
      onFailure();
      throw error;
    }
  }

  async #seal(
    records: readonly PreparedRecord[],
    source: string,
  ): Promise<{ items: AppendItem[]; lines: Map<TrailLine, Uint8Array> }> {
    const patients = new Map<string, { patientId: string; tag: Uint8Array }>();
    for (const record of records) {
      if (!patients.has(record.patientId)) {
        patients.set(record.patientId, {
          patientId: record.patientId,
          tag: this.#patientTag(record.patientId),
        });
      }
    }
    // Every patient of the batch needs a live epoch at once, while its records are sealed.
    if (patients.size > this.epochs.maxLive) {
      throw new CustosError(
        "BAD_ARGUMENT",
        `the batch names ${patients.size} patients; at most ${this.epochs.maxLive} can be sealed together: split it`,
      );
    }
    // Readers are looked up once per patient per call; a change of readers starts a new epoch.
    const readers = new Map<string, { list: readonly Recipient[]; digest: string }>();
    const now = this.#now();
    for (const { patientId } of patients.values()) {
      const list = await this.#directory.readersOf(patientId, now);
      checkReaders(list);
      readers.set(patientId, { list, digest: readerSetDigest(list) });
    }
    for (let attempt = 0; ; attempt++) {
      await Promise.all(
        [...patients.values()].map(({ patientId, tag }) => this.#ensureEpoch(tag, readers.get(patientId)!)),
      );
      // From here to the end everything is synchronous, so no epoch can end while records use its key.
      const epochs = new Map<string, EpochKey>();
      let missing = false;
      for (const { patientId, tag } of patients.values()) {
        const epoch = this.epochs.peek(tag, readers.get(patientId)!.digest);
        if (epoch === undefined) missing = true;
        else epochs.set(patientId, epoch);
      }
      if (missing) {
        if (attempt >= 3) throw new CustosError("INTERNAL", "could not establish a key epoch");
        continue;
      }
      const items = records.map((record) => this.#sealRecord(record, source, epochs.get(record.patientId)!));
      this.#records += items.length;
      const lines = new Map<TrailLine, Uint8Array>();
      for (const epoch of epochs.values()) lines.set(epoch.line, epoch.patientTag);
      return { items, lines };
    }
  }

  #sealRecord(record: PreparedRecord, source: string, epoch: EpochKey): AppendItem {
    const seq = epoch.nextSeq++;
    const { eventKey, eventDigest } = record;
    // The encoded record is zero-filled once sealed (the caller's strings cannot be wiped in V8).
    const plaintext = record.plaintext;
    let header: AccessRecordHeader;
    let content: Uint8Array;
    try {
      header = {
        epochId: epoch.epochId,
        patientTag: epoch.patientTag,
        hour: hourOf(record.timeMs),
        source,
        seq,
        ...(seq > 0 && epoch.prev !== undefined ? { prev: epoch.prev } : {}),
        ...(eventKey === undefined || eventDigest === undefined ? {} : { eventKey, eventDigest }),
      };
      const nonce = randomBytes(12);
      content = concatBytes(nonce, aesGcmSeal(epoch.dataKey, nonce, accessRecordAad(header), plaintext));
    } finally {
      plaintext.fill(0);
    }
    const entry = encodeAccessRecordEntry(header, sha256(content));
    epoch.prev = leafHash(entry);
    return {
      entry,
      content,
      lookupKeys: [epoch.patientTag],
      ...(eventKey === undefined ? {} : { idempotencyKey: eventKey }),
    };
  }

  async #positionFromLog(tag: Uint8Array): Promise<TrailPosition> {
    const last = await this.#lastRecord(tag);
    if (last === undefined) return { nextSeq: 0 };
    // A trail written before records were numbered restarts at 0 and links to nothing.
    return last.seq === undefined ? { nextSeq: 0 } : { nextSeq: last.seq + 1, prev: last.leaf };
  }

  async #ensureEpoch(
    tag: Uint8Array,
    readers: { list: readonly Recipient[]; digest: string },
  ): Promise<void> {
    const key = toHex(tag);
    if (this.epochs.peek(tag, readers.digest) !== undefined && !this.#starting.has(key)) {
      this.epochs.get(tag, readers.digest); // counted as a hit
      return;
    }
    const fromLog = this.epochs.positionOf(tag) === undefined ? await this.#positionFromLog(tag) : undefined;
    for (;;) {
      const starting = this.#starting.get(key);
      if (starting === undefined) break;
      await starting;
    }
    if (this.epochs.get(tag, readers.digest) !== undefined) return;
    const epoch = this.epochs.start(tag, readers.digest, this.epochs.positionOf(tag) ?? fromLog);
    const envelopes = readers.list.map((reader) => wrapForReader(epoch, reader, "epochStart"));
    this.#wraps += envelopes.length;
    const committed = this.#log.append(envelopes).then(
      () => undefined,
      (error: unknown) => {
        this.epochs.rotate(tag);
        throw error;
      },
    );
    this.#starting.set(key, committed);
    try {
      await committed;
    } finally {
      this.#starting.delete(key);
    }
  }
}

function checkReaders(readers: readonly Recipient[]): void {
  if (!readers.some((r) => r.role === "patient")) {
    throw new CustosError(
      "KEY_MISSING",
      "the patient has no enrolled encryption key; enroll the patient first",
    );
  }
  if (!readers.some((r) => r.role === "custodian")) {
    throw new CustosError("KEY_MISSING", "no custodian encryption key is configured");
  }
  for (const reader of readers) {
    if (reader.encryptionKey.length !== 32)
      throw new CustosError("BAD_KEY", `reader ${reader.id} has a malformed key`);
  }
}
