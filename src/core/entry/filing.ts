// Where the store files each entry besides the log (docs/formats.md, "Filing: lookup and idempotency
// keys"): the lookup keys a reader finds it under and the idempotency key a replay is answered from.
// Every key is derived from the entry itself, so `custos verify` and a mirror rebuild both tables
// from the entries and compare, and the writers and the verifier share this one definition.

import { concatBytes, utf8 } from "../bytes.js";
import { sha256 } from "../platform.js";
import { accessRecordFromEntry } from "./access-record-entry.js";
import type { Entry } from "./entry-codec.js";
import { epochLookupKey, keyEnvelopeFromEntry } from "./key-envelope-entry.js";
import { ENTRY_KINDS } from "./kinds.js";
import { decodeNoticeEntry, noticeLookupKeys } from "./notice-entry.js";
import { OPERATOR_ACTIONS_LOOKUP_KEY } from "./operator-action-entry.js";
import { STAFF_DIRECTORY_LOOKUP_KEY } from "./staff-directory-entry.js";

/** Every registry entry (identity, grant, grant revocation) is filed under this lookup key. */
export const REGISTRY_LOOKUP_KEY = sha256(utf8("custos registry v1"));

const RELAYED_NOTICE_DOMAIN = utf8("custos-outbox-notice\u0000");

/**
 * The idempotency key of a notice relayed through PostgreSQL's outbox: derived from the notice entry
 * (unique: it commits to content sealed with fresh randomness), so a relayed row appended twice is
 * answered as a duplicate and the key is checkable against the entry it points at.
 */
export function relayedNoticeKey(entryBytes: Uint8Array): Uint8Array {
  return sha256(concatBytes(RELAYED_NOTICE_DOMAIN, entryBytes));
}

/**
 * How an entry is filed, derived from the entry: its lookup keys, and for an access record written
 * with a source event ID its idempotency key. Undefined for a kind this version does not file (a
 * verifier then checks nothing about its rows). A notice may also carry relayedNoticeKey (only when
 * relayed); a notice written before filing by notice key began carries only its patient tag.
 */
export function filingOf(
  entry: Entry,
  bytes: Uint8Array,
): { readonly lookupKeys: readonly Uint8Array[]; readonly idempotencyKey?: Uint8Array } | undefined {
  switch (entry.kind) {
    case ENTRY_KINDS.data:
    case ENTRY_KINDS.erasure:
      return { lookupKeys: [] };
    case ENTRY_KINDS.accessRecord: {
      const { header } = accessRecordFromEntry(entry);
      return {
        lookupKeys: [header.patientTag],
        ...(header.eventKey === undefined ? {} : { idempotencyKey: header.eventKey }),
      };
    }
    case ENTRY_KINDS.keyEnvelope: {
      const { header } = keyEnvelopeFromEntry(entry);
      return { lookupKeys: [header.patientTag, header.recipient, epochLookupKey(header.epochId)] };
    }
    case ENTRY_KINDS.queryRecord:
    case ENTRY_KINDS.refusal:
      return { lookupKeys: noticeLookupKeys(decodeNoticeEntry(bytes).header.patientTag) };
    case ENTRY_KINDS.identity:
    case ENTRY_KINDS.grant:
    case ENTRY_KINDS.grantRevocation:
    case ENTRY_KINDS.grantChange:
      return { lookupKeys: [REGISTRY_LOOKUP_KEY] };
    case ENTRY_KINDS.operatorAction:
      return { lookupKeys: [OPERATOR_ACTIONS_LOOKUP_KEY] };
    case ENTRY_KINDS.staffDirectory:
      return { lookupKeys: [STAFF_DIRECTORY_LOOKUP_KEY] };
    default:
      return undefined;
  }
}
