// C2SP tlog-checkpoint bodies: origin line, decimal tree size, base64 root hash, then optional
// extension lines; signed as C2SP signed notes by the log (and cosigned by witnesses).

import { fromBase64, toBase64 } from "../bytes.js";
import { CustosError } from "../errors.js";
import { type OpenedSignature, openNote, parseVerifierKey, signNote } from "../note/index.js";

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: lines must not hold control characters
const LINE = /^[^\u0000-\u001f]+$/;

export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash } = checkpoint;
  if (!LINE.test(origin))
    throw new CustosError("BAD_CHECKPOINT", "checkpoint origin must be a non-empty line");
  if (!Number.isSafeInteger(size) || size < 0)
    throw new CustosError("BAD_CHECKPOINT", "checkpoint size must be a non-negative integer");
  if (rootHash.length !== 32)
    throw new CustosError("BAD_CHECKPOINT", "checkpoint root hash must be 32 bytes");
  const extensions = checkpoint.extensions ?? [];
  for (const line of extensions) {
    if (!LINE.test(line))
      throw new CustosError("BAD_CHECKPOINT", "checkpoint extension lines must be non-empty lines");
  }
  return [origin, String(size), toBase64(rootHash), ...extensions].map((line) => `${line}\n`).join("");
}

export function parseCheckpoint(body: string): Checkpoint & { readonly extensions: readonly string[] } {
  const bad = (why: string) => new CustosError("BAD_CHECKPOINT", `malformed checkpoint: ${why}`);
  if (!body.endsWith("\n")) throw bad("it must end with a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw bad("it needs an origin, a size and a root hash");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!LINE.test(origin)) throw bad("empty or invalid origin line");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText))
    throw bad("the size is not a decimal number without leading zeros");
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw bad("the size is too large");
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootText);
  } catch {
    throw bad("the root hash is not base64");
  }
  if (rootHash.length !== 32) throw bad("the root hash is not 32 bytes");
  for (const line of extensions) if (!LINE.test(line)) throw bad("empty or invalid extension line");
  return { origin, size, rootHash, extensions };
}

export function signCheckpoint(checkpoint: Checkpoint, signerKey: string): string {
  return signNote(formatCheckpoint(checkpoint), signerKey);
}

export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint & { readonly extensions: readonly string[] };
  readonly text: string;
  readonly signatures: readonly OpenedSignature[];
  /** Names of the cosigners (among opts.cosignerKeys) whose cosignatures verified. */
  readonly cosigners: readonly string[];
}

/**
 * Opens a signed checkpoint: requires a valid signature by the log's key and checks the body; reports
 * which of the given cosigner keys cosigned it.
 */
export function openCheckpoint(
  note: string,
  logVerifierKey: string,
  opts: { cosignerKeys?: readonly string[] } = {},
): OpenedCheckpoint {
  const log = parseVerifierKey(logVerifierKey);
  const opened = openNote(note, [logVerifierKey, ...(opts.cosignerKeys ?? [])]);
  if (!opened.signatures.some((s) => s.verified && s.name === log.name && s.keyId === log.keyId)) {
    throw new CustosError("UNKNOWN_KEY", "the checkpoint is not signed by the log's key");
  }
  const checkpoint = parseCheckpoint(opened.text);
  const cosigners = opened.signatures
    .filter((s) => s.verified && !(s.name === log.name && s.keyId === log.keyId))
    .map((s) => s.name);
  return { checkpoint, text: opened.text, signatures: opened.signatures, cosigners };
}
