// The reader's side: with its own X25519 private key, a reader (patient, auditor, custodian) unwraps
// the epoch keys addressed to it and opens the records sealed under them. Anything that fails to
// open is reported as tampering or a wrong key, naming the entry; garbage is never returned.

import {
  accessRecordAad,
  accessRecordFromEntry,
  decodeEntry,
  ENTRY_KINDS,
  keyEnvelopeAad,
  keyEnvelopeFromEntry,
} from "../core/entry/index.js";
import { bytesEqual, CustosError, sha256, toHex } from "../core/index.js";
import { type AuditRecord, decodeRecord } from "../core/record/index.js";
import { aesGcmOpen } from "../crypto/browser.js";
import { HpkeReceiver } from "../crypto/hpke/index.js";
import { recipientFingerprint } from "./recipients.js";
import { EPOCH_KEY_INFO } from "./record-sealer.js";

export interface StoredItem {
  readonly index: number;
  readonly entry: Uint8Array;
  /** Content beside the tree; undefined if erased or missing. */
  readonly content: Uint8Array | undefined;
}

export interface OpenedRecord {
  readonly index: number;
  readonly record: AuditRecord;
  readonly source: string;
}

export class RecordOpener {
  readonly #receiver: HpkeReceiver;
  readonly fingerprint: Uint8Array;
  /** Unwrapped data keys by epoch id (hex). */
  readonly #keys = new Map<string, Uint8Array>();

  constructor(privateKey: Uint8Array) {
    this.#receiver = new HpkeReceiver(privateKey);
    this.fingerprint = recipientFingerprint(this.#receiver.publicKey);
  }

  /** Unwraps an envelope if it is addressed to this reader; returns whether it was. */
  addEnvelope(item: StoredItem): boolean {
    const { header, contentHash } = keyEnvelopeFromEntry(decodeEntry(item.entry));
    if (!bytesEqual(header.recipient, this.fingerprint)) return false;
    const content = checkedContent(item, contentHash, "wrapped key");
    if (content.length !== 32 + 48) {
      throw new CustosError("TAMPERED_ENTRY", `entry ${item.index}: the wrapped key has the wrong length`);
    }
    let dataKey: Uint8Array;
    try {
      dataKey = this.#receiver.open(
        content.subarray(0, 32),
        EPOCH_KEY_INFO,
        keyEnvelopeAad(header),
        content.subarray(32),
      );
    } catch (error) {
      throw new CustosError(
        "DECRYPTION_FAILED",
        `entry ${item.index}: the wrapped key does not open with this key: it was tampered with or is not addressed to this key`,
        { cause: error },
      );
    }
    this.#keys.set(toHex(header.epochId), dataKey);
    return true;
  }

  hasEpoch(epochId: Uint8Array): boolean {
    return this.#keys.has(toHex(epochId));
  }

  /** Opens one access record entry. Throws DECRYPTION_FAILED / TAMPERED_ENTRY naming the entry. */
  openRecord(item: StoredItem): OpenedRecord {
    const entry = decodeEntry(item.entry);
    if (entry.kind !== ENTRY_KINDS.accessRecord) {
      throw new CustosError("BAD_ARGUMENT", `entry ${item.index} is not an access record`);
    }
    const { header, contentHash } = accessRecordFromEntry(entry);
    const dataKey = this.#keys.get(toHex(header.epochId));
    if (dataKey === undefined) {
      throw new CustosError("NOT_AUTHORIZED", `entry ${item.index}: no key of this reader opens its epoch`);
    }
    const content = checkedContent(item, contentHash, "record");
    let plaintext: Uint8Array;
    try {
      plaintext = aesGcmOpen(dataKey, content.subarray(0, 12), accessRecordAad(header), content.subarray(12));
    } catch (error) {
      throw new CustosError(
        "DECRYPTION_FAILED",
        `entry ${item.index}: the record does not decrypt: it was tampered with or moved under another header`,
        { cause: error },
      );
    }
    try {
      return { index: item.index, record: decodeRecord(plaintext), source: header.source };
    } finally {
      plaintext.fill(0);
    }
  }

  /**
   * Opens everything addressed to this reader among items. Records of epochs this reader holds no
   * key for (outside a grant's period) are listed as not readable; tampering throws.
   */
  openAll(items: readonly StoredItem[]): {
    records: OpenedRecord[];
    notReadable: number[];
    erased: number[];
  } {
    // Content the store no longer holds was erased (retention, an erasure request): its entry still
    // proves the record existed; `custos verify` checks that a signed erasure entry covers it.
    for (const item of items)
      if (decodeEntry(item.entry).kind === ENTRY_KINDS.keyEnvelope && item.content !== undefined)
        this.addEnvelope(item);
    const records: OpenedRecord[] = [];
    const notReadable: number[] = [];
    const erased: number[] = [];
    for (const item of items) {
      const entry = decodeEntry(item.entry);
      if (entry.kind !== ENTRY_KINDS.accessRecord) continue;
      if (item.content === undefined) {
        erased.push(item.index);
        notReadable.push(item.index);
      } else if (!this.hasEpoch(accessRecordFromEntry(entry).header.epochId)) notReadable.push(item.index);
      else records.push(this.openRecord(item));
    }
    return { records, notReadable, erased };
  }

  /** Zero-fills every data key this reader unwrapped: call once done reading. */
  dispose(): void {
    for (const key of this.#keys.values()) key.fill(0);
    this.#keys.clear();
  }

  /** The data keys this reader holds, by epoch id (hex): the custodian re-wraps them. */
  epochKey(epochId: Uint8Array): Uint8Array | undefined {
    return this.#keys.get(toHex(epochId));
  }
}

function checkedContent(item: StoredItem, contentHash: Uint8Array, what: string): Uint8Array {
  if (item.content === undefined) {
    throw new CustosError(
      "TAMPERED_ENTRY",
      `entry ${item.index}: the ${what} is missing from the store (erased or deleted)`,
    );
  }
  if (!bytesEqual(sha256(item.content), contentHash)) {
    throw new CustosError(
      "TAMPERED_ENTRY",
      `entry ${item.index}: the stored ${what} was altered (its hash does not match the log)`,
    );
  }
  return item.content;
}
