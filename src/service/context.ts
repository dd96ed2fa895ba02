// What every route module of `custos serve` is given: the deployment (vault, ledger, registry), the
// clock, and `allow`, which authorizes a caller or records the refusal in the log and throws.
// Route modules live in src/service/routes/ and export `register...Routes(app, ctx)`.

import type { FastifyRequest } from "fastify";
import { CustosError } from "../core/errors.js";
import type { Caller, Operation, Target } from "../identity/authorize.js";
import type { Deployment } from "../identity/deployment.js";

export interface ServiceContext {
  readonly deployment: Deployment;
  readonly now: () => number;
  /** Authorizes, or records the refusal in the log (for the patient concerned) and throws 401/403. */
  allow(
    caller: Caller,
    operation: Operation,
    target: Target,
    patient?: string | { tag: Uint8Array },
  ): Promise<void>;
  /**
   * The checkpoint replies are proven against: the latest witnessed one when the node has witnesses
   * (cosignatures attached), else the latest signed one.
   */
  checkpoint(): Promise<{ readonly note: string; readonly size: number }>;
  /** The authenticated caller of a request (set by the server's authentication hook). */
  callerOf(request: FastifyRequest): Caller;
}

export function textBody(request: FastifyRequest): string {
  if (typeof request.body !== "string") throw new CustosError("BAD_ARGUMENT", "the request needs a body");
  return request.body;
}

/** A JSON object body (an absent body is `{}`). */
export function jsonBody(request: FastifyRequest): Record<string, unknown> {
  if (request.body !== undefined && typeof request.body === "object" && request.body !== null) {
    if (Array.isArray(request.body))
      throw new CustosError("BAD_ARGUMENT", "the request body must be a JSON object");
    return request.body as Record<string, unknown>;
  }
  const text = request.body === undefined || request.body === "" ? "{}" : textBody(request);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CustosError("BAD_ARGUMENT", "the request body is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CustosError("BAD_ARGUMENT", "the request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

export function optionalTime(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new CustosError("BAD_ARGUMENT", `${name} must be an ISO 8601 time`);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new CustosError("BAD_ARGUMENT", `${name} must be an ISO 8601 time`);
  return t;
}

export function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new CustosError("BAD_ARGUMENT", `${name} must be a string`);
  return value;
}

/** A non-negative safe integer from JSON or a URL segment. */
export function optionalCount(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === "string" && /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new CustosError("BAD_ARGUMENT", `${name} must be a non-negative whole number`);
  }
  return n;
}
