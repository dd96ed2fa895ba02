// The reader's side: with its own X25519 private key, a reader (patient, auditor, custodian) unwraps
// the epoch keys addressed to it and opens the records sealed under them. Anything that fails to
// open is reported as tampering or a wrong key, naming the entry; garbage is never returned.

import {
  type AccessRecordHeader,
  accessRecordAadOfEntry,
  accessRecordFromEntry,
  decodeEntry,
  ENTRY_KINDS,
  type Entry,
  type KeyEnvelopeHeader,
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
  /**
   * `entry` already decoded by the caller (a client verifying a reply decodes each entry once), so
   * it is not decoded again here. Must be the decoding of exactly these bytes.
   */
  readonly decoded?: DecodedEntry;
}

/** An entry decoded once, with its access record's or key envelope's view when it is one. */
export interface DecodedEntry {
  readonly entry: Entry;
  readonly accessRecord?: { readonly header: AccessRecordHeader; readonly contentHash: Uint8Array };
  readonly keyEnvelope?: { readonly header: KeyEnvelopeHeader; readonly contentHash: Uint8Array };
  /**
   * Set only by a caller that compared SHA-256 of the item's `content` with the hash the entry
   * commits to (and refused it on a mismatch): the opener then does not hash it a second time.
   */
  readonly contentChecked?: boolean;
}

/** The entry decoded (once: the caller's decoding if it passed one), with its kind's view. */
export function decodedOf(item: StoredItem): DecodedEntry {
  if (item.decoded !== undefined) return item.decoded;
  const entry = decodeEntry(item.entry);
  if (entry.kind === ENTRY_KINDS.accessRecord) return { entry, accessRecord: accessRecordFromEntry(entry) };
  if (entry.kind === ENTRY_KINDS.keyEnvelope) return { entry, keyEnvelope: keyEnvelopeFromEntry(entry) };
  return { entry };
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
  addEnvelope(item: StoredItem, decoded = decodedOf(item)): boolean {
    const { header, contentHash } = decoded.keyEnvelope ?? keyEnvelopeFromEntry(decoded.entry);
    if (!bytesEqual(header.recipient, this.fingerprint)) return false;
    const content = checkedContent(item, decoded, contentHash, "wrapped key");
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
  openRecord(item: StoredItem, decoded = decodedOf(item)): OpenedRecord {
    if (decoded.accessRecord === undefined) {
      throw new CustosError("BAD_ARGUMENT", `entry ${item.index} is not an access record`);
    }
    const { header, contentHash } = decoded.accessRecord;
    const dataKey = this.#keys.get(toHex(header.epochId));
    if (dataKey === undefined) {
      throw new CustosError("NOT_AUTHORIZED", `entry ${item.index}: no key of this reader opens its epoch`);
    }
    const content = checkedContent(item, decoded, contentHash, "record");
    let plaintext: Uint8Array;
    try {
      plaintext = aesGcmOpen(
        dataKey,
        content.subarray(0, 12),
        accessRecordAadOfEntry(item.entry),
        content.subarray(12),
      );
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
    const decoded = items.map(decodedOf);
    items.forEach((item, i) => {
      if (decoded[i]!.keyEnvelope !== undefined && item.content !== undefined)
        this.addEnvelope(item, decoded[i]);
    });
    const records: OpenedRecord[] = [];
    const notReadable: number[] = [];
    const erased: number[] = [];
    items.forEach((item, i) => {
      const view = decoded[i]!;
      if (view.accessRecord === undefined) return;
      if (item.content === undefined) {
        erased.push(item.index);
        notReadable.push(item.index);
      } else if (!this.hasEpoch(view.accessRecord.header.epochId)) notReadable.push(item.index);
      else records.push(this.openRecord(item, view));
    });
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

function checkedContent(
  item: StoredItem,
  decoded: DecodedEntry,
  contentHash: Uint8Array,
  what: string,
): Uint8Array {
  if (item.content === undefined) {
    throw new CustosError(
      "TAMPERED_ENTRY",
      `entry ${item.index}: the ${what} is missing from the store (erased or deleted)`,
    );
  }
  if (!decoded.contentChecked && !bytesEqual(sha256(item.content), contentHash)) {
    throw new CustosError(
      "TAMPERED_ENTRY",
      `entry ${item.index}: the stored ${what} was altered (its hash does not match the log)`,
    );
  }
  return item.content;
}
