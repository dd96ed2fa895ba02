// The page's Transport (src/client/trail-reader.ts) over fetch: JSON in, JSON or text (a checkpoint
// note) out, the node's `{"error":{"code","message"}}` replies thrown as CustosError. With a token
// provider every request carries `Authorization: Bearer`, and a reply saying the token is bad or
// expired triggers one fresh login and one retry.

import type { Transport } from "../../../src/client/trail-reader.js";
import { CustosError, type ErrorCode, isErrorCode } from "../../../src/core/errors.js";
import { PortalError } from "./errors.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Supplies the login token; `renew` forces a new login (the held one was refused). */
export interface TokenProvider {
  token(): Promise<string>;
  renew(): Promise<string>;
}

export interface FetchTransportOptions {
  /** The node's portal address, e.g. https://custos.example:8444 (default: the page's own origin). */
  readonly baseUrl?: string;
  readonly fetch?: FetchLike;
  readonly token?: TokenProvider;
}

/** Replies beyond this are refused unread (10,000 entries with proofs stay well under it). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;
const TOKEN_REFUSED: ReadonlySet<string> = new Set(["BAD_TOKEN", "TOKEN_EXPIRED"]);

/** The default base: the page's own origin (the portal is served by the node it talks to). */
export function pageOrigin(): string {
  const location = (globalThis as { location?: { origin?: string } }).location;
  if (!location?.origin || location.origin === "null") {
    throw new PortalError("CONFIG", "The portal's address is unknown; pass the node's address.");
  }
  return location.origin;
}

async function errorOf(response: Response): Promise<CustosError> {
  let code: unknown;
  let message: unknown;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    code = body?.error?.code;
    message = body?.error?.message;
  } catch {
    // not a Custos error body: described by its status below
  }
  if (typeof code === "string" && typeof message === "string") {
    const known: ErrorCode = isErrorCode(code) ? code : "INTERNAL";
    return new CustosError(known, known === code ? message : `${code}: ${message}`);
  }
  return new CustosError(
    response.status === 401 ? "NOT_AUTHENTICATED" : "INTERNAL",
    `the node answered ${response.status} without an error description`,
  );
}

export function createFetchTransport(options: FetchTransportOptions = {}): Transport {
  const base = (options.baseUrl ?? pageOrigin()).replace(/\/+$/, "");
  const send: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function once(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    contentType: string | undefined,
    token: string | undefined,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json, text/plain;q=0.9" };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      headers["content-type"] = contentType ?? "application/json";
    }
    try {
      return await send(`${base}${path}`, {
        method,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
        // The token is the only credential: no cookies, no cached replies.
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new PortalError("UNAVAILABLE", `The Custos node at ${base} could not be reached.`, {
        cause: error,
      });
    }
  }

  return {
    async call<T>(method: "GET" | "POST", path: string, body?: unknown, contentType?: string): Promise<T> {
      if (!path.startsWith("/")) throw new CustosError("BAD_ARGUMENT", "a request path starts with /");
      let token = options.token ? await options.token.token() : undefined;
      let response = await once(method, path, body, contentType, token);
      if (!response.ok && options.token) {
        const error = await errorOf(response);
        if (!TOKEN_REFUSED.has(error.code)) throw error;
        token = await options.token.renew();
        response = await once(method, path, body, contentType, token);
      }
      if (!response.ok) throw await errorOf(response);
      const length = Number(response.headers.get("content-length") ?? "0");
      if (length > MAX_REPLY_BYTES) throw new CustosError("TOO_LARGE", "the node's reply is too large");
      const type = response.headers.get("content-type") ?? "";
      const text = await response.text();
      if (text.length > MAX_REPLY_BYTES) throw new CustosError("TOO_LARGE", "the node's reply is too large");
      if (/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new CustosError("BAD_ENCODING", `the node's reply to ${path} is not valid JSON`);
        }
      }
      return text as T;
    },
  };
}
