// The HTTP base every Custos server stands on (the node's API and portal ports, a serving mirror):
// Fastify over TLS with one error shape for everything, framework and parser errors included, a body
// limit enforced before a 100-continue upload starts, bodies read as strict UTF-8 (request-text.ts),
// zod validation and serialization, and request logs that never carry the Authorization header.
// Callers add authentication, rate limits, health and routes on the app this returns.

import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { SecureContextOptions, TLSSocket } from "node:tls";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { CustosError } from "../core/index.js";
import type { Caller } from "../identity/index.js";
import { errorReply, sendError } from "./errors.js";
import { parseJsonBody, requestText } from "./request-text.js";

export interface Listen {
  readonly host: string;
  readonly port: number;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated caller, set by the server's authentication hook. */
    caller?: Caller;
  }
}

export type TlsVersion = "TLSv1.2" | "TLSv1.3";

/** The TLS options of a server port, as node:https takes them. */
export interface ServerTls extends SecureContextOptions {
  readonly requestCert?: boolean;
  readonly rejectUnauthorized?: boolean;
}

/** The lowest TLS version a port accepts: 1.3 unless a setting allows 1.2. */
export function minTlsVersion(allowTls12: boolean | undefined): TlsVersion {
  return allowTls12 ? "TLSv1.2" : "TLSv1.3";
}

/**
 * Mutual TLS against the deployment CA: a client certificate is demanded and checked (chain and CRL)
 * in the handshake, so no request reaches a route without one.
 */
export function mutualTls(options: {
  readonly key: string;
  readonly cert: string;
  readonly caPem: string;
  readonly crlPem?: string | undefined;
  readonly allowTls12?: boolean | undefined;
}): ServerTls {
  return {
    key: options.key,
    cert: options.cert,
    ca: options.caPem,
    ...(options.crlPem ? { crl: options.crlPem } : {}),
    minVersion: minTlsVersion(options.allowTls12),
    requestCert: true,
    rejectUnauthorized: true,
  };
}

export interface HttpBaseOptions {
  /** The port's TLS options (mutualTls(...) for an API port). */
  readonly tls: ServerTls;
  /** The largest request body accepted, in bytes. */
  readonly bodyLimit: number;
  /** Structured request logs (pino) to stdout, with the Authorization header redacted. */
  readonly log?: boolean | undefined;
  /** Content types taken as text (strict UTF-8) besides application/json, e.g. NDJSON. */
  readonly textContentTypes?: readonly string[];
  /** The message of the 404 for an unknown endpoint. */
  readonly notFoundMessage?: string;
}

/** A Fastify app over TLS with the hardening every Custos port shares; not yet listening. */
export function createHttpApp(options: HttpBaseOptions): FastifyInstance {
  const { bodyLimit } = options;
  const app = Fastify({
    https: options.tls,
    bodyLimit,
    // Request lines are logged without their query string: a query may name a patient (the key
    // audit's `party=patient/ID`), and no patient ID may reach a log line.
    logger: options.log
      ? {
          redact: ["req.headers.authorization"],
          serializers: {
            req: (request: { method: string; url: string; ip?: string }) => ({
              method: request.method,
              url: request.url.split("?")[0],
              remoteAddress: request.ip,
            }),
          },
        }
      : false,
    return503OnClosing: true,
    // Malformed URLs and oversized headers get the one error shape too, never Fastify's own.
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, error);
    },
    clientErrorHandler: (error, socket) => {
      if (!socket.writable || (error as { code?: string }).code === "ECONNRESET") {
        socket.destroy();
        return;
      }
      // Any other parser error is the client's: a 4xx (never the 500 of an unknown error).
      const reply = errorReply(
        (error as { code?: string }).code?.startsWith("HPE_") ? error : { code: "HPE_" },
      );
      const body = JSON.stringify(reply.body);
      socket.end(
        `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  // A client that asks before sending its body (Expect: 100-continue, as curl does for big ones) and
  // declares more than the limit gets the 413 at once, instead of a 100 Continue and then a
  // connection closed under its upload (where it saw no status at all).
  app.server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    const declared = Number(request.headers["content-length"]);
    if (Number.isFinite(declared) && declared > bodyLimit) {
      // The reply Fastify's own oversized-body error gets.
      const reply = errorReply({ code: "FST_ERR_CTP_BODY_TOO_LARGE" });
      const body = JSON.stringify(reply.body);
      response.writeHead(reply.status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        connection: "close",
      });
      response.end(body);
      return;
    }
    response.writeContinue();
    app.server.emit("request", request, response);
  });
  // Keep-alive over TLS (Node 20): the HTTP server pauses a connection's parser when a request arrives
  // while the previous reply is still being flushed (the socket's write buffer over its high-water
  // mark), and stops reading. But the parser reads the TLS stream directly, and TLS hands it every
  // record already decrypted from one network read, paused or not: the next record (the rest of that
  // request's body) reaches a paused parser, which fails the request with HPE_PAUSED and drops the
  // connection. A 'data' listener makes the server read the socket as a stream instead (Node's own
  // fallback for a socket someone else also reads), where pausing holds data back: nothing is lost.
  // Reproduced and checked by test/service/keep-alive.test.ts.
  app.server.on("secureConnection", (socket: TLSSocket) => {
    socket.on("data", ignoreData);
  });
  // Fastify reads no body for a GET or HEAD. One sent anyway is read and dropped before the reply
  // (within the body limit): left unread, it stalls or resets the connection under a large reply
  // (a 200 KB body to GET /openapi.json did either).
  app.addHook("onRequest", async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") return;
    const { headers } = request.raw;
    if (headers["transfer-encoding"] === undefined && (headers["content-length"] ?? "0") === "0") return;
    await discardBody(request.raw, bodyLimit);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => {
    try {
      const text = requestText(body as Buffer);
      if (text === "") return done(null, undefined);
      done(null, parseJsonBody(text));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  const textTypes = options.textContentTypes ?? [];
  if (textTypes.length > 0) {
    app.addContentTypeParser([...textTypes], { parseAs: "buffer" }, (_request, body, done) => {
      try {
        done(null, requestText(body as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
  }
  app.setErrorHandler((error, _request, reply) => sendError(reply, error));
  const notFound = options.notFoundMessage ?? "no such endpoint";
  app.setNotFoundHandler((_request, reply) => sendError(reply, new CustosError("NOT_FOUND", notFound)));
  return app;
}

function ignoreData(): void {}

/** Reads a request's body to its end and drops it; TOO_LARGE past `limit` bytes (reading stops). */
function discardBody(request: IncomingMessage, limit: number): Promise<void> {
  if (request.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let received = 0;
    const done = (error?: Error) => {
      request.off("data", onData).off("end", onEnd).off("error", done).off("aborted", onAborted);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        request.pause();
        done(new CustosError("TOO_LARGE", "the request body is too large"));
      }
    };
    const onEnd = () => done();
    const onAborted = () => done(new CustosError("BAD_ARGUMENT", "the request was aborted"));
    request.on("data", onData).on("end", onEnd).on("error", done).on("aborted", onAborted);
  });
}

/** Listens at `listen` (port 0: any free port) and returns the address taken. */
export async function listenAt(app: FastifyInstance, listen: Listen): Promise<Listen> {
  await app.listen({ host: listen.host, port: listen.port });
  const address = app.server.address();
  return { host: listen.host, port: typeof address === "object" && address ? address.port : listen.port };
}
