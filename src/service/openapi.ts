// The OpenAPI 3.1 document of a node's port, served at /openapi.json (and browsable at /docs): made
// by @fastify/swagger from the routes' zod schemas (src/core/wire), then completed from the table of
// operations (api-operations.ts) so that generated clients can rely on it: an `operationId` for every
// operation, `security: []` on the public ones, the request media types (JSON, NDJSON, FHIR), the
// replies that are not JSON, and for each operation every error status it answers with, each with the
// codes (src/core/errors.ts) a reply of that status can carry, under the one error schema.

import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { jsonSchemaTransform } from "fastify-type-provider-zod";
import { CustosError, type ErrorCode, errorStatus, REPLY_ERROR_CODES } from "../core/index.js";
import { auditRecordJsonSchema } from "../core/wire/index.js";
import { API_OPERATIONS, type OperationDoc } from "./api-operations.js";

export type PortKind = "api" | "portal";

/** The path of the document; swagger-ui's pages (the same document, browsable) are under /docs. */
export const OPENAPI_ROUTE = "/openapi.json";
export const OPENAPI_UI_PREFIX = "/docs";

/** The 401 codes of each port: a client certificate the handshake let through, or a bearer token. */
const AUTHENTICATION_ERRORS: Readonly<Record<PortKind, readonly ErrorCode[]>> = {
  api: [
    "NOT_AUTHENTICATED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_REVOKED",
    "WRONG_DEPLOYMENT",
  ],
  portal: ["NOT_AUTHENTICATED", "BAD_TOKEN", "TOKEN_EXPIRED"],
};

interface ErrorReplyKind {
  readonly status: number;
  readonly code: ErrorCode;
}

/**
 * What every operation of a kind can answer (src/service/errors.ts, server.ts): a malformed request,
 * the rate limit, an internal failure; with a body, bad UTF-8, too large or a media type not taken
 * (415); authenticated, the port's authentication failures, a refusal, and a busy or standby store.
 */
export function commonErrors(port: PortKind, open: boolean, withBody: boolean): ErrorReplyKind[] {
  const kinds: ErrorReplyKind[] = [
    { status: 400, code: "BAD_ARGUMENT" },
    { status: 429, code: "RATE_LIMITED" },
    { status: 500, code: "INTERNAL" },
  ];
  if (withBody)
    kinds.push(
      { status: 400, code: "BAD_ENCODING" },
      { status: 413, code: "TOO_LARGE" },
      { status: 415, code: "BAD_ARGUMENT" },
    );
  if (!open) {
    for (const code of AUTHENTICATION_ERRORS[port]) kinds.push({ status: 401, code });
    kinds.push(
      { status: 403, code: "NOT_AUTHORIZED" },
      { status: 503, code: "STORE_BUSY" },
      { status: 503, code: "UNAVAILABLE" },
    );
  }
  return kinds;
}

/** The one error body: `{"error":{"code","message"}}`. */
function errorSchemas(): Record<string, unknown> {
  return {
    ErrorCode: {
      type: "string",
      enum: [...REPLY_ERROR_CODES],
      description: "A stable code (src/core/errors.ts); a 500 reply says only INTERNAL.",
    },
    Error: {
      type: "object",
      required: ["error"],
      properties: {
        error: {
          type: "object",
          required: ["code", "message"],
          properties: {
            code: { $ref: "#/components/schemas/ErrorCode" },
            message: { type: "string", description: "For people; never a stack trace." },
          },
        },
      },
    },
  };
}

type Json = Record<string, unknown>;
type Operation = Json & { responses?: Record<string, Json>; requestBody?: Json; parameters?: Json[] };

/** A wildcard route (`/tile/*`) as OpenAPI writes a path: the rest of the path is one parameter. */
function openApiPath(path: string): string {
  return path.replace("{*}", "{path}");
}

function errorResponse(status: number, codes: readonly ErrorCode[]): Json {
  return {
    description: codes.join(", "),
    ...(status === 503
      ? {
          headers: {
            "Retry-After": {
              description: "Seconds to wait before trying again",
              schema: { type: "integer" },
            },
          },
        }
      : {}),
    content: {
      "application/json": {
        schema: {
          allOf: [
            { $ref: "#/components/schemas/Error" },
            {
              type: "object",
              properties: {
                error: { type: "object", properties: { code: { type: "string", enum: codes } } },
              },
            },
          ],
        },
      },
    },
  };
}

function completeOperation(port: PortKind, key: string, operation: Operation, doc: OperationDoc): void {
  operation.operationId = doc.operationId;
  if (doc.public) operation.security = [];
  const withBody = key.startsWith("POST ");
  if (doc.consumes)
    operation.requestBody = {
      required: true,
      content: Object.fromEntries(Object.entries(doc.consumes).map(([type, schema]) => [type, { schema }])),
    };
  const responses = operation.responses ?? {};
  operation.responses = responses;
  if (doc.produces) {
    const ok = responses["200"] ?? {};
    responses["200"] = {
      description: typeof ok.description === "string" ? ok.description : "OK",
      content: { [doc.produces]: { schema: { type: "string" } } },
    };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  const kinds = [
    ...commonErrors(port, doc.public === true, withBody),
    ...(doc.errors ?? []).map((code) => ({ status: errorStatus(code), code })),
  ];
  for (const { status, code } of kinds) {
    const codes = byStatus.get(status) ?? [];
    if (!codes.includes(code)) codes.push(code);
    byStatus.set(status, codes);
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    // A status the route declares itself (readiness's 503) keeps its own reply.
    if (responses[String(status)] === undefined) responses[String(status)] = errorResponse(status, codes);
  }
  const wildcard = key.match(/\{path\}/);
  if (wildcard && !(operation.parameters ?? []).some((p) => p.name === "path" && p.in === "path")) {
    operation.parameters = [
      ...(operation.parameters ?? []).filter((p) => !(p.in === "path" && p.name === "*")),
      {
        name: "path",
        in: "path",
        required: true,
        description: "The rest of the path, its slashes sent as they are (not percent-encoded)",
        schema: { type: "string" },
      },
    ];
  }
}

/** Completes @fastify/swagger's document of a port from the table of operations (see the header). */
export function completeDocument(port: PortKind, document: Json): Json {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const [rawPath, methods] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
    const path = openApiPath(rawPath);
    const item: Record<string, Operation> = {};
    for (const [method, operation] of Object.entries(methods as Record<string, Operation>)) {
      const key = `${method.toUpperCase()} ${path}`;
      const doc = API_OPERATIONS[key];
      if (!doc) throw new CustosError("INTERNAL", `${key} has no entry in src/service/api-operations.ts`);
      const completed = structuredClone(operation);
      completeOperation(port, key, completed, doc);
      item[method] = completed;
    }
    paths[path] = item;
  }
  const components = (document.components ?? {}) as Json;
  return {
    ...document,
    servers: [
      {
        url: "/",
        description:
          port === "api"
            ? "This node's API port (mutual TLS: a client certificate from the deployment CA)"
            : "This node's portal port (a bearer token from the signed-challenge login)",
      },
    ],
    components: {
      ...components,
      schemas: { ...((components.schemas ?? {}) as Json), ...errorSchemas() },
    },
    paths,
  };
}

/** Registers the document's generation: before any route, so that every route is in it. */
export async function registerOpenApi(app: FastifyInstance, port: PortKind): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: port === "api" ? "Custos node API" : "Custos node portal port",
        description:
          'A tamper-evident, end-to-end encrypted audit trail for accesses to health records. The API port requires a client certificate from the deployment CA; the portal port a bearer token from the signed-challenge login. Errors are `{"error":{"code","message"}}` with a stable code (components/schemas/ErrorCode); each operation lists the statuses and codes it answers with.',
        version: "0.1.0",
        license: { name: "Apache-2.0", identifier: "Apache-2.0" },
      },
      components: {
        // The record POST /v1/records takes as JSON (its body is also NDJSON or FHIR, so the route
        // validates it itself rather than through a body schema).
        schemas: { AuditRecord: auditRecordJsonSchema() },
        securitySchemes:
          port === "api"
            ? // OpenAPI 3.1's "mutualTLS" scheme is not in the plugin's 3.0 types.
              { mutualTLS: { type: "mutualTLS" } as unknown as { type: "http"; scheme: string } }
            : { bearer: { type: "http", scheme: "bearer" } },
      },
      security: [port === "api" ? { mutualTLS: [] } : { bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) =>
      completeDocument(port, (documentObject as { openapiObject: Json }).openapiObject) as never,
  });
}

/** GET /openapi.json, and swagger-ui under /docs (its own routes, left out of the document). */
export async function registerOpenApiRoutes(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, { routePrefix: OPENAPI_UI_PREFIX });
  app.get(
    OPENAPI_ROUTE,
    { schema: { summary: "This document (OpenAPI 3.1)", tags: ["operations"] } },
    async () => app.swagger(),
  );
}
