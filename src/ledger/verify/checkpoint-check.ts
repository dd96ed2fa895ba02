// The checkpoint side of `custos verify`: every stored checkpoint's signature, origin and order,
// forks between them, and rollback against the state verified before.

import { parseCheckpoint } from "../../core/checkpoint/index.js";
import { bytesEqual } from "../../core/index.js";
import { openNote } from "../../core/note/index.js";
import type { LedgerStore } from "../storage.js";
import type { Finding } from "./findings.js";
import type { VerifyState } from "./verify-state.js";

export interface ValidCheckpoint {
  readonly position: number;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
}

export async function checkCheckpoints(
  store: LedgerStore,
  origin: string,
  verifierKey: string,
  state: VerifyState | undefined,
  findings: Finding[],
): Promise<ValidCheckpoint[]> {
  const stored = await store.listCheckpoints();
  const valid: ValidCheckpoint[] = [];
  let largestSoFar = -1;
  stored.forEach((cp, position) => {
    let text: string;
    try {
      text = openNote(cp.note, [verifierKey]).text;
    } catch (error) {
      findings.push({
        code: "CHECKPOINT_BAD_SIGNATURE",
        message: `checkpoint ${position + 1} of ${stored.length} (claiming size ${cp.size}) does not carry a valid signature of the log: it was forged or altered (${(error as Error).message})`,
        checkpointSize: cp.size,
        checkpointPosition: position,
      });
      return;
    }
    let parsed: ReturnType<typeof parseCheckpoint>;
    try {
      parsed = parseCheckpoint(text);
    } catch (error) {
      findings.push({
        code: "CHECKPOINT_MALFORMED",
        message: `checkpoint ${position + 1} of ${stored.length} is signed but malformed: ${(error as Error).message}`,
        checkpointPosition: position,
      });
      return;
    }
    if (parsed.origin !== origin || parsed.size !== cp.size) {
      findings.push({
        code: "CHECKPOINT_MALFORMED",
        message: `checkpoint ${position + 1} of ${stored.length} is filed under size ${cp.size} but is for "${parsed.origin}" at size ${parsed.size}`,
        checkpointPosition: position,
      });
      return;
    }
    if (parsed.size < largestSoFar) {
      findings.push({
        code: "CHECKPOINT_ROLLED_BACK",
        message: `checkpoint ${position + 1} of ${stored.length} rolls the log back to size ${parsed.size} after a checkpoint for size ${largestSoFar} was stored`,
        checkpointSize: parsed.size,
        checkpointPosition: position,
      });
    }
    largestSoFar = Math.max(largestSoFar, parsed.size);
    for (const other of valid) {
      if (other.size === parsed.size && !bytesEqual(other.rootHash, parsed.rootHash)) {
        findings.push({
          code: "CHECKPOINT_FORK",
          message: `two checkpoints signed by the log for size ${parsed.size} have different roots: the log key signed two different histories`,
          checkpointSize: parsed.size,
          checkpointPosition: position,
        });
      }
    }
    valid.push({ position, size: parsed.size, rootHash: parsed.rootHash, note: cp.note });
  });
  if (state !== undefined) {
    const latestSize = valid.reduce((max, cp) => Math.max(max, cp.size), -1);
    if (latestSize < state.size) {
      findings.push({
        code: "CHECKPOINT_ROLLED_BACK",
        message: `the newest checkpoint in the store is for size ${Math.max(latestSize, 0)}, but size ${state.size} was verified on ${new Date(state.verifiedAt).toISOString()}: checkpoints were removed or rolled back`,
        checkpointSize: state.size,
      });
    }
    for (const cp of valid) {
      if (cp.size === state.size && !bytesEqual(cp.rootHash, state.rootHash)) {
        findings.push({
          code: "CHECKPOINT_FORK",
          message: `a checkpoint for size ${cp.size} has a different root than the one verified before: the log's history was replaced`,
          checkpointSize: cp.size,
          checkpointPosition: cp.position,
        });
      }
    }
  }
  return valid;
}
