// Fastify's side of the error table (src/core/errors.ts holds each code's status): a reply's body is
// always `{"error":{"code":"...","message":"..."}}`; an unexpected failure says only INTERNAL.

import type { FastifyReply } from "fastify";
import { CustosError, errorStatus } from "../core/index.js";

export interface ErrorReply {
  readonly status: number;
  readonly body: { error: { code: string; message: string } };
  /** Retry-After (seconds) for a 503: the store is failing or another node sequences; try again. */
  readonly retryAfterSeconds?: number;
}

/** Maps anything thrown to a reply; never leaks a stack or an internal message. */
export function errorReply(error: unknown): ErrorReply {
  if (error instanceof CustosError) {
    const status = errorStatus(error.code);
    const message = status === 500 ? "the server could not complete the request" : error.message;
    const body = { error: { code: status === 500 ? "INTERNAL" : error.code, message } };
    if (status === 503) return { status, body, retryAfterSeconds: error.retryAfterSeconds ?? 1 };
    return { status, body };
  }
  // Fastify's own client errors (body too large, bad JSON, bad content type, schema validation, ...).
  const e = error as {
    statusCode?: number;
    code?: string;
    validation?: { instancePath?: string; message?: string }[];
    validationContext?: string;
  };
  if (e?.code === "FST_ERR_VALIDATION" && Array.isArray(e.validation)) {
    const first = e.validation[0];
    const where = `${e.validationContext ?? "request"}${first?.instancePath ? first.instancePath.replace(/\//g, ".") : ""}`;
    return {
      status: 400,
      body: {
        error: { code: "BAD_ARGUMENT", message: `${where}: ${first?.message ?? "invalid"}`.slice(0, 300) },
      },
    };
  }
  // Node's HTTP parser (the server's clientError): the request never reached Fastify.
  if (e?.code === "HPE_HEADER_OVERFLOW") {
    return {
      status: 431,
      body: { error: { code: "TOO_LARGE", message: "the request headers are too large" } },
    };
  }
  if (typeof e?.code === "string" && e.code.startsWith("HPE_")) {
    return {
      status: 400,
      body: { error: { code: "BAD_ARGUMENT", message: "the request is not well-formed HTTP" } },
    };
  }
  if (e?.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return { status: 413, body: { error: { code: "TOO_LARGE", message: "the request body is too large" } } };
  }
  if (e?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return {
      status: 415,
      body: { error: { code: "BAD_ARGUMENT", message: "unsupported content type; send application/json" } },
    };
  }
  if (typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return {
      status: e.statusCode,
      body: {
        error: { code: "BAD_ARGUMENT", message: "the request is malformed (body, headers or parameters)" },
      },
    };
  }
  return {
    status: 500,
    body: { error: { code: "INTERNAL", message: "the server could not complete the request" } },
  };
}

/** Sends `error` as its reply: the status, the one body shape, and Retry-After on a 503. */
export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, body, retryAfterSeconds } = errorReply(error);
  if (retryAfterSeconds !== undefined) reply.header("retry-after", String(retryAfterSeconds));
  return reply.code(status).type("application/json").send(body);
}
