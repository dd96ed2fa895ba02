// The log itself: its identity, the latest checkpoint, inclusion and consistency proofs, receipts.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { CustosError, toBase64 } from "../../core/index.js";
import { leafHash } from "../../core/merkle/index.js";
import {
  ConsistencyQuery,
  ConsistencyReply,
  InclusionQuery,
  InclusionReply,
  LogReply,
  QuorumQuery,
  ReceiptParams,
  ReceiptReply,
} from "../../core/wire/index.js";
import type { ReadContext } from "../context.js";

export function registerLogRoutes(app: FastifyInstance, ctx: ReadContext): void {
  const ledger = ctx.ledger;
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    "/v1/log",
    {
      schema: {
        summary: "The log's origin and verifier key, and its latest signed size",
        tags: ["log"],
        response: { 200: LogReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "read-log", {});
      // The size replies are proven against (the witnessed checkpoint's, when there are witnesses).
      const checkpoint = await ctx.checkpoint().catch(() => undefined);
      return {
        origin: ledger.meta.origin,
        verifierKey: ledger.meta.verifierKey,
        size: checkpoint?.size ?? 0,
        sequencing: ledger.writable,
      };
    },
  );

  r.get(
    "/v1/checkpoint",
    {
      schema: {
        summary: "The latest signed checkpoint (C2SP tlog-checkpoint signed note)",
        description:
          "With witnesses, the newest witnessed one; `?quorum=N` the newest one at least N witnesses cosigned.",
        tags: ["log"],
        querystring: QuorumQuery,
      },
    },
    async (request, reply) => {
      await ctx.allow(ctx.callerOf(request), "read-log", {});
      const checkpoint = await ctx.checkpoint(request.query.quorum);
      return reply.type("text/plain; charset=utf-8").send(checkpoint.note);
    },
  );

  r.get(
    "/v1/proof/inclusion",
    {
      schema: {
        summary: "Inclusion proof of entry `index` in the tree of size `size` (RFC 9162)",
        tags: ["log"],
        querystring: InclusionQuery,
        response: { 200: InclusionReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "read-log", {});
      const { index, size } = request.query;
      await checkSigned(ctx, size);
      const proof = await ledger.inclusionProof(index, size);
      return { index, size, proof: proof.map(toBase64) };
    },
  );

  r.get(
    "/v1/proof/consistency",
    {
      schema: {
        summary: "Consistency proof between tree sizes `from` and `to` (RFC 9162)",
        tags: ["log"],
        querystring: ConsistencyQuery,
        response: { 200: ConsistencyReply },
      },
    },
    async (request) => {
      await ctx.allow(ctx.callerOf(request), "read-log", {});
      const { from, to } = request.query;
      await checkSigned(ctx, to);
      const proof = await ledger.consistencyProof(from, to);
      return { from, to, proof: proof.map(toBase64) };
    },
  );

  r.get(
    "/v1/receipt/:index",
    {
      schema: {
        summary: "A receipt for entry `index`: the entry, its inclusion proof and the signed checkpoint",
        description:
          "Also as `proof`: the C2SP tlog-proof text. An entry that names a patient is included only for those who may see it (see `entry`); anyone else gets the leaf hash and its proof. 404 until a signed checkpoint covers the entry (within the checkpoint interval).",
        tags: ["log"],
        params: ReceiptParams,
        querystring: QuorumQuery,
        response: { 200: ReceiptReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "read-log", {});
      const { index } = request.params;
      const checkpoint = await ctx.checkpoint(request.query.quorum);
      if (index >= checkpoint.size) {
        throw new CustosError(
          "NOT_FOUND",
          `entry ${index} is not yet covered by a signed checkpoint (size ${checkpoint.size}); retry shortly`,
        );
      }
      const entry = await ledger.getEntry(index);
      const proof = (await ledger.inclusionProof(index, checkpoint.size)).map(toBase64);
      return {
        index,
        leafHash: toBase64(leafHash(entry.data)),
        ...(ctx.mayReadEntry(caller, entry.data) ? { entry: toBase64(entry.data) } : {}),
        checkpoint: checkpoint.note,
        inclusion: proof,
        tlogProof: `c2sp.org/tlog-proof@v1\nindex ${index}\n${proof.map((h) => `${h}\n`).join("")}\n${checkpoint.note}`,
      };
    },
  );
}

/** Proofs are served only up to the latest signed size: an unsigned tree head is nobody's promise. */
async function checkSigned(ctx: ReadContext, size: number): Promise<void> {
  const checkpoint = await ctx.checkpoint();
  if (size > checkpoint.size) {
    throw new CustosError(
      "NOT_FOUND",
      `size ${size} is beyond the latest signed checkpoint (${checkpoint.size})`,
    );
  }
}
