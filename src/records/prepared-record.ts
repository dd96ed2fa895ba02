// A record ready to seal: what the sealer and the idempotency check need of a validated record, computed
// once per record and without store access or key epochs, so it can be done on a worker thread
// (prep-pool.ts) beside the event loop: the canonical encoding (the plaintext sealed), the keyed event
// key and digest of its source event ID, and the few fields that decide where and how it is filed.
// The epoch keys and the trail's numbering and hash chain stay with the sealer (record-sealer.ts).

import { type AuditRecord, encodeRecord, observerDeviceNames } from "../core/record/index.js";
import type { BlindIndex } from "./blind-index.js";

export interface PreparedRecord {
  readonly patientId: string;
  /** The access's time (ms): it gives the entry's hour. */
  readonly timeMs: number;
  /** The system the record names as its source, when other than the submitter (authorized per record). */
  readonly sourceSystem?: string;
  /** The FHIR observer's device names, for that authorization. */
  readonly devices?: readonly string[];
  /** The canonical encoding (encodeRecord): zero-filled by the sealer once sealed. */
  readonly plaintext: Uint8Array;
  /** Keyed idempotency key of the source event ID (BlindIndex.eventKey), if the record has one. */
  readonly eventKey?: Uint8Array;
  /** Keyed digest of the canonical encoding (BlindIndex.eventDigest), with the event key. */
  readonly eventDigest?: Uint8Array;
}

/** Prepares a validated record submitted by `source`. */
export function prepareRecord(record: AuditRecord, source: string, blindIndex: BlindIndex): PreparedRecord {
  const plaintext = encodeRecord(record);
  const devices = observerDeviceNames(record);
  return {
    patientId: record.patientId,
    timeMs: Date.parse(record.time),
    ...(record.sourceSystem === undefined ? {} : { sourceSystem: record.sourceSystem }),
    ...(devices === undefined ? {} : { devices }),
    plaintext,
    ...(record.sourceEventId === undefined
      ? {}
      : {
          eventKey: blindIndex.eventKey(source, record.sourceEventId),
          eventDigest: blindIndex.eventDigest(source, plaintext),
        }),
  };
}

/** Zero-fills what prepared records hold in clear (their canonical encodings). */
export function wipePrepared(records: readonly PreparedRecord[]): void {
  for (const record of records) record.plaintext.fill(0);
}
