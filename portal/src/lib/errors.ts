// The portal's own failures: a CustosError with a code from the one table (src/core/errors.ts), raised by
// the page's logic rather than relayed from the node, and one sentence a person can act on as message.
// Failures of verification are not these: they carry a VerificationProblem (types.ts) the page shows in red.

import { CustosError, type ErrorCode } from "../../../src/core/errors.js";
import type { VerificationFailure, VerificationProblem } from "./types.js";

/** Raised by the page itself (bundle, login, session), so callers can tell it from a node's refusal. */
export class PortalError extends CustosError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "PortalError";
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
