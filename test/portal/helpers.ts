// Test support for the portal's logic under Node: a fetch over node:https that trusts exactly the
// portal's own certificate (self-signed ECDSA, in the data directory) and sends the Origin header a
// browser would (the login challenge is bound to it), and an in-memory Storage.

import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { FetchLike } from "../../portal/src/lib/transport.js";

/** A fetch that trusts `ca` (PEM) only and sends `Origin: <origin>` like a page on that origin. */
export function trustingFetch(ca: string, origin: string): FetchLike {
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = { origin };
      new Headers(init.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const body = init.body === undefined || init.body === null ? undefined : String(init.body);
      if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
      const req = request(input, { method: init.method ?? "GET", headers, ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const replyHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === "string") replyHeaders.set(name, value);
            else if (Array.isArray(value)) for (const v of value) replyHeaders.append(name, v);
          }
          const status = res.statusCode ?? 500;
          const empty = status === 204 || status === 304;
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers: replyHeaders }));
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
}

/** The portal port's certificate as a test deployment's node made it. */
export function portalCertificate(dataDir: string): string {
  const file = join(dataDir, "portal", "cert.pem");
  if (!existsSync(file))
    throw new Error(`no portal certificate at ${file}: was the node started with --portal?`);
  return readFileSync(file, "utf8");
}

/** localStorage's shape, in memory. */
export class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}
