// The browser portal's static site on the portal port: the Vite build (index.html and assets/) of the
// installed package, under strict security headers on every portal response. Only files directly
// inside the site directory's assets/ are served, by name (letters, digits, '.', '_', '-' per path
// segment, no dot files), after resolving symbolic links, so nothing outside the site is reachable.

import { realpathSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import { CustosError } from "../core/index.js";

/** dist/portal of the installed package (this file is src/service/ in development, dist/service/ built). */
export const DEFAULT_PORTAL_SITE = fileURLToPath(new URL("../../dist/portal/", import.meta.url));

/** The routes the site adds; they need no login. */
export const PORTAL_SITE_ROUTES = ["/", "/assets/*"] as const;

export const PORTAL_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Set on every response of the portal port, the API's JSON and errors included. */
export const PORTAL_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": PORTAL_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
};

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
/** Vite's content-hashed names: `index-B3xq9Zk1.js`; only those may be cached for good. */
const HASHED = /-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$/;
const MAX_DEPTH = 8;
const MAX_PATH = 512;

export interface PortalSiteOptions {
  /** The directory holding index.html and assets/ (default: the package's dist/portal). */
  readonly dir?: string;
}

const MISSING_PAGE =
  '<!doctype html><meta charset="utf-8"><title>Custos portal</title><p>The portal is not built: run <code>npm run build</code> and restart <code>custos serve</code>.</p>\n';

function notFound(): CustosError {
  return new CustosError("NOT_FOUND", "no such file");
}

/** The real path of a file inside `root` named by a wildcard, or undefined when it is not one. */
export function resolveSiteFile(root: string, wildcard: string): string | undefined {
  if (wildcard.length === 0 || wildcard.length > MAX_PATH) return undefined;
  const segments = wildcard.split("/");
  if (segments.length > MAX_DEPTH || !segments.every((s) => SEGMENT.test(s) && !s.includes(".."))) {
    return undefined;
  }
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(join(realRoot, ...segments));
  } catch {
    return undefined;
  }
  if (!real.startsWith(realRoot + sep)) return undefined;
  try {
    if (!statSync(real).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return real;
}

/** The strict headers on every reply of `app`: add before any plugin, so its routes get them too. */
export function registerPortalHeaders(app: FastifyInstance): void {
  app.addHook("onSend", async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(PORTAL_HEADERS)) reply.header(name, value);
    return payload;
  });
}

/** GET / and /assets/* from the site directory. */
export function registerPortalSite(app: FastifyInstance, options: PortalSiteOptions = {}): void {
  const dir = options.dir ?? DEFAULT_PORTAL_SITE;
  const assets = join(dir, "assets");

  async function sendIndex(reply: FastifyReply): Promise<FastifyReply> {
    const file = resolveSiteFile(dir, "index.html");
    reply.header("cache-control", "no-store");
    if (!file) return reply.code(503).type("text/html; charset=utf-8").send(MISSING_PAGE);
    return reply.type("text/html; charset=utf-8").send(await readFile(file));
  }

  app.get("/", { schema: { summary: "The portal's page", tags: ["portal"] } }, async (_request, reply) =>
    sendIndex(reply),
  );

  const asset = { schema: { summary: "The portal's scripts, styles and images", tags: ["portal"] } };
  app.get("/assets/*", asset, async (request, reply) => {
    const wildcard = (request.params as { "*"?: string })["*"] ?? "";
    const file = resolveSiteFile(assets, wildcard);
    if (!file) throw notFound();
    const name = file.slice(file.lastIndexOf(sep) + 1);
    return reply
      .type(CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream")
      .header("cache-control", HASHED.test(name) ? "public, max-age=31536000, immutable" : "no-cache")
      .send(await readFile(file));
  });
}
