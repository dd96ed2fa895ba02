// Signed-challenge login, for clients that cannot present a client certificate (the browser portal).
//
// 1. POST /v1/login/challenge: the server returns a single-use random challenge bound to its own
//    identity URI and the request's Origin, valid for 60 s.
// 2. The client signs `loginMessage(...)` with its Ed25519 identity key.
// 3. POST /v1/login with the challenge ID, the client's signing certificate and the signature: the
//    server checks the chain, the CRL, the registry, the signature and that the challenge is unused
//    and unexpired, and issues a short-lived token (JWT, EdDSA, audience = this server, 5 minutes).
// Every token is re-checked against the registry on each request, so a revocation is immediate.

import { type KeyObject, randomBytes } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { CustosError, ed25519Verify, fromBase64, toBase64 } from "../core/index.js";
import type { Caller } from "../identity/index.js";
import { type Challenge, isRole, loginMessage } from "../identity/index.js";

export { type Challenge, loginMessage };

export const CHALLENGE_TTL_MS = 60_000;
export const TOKEN_TTL_S = 300;
const MAX_OUTSTANDING = 10_000;

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export class LoginService {
  readonly server: string;
  readonly #key: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #outstanding = new Map<string, Challenge>();
  readonly #now: () => number;

  constructor(server: string, key: KeyObject, publicKey: KeyObject, now: () => number = Date.now) {
    this.server = server;
    this.#key = key;
    this.#publicKey = publicKey;
    this.#now = now;
  }

  issueChallenge(origin: string): Challenge {
    const now = this.#now();
    if (this.#outstanding.size >= MAX_OUTSTANDING) {
      for (const [id, c] of this.#outstanding) if (c.expiresAt <= now) this.#outstanding.delete(id);
      if (this.#outstanding.size >= MAX_OUTSTANDING) {
        throw new CustosError("RATE_LIMITED", "too many logins in progress; try again shortly");
      }
    }
    const challenge: Challenge = {
      challengeId: b64url(randomBytes(16)),
      challenge: b64url(randomBytes(32)),
      server: this.server,
      origin,
      expiresAt: now + CHALLENGE_TTL_MS,
    };
    this.#outstanding.set(challenge.challengeId, challenge);
    return challenge;
  }

  /**
   * Consumes a challenge (single use, even when the login then fails) and checks the signature with the
   * already-verified certificate key. Returns the challenge for the caller's records.
   */
  consume(challengeId: string, origin: string, publicKey: Uint8Array, signature: Uint8Array): Challenge {
    const challenge = this.#outstanding.get(challengeId);
    this.#outstanding.delete(challengeId);
    if (!challenge) throw new CustosError("BAD_CHALLENGE", "unknown or already used login challenge");
    if (this.#now() > challenge.expiresAt)
      throw new CustosError("BAD_CHALLENGE", "the login challenge has expired");
    if (challenge.origin !== origin) {
      throw new CustosError("BAD_CHALLENGE", "the login challenge was issued for another origin");
    }
    if (!ed25519Verify(publicKey, loginMessage(challenge), signature)) {
      throw new CustosError(
        "BAD_SIGNATURE",
        "the challenge signature does not verify with the certificate's key",
      );
    }
    return challenge;
  }

  /** Drops a challenge whatever happens next (a login that failed before its signature was checked). */
  discard(challengeId: string): void {
    this.#outstanding.delete(challengeId);
  }

  async issueToken(caller: Caller): Promise<{ token: string; expiresAt: number }> {
    const issuedAt = Math.floor(this.#now() / 1000);
    const token = await new SignJWT({
      role: caller.role,
      id: caller.id,
      sbj: caller.subject,
      key: toBase64(caller.signingKey),
    })
      .setProtectedHeader({ alg: "EdDSA", typ: "JWT" })
      .setIssuer(this.server)
      .setAudience(this.server)
      .setSubject(caller.uri)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + TOKEN_TTL_S)
      .setJti(b64url(randomBytes(16)))
      .sign(this.#key);
    return { token, expiresAt: (issuedAt + TOKEN_TTL_S) * 1000 };
  }

  async verifyToken(token: string): Promise<Caller> {
    if (token.length > 4096) throw new CustosError("BAD_TOKEN", "the token is too long");
    // One token, one spelling: base64url leaves spare bits in a part's last character, so a token
    // whose parts are not in canonical form is refused although its bytes would verify.
    const parts = token.split(".");
    if (parts.length !== 3 || parts.some((part) => b64url(Buffer.from(part, "base64url")) !== part))
      throw new CustosError("BAD_TOKEN", "the token is malformed, tampered with or not for this server");
    try {
      const { payload } = await jwtVerify(token, this.#publicKey, {
        algorithms: ["EdDSA"],
        issuer: this.server,
        audience: this.server,
        currentDate: new Date(this.#now()),
        clockTolerance: 0,
      });
      const { role, id, sbj, key, sub } = payload as Record<string, unknown>;
      if (typeof role !== "string" || !isRole(role) || typeof id !== "string" || typeof sbj !== "string") {
        throw new CustosError("BAD_TOKEN", "the token does not name an identity");
      }
      if (typeof key !== "string" || typeof sub !== "string")
        throw new CustosError("BAD_TOKEN", "the token has no key");
      return { uri: sub, role, id, subject: sbj, signingKey: fromBase64(key) };
    } catch (error) {
      if (error instanceof CustosError) throw error;
      if (error instanceof joseErrors.JWTExpired)
        throw new CustosError("TOKEN_EXPIRED", "the token has expired; log in again");
      throw new CustosError("BAD_TOKEN", "the token is malformed, tampered with or not for this server");
    }
  }
}
