// Re-wrapping a patient's history for readers who lack it: an audit company granted after the
// records were written, or a patient's replacement key after a loss. The custodian's key opens every
// epoch key (it is a reader of every epoch); each epoch key a reader cannot open yet is wrapped to it
// with HPKE again. A reader that already holds an epoch gets no second envelope, so re-running is a
// no-op (DESIGN.md: the custodian re-grants historical access and recovers lost patient keys).

import { decodeEntry, ENTRY_KINDS, type EnvelopeReason, keyEnvelopeFromEntry } from "../core/entry/index.js";
import { toHex } from "../core/index.js";
import type { AppendItem } from "../ledger/index.js";
import { type Recipient, recipientFingerprint } from "./recipients.js";
import type { RecordOpener, StoredItem } from "./record-opener.js";
import { wrapForReader } from "./record-sealer.js";

export interface RewrapTarget {
  readonly reader: Recipient;
  readonly reason: EnvelopeReason;
}

export interface RewrapPlan {
  readonly envelopes: AppendItem[];
  /** Epochs of the patient whose key envelope the custodian could not open (erased, or sealed before it). */
  readonly unrecoverable: number;
  /** Envelopes made, by reader (the index in `targets`). */
  readonly perTarget: number[];
}

/**
 * Envelopes that give each target every epoch key of these items (one patient's) that it lacks and the
 * custodian can open. The items are the patient's stored entries in log order.
 */
export function planRewrap(
  items: readonly StoredItem[],
  patientTag: Uint8Array,
  custodian: RecordOpener,
  targets: readonly RewrapTarget[],
): RewrapPlan {
  const epochs = new Map<string, Uint8Array>();
  const held = new Map<string, Set<string>>();
  const opened = new Set<string>();
  for (const item of items) {
    const entry = decodeEntry(item.entry);
    if (entry.kind !== ENTRY_KINDS.keyEnvelope) continue;
    const { header } = keyEnvelopeFromEntry(entry);
    const epoch = toHex(header.epochId);
    epochs.set(epoch, header.epochId);
    const recipient = toHex(header.recipient);
    const set = held.get(recipient) ?? new Set<string>();
    set.add(epoch);
    held.set(recipient, set);
    if (item.content !== undefined && custodian.addEnvelope(item)) opened.add(epoch);
  }
  const envelopes: AppendItem[] = [];
  const perTarget = targets.map(() => 0);
  targets.forEach((target, i) => {
    const has = held.get(toHex(recipientFingerprint(target.reader.encryptionKey))) ?? new Set<string>();
    for (const [epoch, epochId] of epochs) {
      if (has.has(epoch) || !opened.has(epoch)) continue;
      const dataKey = custodian.epochKey(epochId);
      if (dataKey === undefined) continue;
      envelopes.push(wrapForReader({ epochId, patientTag, dataKey }, target.reader, target.reason));
      perTarget[i]!++;
    }
  });
  return { envelopes, unrecoverable: epochs.size - opened.size, perTarget };
}
