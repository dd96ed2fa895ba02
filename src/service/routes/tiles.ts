// The c2sp.org/tlog-tiles read API: GET /checkpoint and GET /tile/... (tiles and entry bundles), for
// witnesses, mirrors and monitors. Every request is authorized as read-log first. Full tiles and
// bundles never change, so caches may keep them; the checkpoint and partial ones are revalidated.

import { promisify } from "node:util";
import { gzip } from "node:zlib";
import type { FastifyInstance } from "fastify";
import { CustosError } from "../../core/index.js";
import { parseTilePath, readC2spTile, readEntryBundle } from "../../ledger/index.js";
import type { ReadContext } from "../context.js";

// private: the API is authenticated, so no shared cache may keep a copy for callers it cannot check.
export const FULL_TILE_CACHE_CONTROL = "private, max-age=31536000, immutable";
export const PARTIAL_TILE_CACHE_CONTROL = "no-cache";
// c2sp.org/tlog-tiles "Checkpoints": mutable, so not cached beyond a few seconds.
export const CHECKPOINT_CACHE_CONTROL = "no-cache";

const gzipAsync = promisify(gzip);

export function registerTileRoutes(app: FastifyInstance, ctx: ReadContext): void {
  const store = () => ctx.ledger.store;

  const checkpointRoute = {
    schema: { summary: "The latest signed checkpoint (c2sp.org/tlog-checkpoint), as text", tags: ["log"] },
  };
  app.get("/checkpoint", checkpointRoute, async (request, reply) => {
    await ctx.allow(ctx.callerOf(request), "read-log", {});
    const checkpoint = await store().getLatestCheckpoint();
    if (checkpoint === undefined) throw new CustosError("NOT_FOUND", "the log has no signed checkpoint yet");
    return reply
      .header("cache-control", CHECKPOINT_CACHE_CONTROL)
      .type("text/plain; charset=utf-8")
      .send(checkpoint.note);
  });

  const tileRoute = {
    schema: {
      summary:
        "A tile or an entry bundle (c2sp.org/tlog-tiles), e.g. /tile/0/x001/234.p/5 or /tile/entries/000",
      tags: ["log"],
    },
  };
  app.get<{ Params: { "*": string } }>("/tile/*", tileRoute, async (request, reply) => {
    await ctx.allow(ctx.callerOf(request), "read-log", {});
    const tile = parseTilePath(request.params["*"]);
    const body =
      tile.kind === "entries"
        ? await readEntryBundle(store(), tile.index, tile.width)
        : await readC2spTile(store(), tile.level, tile.index, tile.width);
    reply
      .header(
        "cache-control",
        tile.width === undefined ? FULL_TILE_CACHE_CONTROL : PARTIAL_TILE_CACHE_CONTROL,
      )
      .type("application/octet-stream");
    // c2sp.org/tlog-tiles "Log entries": bundles SHOULD be compressed at the HTTP layer.
    if (tile.kind === "entries") {
      reply.header("vary", "accept-encoding");
      if (acceptsGzip(request.headers["accept-encoding"])) {
        return reply.header("content-encoding", "gzip").send(await gzipAsync(body));
      }
    }
    return reply.send(body);
  });
}

/** Whether an Accept-Encoding header (RFC 9110 12.5.3) admits gzip: listed, and not with q=0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined || header.length > 1024) return false;
  for (const item of header.split(",")) {
    const [coding, ...params] = item.split(";").map((part) => part.trim().toLowerCase());
    if (coding !== "gzip" && coding !== "x-gzip") continue;
    const q = params.find((param) => param.startsWith("q="));
    return q === undefined || !/^q=0(?:\.0{0,3})?$/.test(q);
  }
  return false;
}
