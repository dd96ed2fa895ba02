// The signed-challenge login's one shared definition: the challenge a node issues and the exact bytes
// a client signs. The server (src/service/login.ts) and the browser portal import it from here, so
// the two can never drift. Platform-free (no node: import): it runs in the page too.

import { utf8 } from "../core/index.js";

export interface Challenge {
  readonly challengeId: string;
  readonly challenge: string;
  readonly server: string;
  readonly origin: string;
  readonly expiresAt: number;
}

/** The exact bytes a client signs to log in. */
export function loginMessage(c: Challenge): Uint8Array {
  return utf8(
    `custos-login-v1\n${c.server}\n${c.origin}\n${c.challengeId}\n${c.challenge}\n${c.expiresAt}\n`,
  );
}
