// A client of a Custos node's mutual-TLS API, holding an unlocked identity: TLS 1.3, the node's
// certificate checked against the deployment CA from the bundle, the identity's certificate offered.
// Replies that carry an error become CustosErrors with the server's stable code. Connections are kept
// alive and reused (a keep-alive agent per client).

import { Agent, request } from "node:https";
import { CustosError, type ErrorCode, isErrorCode } from "../core/index.js";
import type { Identity } from "../identity/index.js";

/** Replies larger than this are refused rather than buffered. */
const MAX_REPLY_BYTES = 256 * 1024 * 1024;

/**
 * An idle kept-alive connection is closed after this long, well before the node closes it (Fastify's
 * keep-alive timeout: 72 s), so a request is not sent on a connection the node is closing.
 */
const IDLE_MS = 10_000;

/** Connections to one node at most; further requests wait for one to be free. */
const MAX_CONNECTIONS = 32;

export class MtlsClient {
  readonly #host: string;
  readonly #port: number;
  readonly #key: string;
  readonly #cert: string;
  readonly #ca: string;
  readonly #agent = new Agent({ keepAlive: true, timeout: IDLE_MS, maxSockets: MAX_CONNECTIONS });

  constructor(url: string, identity: Identity) {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:")
      throw new CustosError("BAD_ARGUMENT", "the node's URL must be https://");
    this.#host = parsed.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(parsed.port || 443);
    this.#key = identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString();
    this.#cert = identity.bundle.signingCertificate;
    this.#ca = identity.bundle.caCertificate;
  }

  /** Sends a request; resolves with the parsed JSON reply (or text), or throws the server's error. */
  async call<T>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const { status, bytes, retryAfter } = await this.#send(method, path, payload, contentType);
    const text = bytes.toString("utf8");
    let json: unknown;
    try {
      json = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      if (status < 300) return text as T;
      throw new CustosError("INTERNAL", `the node replied ${status} without a JSON body`);
    }
    if (status >= 400) throw errorOf(status, json, retryAfter);
    return json as T;
  }

  /** GETs raw bytes (tiles, entry bundles); throws the server's error. */
  async bytes(path: string): Promise<Uint8Array> {
    const { status, bytes, retryAfter } = await this.#send("GET", path, undefined, "application/json");
    if (status >= 400) {
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString("utf8"));
      } catch {
        json = undefined;
      }
      throw errorOf(status, json, retryAfter);
    }
    return new Uint8Array(bytes);
  }

  /** Closes the kept-alive connections (idle ones close by themselves and never hold a process up). */
  close(): void {
    this.#agent.destroy();
  }

  async #send(
    method: "GET" | "POST",
    path: string,
    payload: string | undefined,
    contentType: string,
  ): Promise<{ status: number; bytes: Buffer; retryAfter: number | undefined }> {
    try {
      return await this.#sendOnce(method, path, payload, contentType);
    } catch (error) {
      // A kept-alive connection the node closed as this request went out: a GET changes nothing, so
      // it is sent once more (on another connection). A POST is not: its failure is reported
      // (UNAVAILABLE), as for any dropped connection, and writes retry by their source event IDs.
      if (method === "GET" && error instanceof StaleConnection)
        return this.#sendOnce(method, path, payload, contentType);
      throw error instanceof StaleConnection ? transportError(error.cause) : error;
    }
  }

  #sendOnce(
    method: "GET" | "POST",
    path: string,
    payload: string | undefined,
    contentType: string,
  ): Promise<{ status: number; bytes: Buffer; retryAfter: number | undefined }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.#host,
          port: this.#port,
          path,
          method,
          key: this.#key,
          cert: this.#cert,
          ca: this.#ca,
          minVersion: "TLSv1.3",
          agent: this.#agent,
          headers: payload === undefined ? {} : { "content-type": contentType },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_REPLY_BYTES) {
              req.destroy(new CustosError("TOO_LARGE", "the node's reply is too large"));
              return;
            }
            chunks.push(chunk);
          });
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              bytes: Buffer.concat(chunks),
              retryAfter: retryAfterOf(res.headers["retry-after"]),
            }),
          );
          res.on("error", reject);
        },
      );
      let answered = false;
      req.on("response", () => {
        answered = true;
      });
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (error instanceof CustosError) reject(error);
        else if (req.reusedSocket && !answered && (error.code === "ECONNRESET" || error.code === "EPIPE"))
          reject(new StaleConnection(error));
        else reject(transportError(error));
      });
      req.end(payload);
    });
  }
}

/** A reused connection failed before any reply came. */
class StaleConnection extends Error {
  override readonly cause: Error;
  constructor(cause: Error) {
    super(cause.message);
    this.cause = cause;
  }
}

function errorOf(status: number, json: unknown, retryAfter: number | undefined): CustosError {
  const error = (json as { error?: { code?: string; message?: string } })?.error;
  // A 502/503/504 without our body comes from a proxy or load balancer in front of a node that is down.
  const code: ErrorCode = isErrorCode(error?.code)
    ? error.code
    : status === 502 || status === 503 || status === 504
      ? "UNAVAILABLE"
      : "INTERNAL";
  return new CustosError(code, error?.message ?? `the node replied ${status}`, {
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
  });
}

function retryAfterOf(header: string | undefined): number | undefined {
  if (header === undefined || !/^[0-9]{1,6}$/.test(header)) return undefined;
  return Number(header);
}

/**
 * A failed connection: the node refused or dropped it, or could not be found (UNAVAILABLE: try again
 * or another node; nothing was refused), or the TLS handshake rejected a certificate
 * (NOT_AUTHENTICATED: retrying will not help).
 */
export function transportError(error: Error): CustosError {
  const code = (error as { code?: unknown }).code;
  const text = typeof code === "string" ? code : "";
  const tls =
    /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_CERT|HOSTNAME|ALTNAME/.test(text) ||
    /alert (bad certificate|certificate required|unknown ca|certificate revoked|certificate expired|certificate unknown|access denied)/i.test(
      error.message,
    );
  if (tls)
    return new CustosError("NOT_AUTHENTICATED", `the mutual TLS handshake failed: ${error.message}`, {
      cause: error,
    });
  return new CustosError("UNAVAILABLE", `could not reach the node: ${error.message}`, { cause: error });
}
