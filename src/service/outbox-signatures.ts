// Signing and checking the notices read replicas leave in the PostgreSQL outbox (issue 26.8). A
// replica signs each row with its node key; the sequencer appends a row only if it is signed by a node
// the registry (folded from the log) lists as enrolled and unrevoked. Anyone who can only write the
// database cannot plant "X read your trail"; a row that fails is set aside, counted and logged by
// reason, never by content (docs/postgres.md#signed-outbox-rows).

import { ed25519Verify } from "../core/index.js";
import type { Identity, Registry } from "../identity/index.js";
import { parseIdentityUri } from "../identity/index.js";
import type { OutboxSignatureCheck, OutboxSigner } from "../ledger/postgres/index.js";

export function outboxSignerOf(identity: Identity): OutboxSigner {
  return { uri: identity.uri, sign: (message) => identity.sign(message) };
}

export function outboxSignatureCheck(
  registry: () => Registry,
  deployment: string,
  now: () => number,
): OutboxSignatureCheck {
  return (signer, signature, message) => {
    if (signer === undefined || signature === undefined || message === undefined) {
      return "unsigned: not recorded by a node of this Custos (written to the database directly, or by an older node)";
    }
    let role: string;
    let id: string;
    let named: string;
    try {
      ({ role, id, deployment: named } = parseIdentityUri(signer));
    } catch {
      return "its signer is not an identity URI";
    }
    if (role !== "node" || named !== deployment) return "its signer is not a node of this deployment";
    const enrolled = registry().active("node", id, now());
    if (!enrolled) return "its signer is not an enrolled, unrevoked node";
    if (signature.length !== 64 || !ed25519Verify(enrolled.signingKey, message, signature)) {
      return "its signature does not verify with the signer's node key";
    }
    return undefined;
  };
}
