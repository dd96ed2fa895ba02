// What a verifier remembers between runs: the last checkpoint it verified and the tree's right edge
// at that size (O(log n) hashes), so an incremental run checks only what was appended since and
// still proves the new checkpoints extend the old one. Keep this file where the log's operator
// cannot write it.

import { readFileSync } from "node:fs";
import { CustosError, fromBase64, toBase64 } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";
import type { Tile } from "../storage.js";

export interface VerifyState {
  readonly origin: string;
  readonly verifierKey: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly edgeTiles: readonly Tile[];
  readonly verifiedAt: number;
}

interface VerifyStateJson {
  version: 1;
  origin: string;
  verifierKey: string;
  size: number;
  rootHash: string;
  edgeTiles: { level: number; index: number; hashes: string }[];
  verifiedAt: string;
}

export function readVerifyState(path: string): VerifyState | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CustosError("CONFIG", `cannot read the verify state file ${path}: ${(error as Error).message}`);
  }
  try {
    const json = JSON.parse(text) as VerifyStateJson;
    if (json.version !== 1 || !Number.isSafeInteger(json.size) || json.size < 0)
      throw new Error("bad fields");
    return {
      origin: String(json.origin),
      verifierKey: String(json.verifierKey),
      size: json.size,
      rootHash: fromBase64(json.rootHash),
      edgeTiles: json.edgeTiles.map((t) => ({
        level: t.level,
        index: t.index,
        hashes: fromBase64(t.hashes),
      })),
      verifiedAt: Date.parse(json.verifiedAt),
    };
  } catch {
    throw new CustosError(
      "CONFIG",
      `the verify state file ${path} is not valid; remove it to verify from scratch`,
    );
  }
}

export function writeVerifyState(path: string, state: VerifyState): void {
  const json: VerifyStateJson = {
    version: 1,
    origin: state.origin,
    verifierKey: state.verifierKey,
    size: state.size,
    rootHash: toBase64(state.rootHash),
    edgeTiles: state.edgeTiles.map((t) => ({ level: t.level, index: t.index, hashes: toBase64(t.hashes) })),
    verifiedAt: new Date(state.verifiedAt).toISOString(),
  };
  writeFileAtomic(path, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600 });
}
