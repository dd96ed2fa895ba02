// What a mirror copies beside the tiles (src/service/routes/mirror-routes.ts): the encrypted content
// kept beside the tree, by hash, and the blinded keys filed with each entry. The limits are here so
// the server that enforces them and the clients that page by them (the mirror's follower and the
// remote reference of `custos verify --against`) cannot drift apart.

import { z } from "zod";
import { Count } from "./log.js";

/** Content hashes one POST /v1/mirror/contents may ask for. */
export const MAX_CONTENTS_PER_REQUEST = 512;
/** Entries one GET /v1/mirror/keys may span (to - from). */
export const MAX_KEY_RANGE = 65_536;

export const MirrorContentsRequest = z
  .object({ hashes: z.array(z.string()).min(1).max(MAX_CONTENTS_PER_REQUEST) })
  .strict();
export const MirrorContentsReply = z.object({
  contents: z.array(z.object({ hash: z.string(), data: z.string().nullable() })),
});

export const MirrorKeysQuery = z.object({ from: Count, to: Count });
const FiledKey = z.object({ key: z.string(), index: z.number() });
export const MirrorKeysReply = z.object({ idempotency: z.array(FiledKey), lookup: z.array(FiledKey) });

export type MirrorContentsReplyBody = z.infer<typeof MirrorContentsReply>;
export type MirrorKeysReplyBody = z.infer<typeof MirrorKeysReply>;
