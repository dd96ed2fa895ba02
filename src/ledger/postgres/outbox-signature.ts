// What a read replica signs for each notice it leaves in the outbox, so that only an enrolled node can
// get a "who read your trail" notice into the log through it: not someone who can merely write the
// database. The signature covers the row's id, the notice entry (which commits to its sealed content
// by hash) and the signer's identity URI, under a domain separator of its own.

import { sha256, utf8 } from "../../core/index.js";

const DOMAIN = utf8("custos outbox notice v1\n");

/** The bytes a replica signs for an outbox row (docs/postgres.md#signed-outbox-rows). */
export function outboxSigningMessage(id: Uint8Array, entry: Uint8Array, signer: string): Uint8Array {
  const signerBytes = utf8(signer);
  const out = new Uint8Array(DOMAIN.length + id.length + 32 + signerBytes.length);
  out.set(DOMAIN, 0);
  out.set(id, DOMAIN.length);
  out.set(sha256(entry), DOMAIN.length + id.length);
  out.set(signerBytes, DOMAIN.length + id.length + 32);
  return out;
}

/** Signs outbox rows as one node: its identity URI and its Ed25519 signing key. */
export interface OutboxSigner {
  readonly uri: string;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * Checks a row's signature when the sequencer drains it: undefined when it verifies with the key of an
 * enrolled, unrevoked node, else why not (no content, no personal data).
 */
export type OutboxSignatureCheck = (
  signer: string | undefined,
  signature: Uint8Array | undefined,
  message: Uint8Array | undefined,
) => string | undefined;
