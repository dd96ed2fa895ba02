// Limits of the node's mirror endpoints (POST /v1/mirror/contents, GET /v1/mirror/keys), in one place
// so the server that enforces them (service/routes/mirror-routes.ts) and the clients that page by them
// (the mirror's follower and the remote reference of `custos verify --against`) cannot drift apart.

/** Content hashes one POST /v1/mirror/contents may ask for. */
export const MAX_CONTENTS_PER_REQUEST = 512;
/** Entries one GET /v1/mirror/keys may span (to - from). */
export const MAX_KEY_RANGE = 65_536;
