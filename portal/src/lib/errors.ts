// The portal's own failures, each with a stable code and one sentence a person can act on. Failures
// of verification are not these: they carry a VerificationProblem (types.ts) the page shows in red.

import type { VerificationFailure, VerificationProblem } from "./types.js";

export const PORTAL_ERROR_CODES = [
  /** The file is not a Custos identity bundle, or a part of it is malformed. */
  "BAD_BUNDLE",
  /** The passphrase does not open the bundle's keys. */
  "WRONG_PASSPHRASE",
  /** The bundle belongs to another deployment than this node's. */
  "WRONG_DEPLOYMENT",
  /** The identity's certificate has expired. */
  "EXPIRED",
  /** The identity's certificate is not valid yet (or this device's clock is wrong). */
  "NOT_YET_VALID",
  /** The deployment revoked (or replaced) this identity. */
  "REVOKED",
  /** The node refused the login for another reason (named in the message). */
  "LOGIN_FAILED",
  /** The node could not be reached or did not answer as a Custos node. */
  "UNREACHABLE",
  /** The node's configuration is unusable (e.g. its log differs from the bundle's). */
  "BAD_CONFIG",
  /** This browser lacks a primitive the portal needs (Ed25519 in WebCrypto). */
  "UNSUPPORTED_BROWSER",
  /** The session was signed out. */
  "SIGNED_OUT",
] as const;

export type PortalErrorCode = (typeof PORTAL_ERROR_CODES)[number];

export class PortalError extends Error {
  readonly code: PortalErrorCode;

  constructor(code: PortalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PortalError";
    this.code = code;
  }
}

export function isPortalError(value: unknown): value is PortalError {
  return value instanceof PortalError;
}

/** A reply that failed verification; `problem` names the entry where one is known. */
export class VerificationFailureError extends Error implements VerificationFailure {
  readonly problem: VerificationProblem;

  constructor(problem: VerificationProblem, options?: { cause?: unknown }) {
    super(problem.message, options);
    this.name = "VerificationFailureError";
    this.problem = problem;
  }
}

export function isVerificationFailure(value: unknown): value is VerificationFailure {
  return (
    value instanceof Error &&
    typeof (value as { problem?: { code?: unknown } }).problem?.code === "string" &&
    typeof (value as { problem?: { message?: unknown } }).problem?.message === "string"
  );
}
