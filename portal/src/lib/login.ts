// The signed-challenge login from the page (src/service/login.ts is the node's side): ask for a
// challenge, check it is bound to the node this portal belongs to and to this page's origin, sign the
// exact bytes of loginMessage (shared with the server) with the non-extractable Ed25519 key, and
// trade the signature for a 5-minute token. Tokens are renewed with the held key a minute before
// they lapse, or at once when the node refuses one; a refused login says why in one sentence.

import type { Transport } from "../../../src/client/trail-reader.js";
import { toBase64 } from "../../../src/core/bytes.js";
import { CustosError, type ErrorCode } from "../../../src/core/errors.js";
import { type Challenge, loginMessage } from "../../../src/identity/login-message.js";
import { signMessage } from "./bundle.js";
import { PortalError } from "./errors.js";
import type { TokenProvider } from "./transport.js";

/** What the node's token lasts (src/service/login.ts TOKEN_TTL_S) and how early it is renewed. */
const TOKEN_LIFETIME_MS = 300_000;
const RENEW_MARGIN_MS = 60_000;
/** src/service/login.ts CHALLENGE_TTL_MS: lets the page read the node's clock off a challenge. */
const CHALLENGE_TTL_MS = 60_000;

export interface LoginOptions {
  /** A transport without a token (the login routes need none). */
  readonly transport: Transport;
  /** The node's identity URI (PortalConfig.node): a challenge from anyone else is refused. */
  readonly server: string;
  /** The origin the node must have bound the challenge to (the page's own). */
  readonly origin: string;
  /** The identity's signing certificate, PEM. */
  readonly certificate: string;
  readonly signingKey: CryptoKey;
  readonly now?: () => number;
}

export interface LoginToken {
  readonly token: string;
  /** Local time (ms) after which the token is renewed before use. */
  readonly renewAt: number;
  readonly identity: string;
  readonly role: string;
}

function checkChallenge(value: unknown, server: string, origin: string): Challenge {
  const c = value as Partial<Record<keyof Challenge, unknown>> | null;
  if (
    typeof c !== "object" ||
    c === null ||
    typeof c.challengeId !== "string" ||
    typeof c.challenge !== "string" ||
    typeof c.server !== "string" ||
    typeof c.origin !== "string" ||
    typeof c.expiresAt !== "number" ||
    !Number.isSafeInteger(c.expiresAt)
  ) {
    throw new PortalError("LOGIN_FAILED", "The node's login challenge is malformed.");
  }
  if (c.server !== server) {
    throw new PortalError(
      "LOGIN_FAILED",
      "The login challenge names another node than this portal's; nothing was signed.",
    );
  }
  if (c.origin !== origin) {
    throw new PortalError(
      "LOGIN_FAILED",
      "The login challenge is bound to another web address than this page's; nothing was signed.",
    );
  }
  return c as Challenge;
}

/** What a person can do about a login the node refused, by the node's code (its own message otherwise). */
const REFUSALS: Readonly<Partial<Record<ErrorCode, string>>> = {
  CERT_REVOKED: "This identity has been revoked by its deployment; ask the administrator for a new one.",
  NOT_AUTHENTICATED:
    "This identity has been revoked or replaced, or was never enrolled with this node; ask the administrator.",
  CERT_EXPIRED: "This identity has expired; ask the deployment's administrator for a new one.",
  CERT_NOT_YET_VALID: "This identity is not valid yet; check this device's clock.",
  UNKNOWN_CA: "This identity was not issued by this node's deployment.",
  WRONG_DEPLOYMENT: "This identity was not issued by this node's deployment.",
  BAD_SIGNATURE: "The node did not accept this identity's signature.",
  RATE_LIMITED: "The node is busy with other logins; try again in a moment.",
};

/**
 * A login refusal from the node as one sentence a person can act on. The code stays the node's (one
 * vocabulary, src/core/errors.ts); only the sentence is the page's.
 */
export function loginRefusal(error: unknown): Error {
  if (error instanceof PortalError || !(error instanceof CustosError)) return error as Error;
  const sentence =
    REFUSALS[error.code] ??
    (error.code === "BAD_CHALLENGE"
      ? `The login was refused (${error.message}); try again.`
      : `The node refused the login: ${error.message}.`);
  return new PortalError(error.code, sentence, { cause: error });
}

/** One login: challenge, signature, token. Throws PortalError saying why it was refused. */
export async function logIn(options: LoginOptions): Promise<LoginToken> {
  const now = options.now ?? Date.now;
  const started = now();
  try {
    const challenge = checkChallenge(
      await options.transport.call<unknown>("POST", "/v1/login/challenge", {}),
      options.server,
      options.origin,
    );
    const signature = await signMessage(options.signingKey, loginMessage(challenge));
    const reply = await options.transport.call<{
      token?: unknown;
      expiresAt?: unknown;
      identity?: unknown;
      role?: unknown;
    }>("POST", "/v1/login", {
      challengeId: challenge.challengeId,
      certificate: options.certificate,
      signature: toBase64(signature),
    });
    if (
      typeof reply?.token !== "string" ||
      typeof reply.expiresAt !== "number" ||
      typeof reply.identity !== "string" ||
      typeof reply.role !== "string"
    ) {
      throw new PortalError("LOGIN_FAILED", "The node's login reply is malformed.");
    }
    // The node's clock, read off the challenge it issued, tells how long the token lasts here.
    const serverNow = challenge.expiresAt - CHALLENGE_TTL_MS;
    const lifetime = reply.expiresAt - serverNow;
    const usable = lifetime > 0 && lifetime <= TOKEN_LIFETIME_MS ? lifetime : TOKEN_LIFETIME_MS;
    return {
      token: reply.token,
      renewAt: started + Math.max(usable - RENEW_MARGIN_MS, usable / 2),
      identity: reply.identity,
      role: reply.role,
    };
  } catch (error) {
    throw loginRefusal(error);
  }
}

/** Holds the current token; logs in again with the held key when it is due or was refused. */
export function createTokenProvider(
  options: LoginOptions,
  first?: LoginToken,
): TokenProvider & { forget(): void } {
  const now = options.now ?? Date.now;
  let current: LoginToken | undefined = first;
  let pending: Promise<LoginToken> | undefined;
  let forgotten = false;

  const fresh = (): Promise<string> => {
    if (forgotten) return Promise.reject(new PortalError("SIGNED_OUT", "You have signed out."));
    pending ??= logIn(options).finally(() => {
      pending = undefined;
    });
    return pending.then((token) => {
      if (forgotten) throw new PortalError("SIGNED_OUT", "You have signed out.");
      current = token;
      return token.token;
    });
  };

  return {
    token() {
      if (forgotten) return Promise.reject(new PortalError("SIGNED_OUT", "You have signed out."));
      if (current && now() < current.renewAt) return Promise.resolve(current.token);
      return fresh();
    },
    renew() {
      current = undefined;
      return fresh();
    },
    forget() {
      forgotten = true;
      current = undefined;
    },
  };
}
