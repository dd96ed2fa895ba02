// What a mirror needs beyond the tiles: the encrypted content kept beside the tree (by hash) and the
// blinded keys filed with each entry (idempotency and lookup keys), so its copy can answer what the
// node answers and a node can be restored from it. Nodes (role node) only.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { CustosError, fromBase64, toBase64 } from "../../core/index.js";
import {
  MAX_KEY_RANGE,
  MirrorContentsReply,
  MirrorContentsRequest,
  MirrorKeysQuery,
  MirrorKeysReply,
} from "../../core/wire/index.js";
import type { ReadContext } from "../context.js";

export function registerMirrorRoutes(app: FastifyInstance, ctx: ReadContext): void {
  const store = ctx.ledger.store;
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    "/v1/mirror/contents",
    {
      schema: {
        summary: "Encrypted content beside the tree, by SHA-256 (mirrors)",
        tags: ["mirror"],
        body: MirrorContentsRequest,
        response: { 200: MirrorContentsReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "mirror-log", {});
      const contents = [];
      for (const text of request.body.hashes) {
        let hash: Uint8Array;
        try {
          hash = fromBase64(text);
        } catch {
          throw new CustosError("BAD_ENCODING", "a content hash is not base64");
        }
        if (hash.length !== 32) throw new CustosError("BAD_ARGUMENT", "a content hash is 32 bytes");
        const data = await store.getContent(hash);
        contents.push({ hash: text, data: data === undefined ? null : toBase64(data) });
      }
      return { contents };
    },
  );

  r.get(
    "/v1/mirror/keys",
    {
      schema: {
        summary: "Idempotency and lookup keys filed with entries in [from, to) (mirrors)",
        tags: ["mirror"],
        querystring: MirrorKeysQuery,
        response: { 200: MirrorKeysReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "mirror-log", {});
      const { from, to } = request.query;
      if (to < from || to - from > MAX_KEY_RANGE) {
        throw new CustosError("BAD_ARGUMENT", `ask for at most ${MAX_KEY_RANGE} entries, with from <= to`);
      }
      const size = (await ctx.checkpoint()).size;
      if (to > size)
        throw new CustosError("NOT_FOUND", `entries up to ${to} are not under a signed checkpoint yet`);
      const wire = (rows: { key: Uint8Array; index: number }[]) =>
        rows.map((row) => ({ key: toBase64(row.key), index: row.index }));
      return {
        idempotency: wire(await store.keysInRange("idempotency", from, to)),
        lookup: wire(await store.keysInRange("lookup", from, to)),
      };
    },
  );
}
