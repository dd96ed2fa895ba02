// Who may see an entry's bytes through a receipt. An entry that names a patient (a record, a key
// envelope, a query or refusal notice) carries that patient's tag and hour: handed to anyone enrolled,
// the tag would let them pick out one patient's entries and times. Such an entry is shown to the
// patient, to an audit company granted the patient now, to the custodian, to nodes (mirrors copy the
// log) and, for an access record, to the EHR source that submitted it; anyone else gets the leaf hash
// and its proof, which verify a receipt without revealing the entry.

import {
  accessRecordFromEntry,
  decodeEntry,
  decodeNoticeEntry,
  ENTRY_KINDS,
  keyEnvelopeFromEntry,
} from "../core/entry/index.js";
import { authorize, type Caller, patientSubject, type Registry } from "../identity/index.js";

/** The patient tag an entry names and, for an access record, its source; undefined for other kinds. */
function patientOf(bytes: Uint8Array): { tag: Uint8Array; source?: string } | undefined {
  try {
    switch (bytes[1]) {
      case ENTRY_KINDS.accessRecord: {
        const { header } = accessRecordFromEntry(decodeEntry(bytes));
        return { tag: header.patientTag, source: header.source };
      }
      case ENTRY_KINDS.keyEnvelope:
        return { tag: keyEnvelopeFromEntry(decodeEntry(bytes)).header.patientTag };
      case ENTRY_KINDS.queryRecord:
      case ENTRY_KINDS.refusal:
        return { tag: decodeNoticeEntry(bytes).header.patientTag };
      default:
        return undefined;
    }
  } catch {
    // An entry this version cannot decode names nobody it can check: show it only to the privileged.
    return { tag: new Uint8Array(32) };
  }
}

export function entryVisibleTo(registry: Registry, caller: Caller, bytes: Uint8Array, at: number): boolean {
  const named = patientOf(bytes);
  if (named === undefined) return true;
  if (caller.role === "custodian" || caller.role === "node") return true;
  if (caller.role === "ehr-source") return named.source !== undefined && named.source === caller.id;
  return authorize(registry, caller, "read-trail", { patient: patientSubject(named.tag) }, at).allowed;
}
