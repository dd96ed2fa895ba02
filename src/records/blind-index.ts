// The patient tag: HMAC-SHA256 of the patient ID under the node's blind-index key, so the store can
// file and find a patient's entries without ever holding the patient ID.

import { CustosError, concatBytes, hmacSha256, utf8 } from "../core/index.js";

export class BlindIndex {
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new CustosError("BAD_KEY", "the blind-index key must be 32 bytes");
    this.#key = key.slice();
  }

  /** Zero-fills the key (a worker's copy at its end); the index computes nothing useful afterwards. */
  destroy(): void {
    this.#key.fill(0);
  }

  patientTag(patientId: string): Uint8Array {
    return hmacSha256(this.#key, utf8(patientId));
  }

  /** Idempotency key for a source's event ID; keyed, so the store cannot test guesses of IDs. */
  eventKey(source: string, sourceEventId: string): Uint8Array {
    return hmacSha256(this.#key, utf8(`event\n${source}\n${sourceEventId}`));
  }

  /** Keyed digest of a record as submitted (its canonical encoding), to tell a replay from a conflict. */
  eventDigest(source: string, canonicalRecord: Uint8Array): Uint8Array {
    return hmacSha256(this.#key, concatBytes(utf8(`event-content\n${source}\n`), canonicalRecord));
  }
}
