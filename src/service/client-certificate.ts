// The caller behind a mutual-TLS connection: its client certificate checked against the deployment's
// CA and CRL, mapped to the caller the authorization rules see, and remembered per TLS socket (a
// connection is checked once, not once per request). Shared by the node and the serving mirror.

import type { TLSSocket } from "node:tls";
import type { FastifyRequest } from "fastify";
import { CustosError } from "../core/index.js";
import type { Caller, Principal, TrustAnchor } from "../identity/index.js";

/**
 * `subjectOf` gives the caller's registry subject, or undefined when it cannot be told yet (a caller
 * whose subject is unknown is not remembered, so the next request looks again).
 */
export function certificateCallers(
  anchor: TrustAnchor,
  subjectOf: (principal: Principal) => string | undefined,
  now: () => number,
): (request: FastifyRequest) => Promise<Caller> {
  const callerOf = socketCallers(anchor, subjectOf, now);
  return (request) => callerOf(request.raw.socket as TLSSocket);
}

/** The same for a bare TLS socket (the syslog feed): checked once per connection. */
export function socketCallers(
  anchor: TrustAnchor,
  subjectOf: (principal: Principal) => string | undefined,
  now: () => number,
): (socket: TLSSocket) => Promise<Caller> {
  const callers = new WeakMap<object, Caller>();
  return async (socket) => {
    const cached = callers.get(socket);
    if (cached) return cached;
    const peer = socket.getPeerX509Certificate?.();
    if (!peer)
      throw new CustosError(
        "NOT_AUTHENTICATED",
        "a client certificate from this deployment's CA is required",
      );
    const principal = await anchor.verify(peer.toString(), "signing", now());
    const subject = subjectOf(principal);
    const caller: Caller = {
      uri: principal.uri,
      role: principal.role,
      id: principal.id,
      subject: subject ?? "",
      signingKey: principal.publicKey,
    };
    if (subject !== undefined) callers.set(socket, caller);
    return caller;
  };
}
