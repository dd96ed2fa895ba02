// A witness restored from a backup has forgotten what it cosigned after the backup was made. Until it
// has compared what it holds with what its log serves now, it must not cosign: `custos restore` leaves
// a marker (RESTORED_FILE) naming the sizes the backup held, and `custos witness serve` checks each log
// against a node or a serving mirror of it (the audit company's own mirror is the source to prefer)
// before it listens. The served checkpoint goes through the witness protocol itself (add-checkpoint
// with a consistency proof from the held size), so a fork is refused and kept as evidence exactly as a
// submission would be; a log that serves fewer entries than the witness cosigned is refused too. Only
// when every restored log checks out does the marker go, and the witness serves.

import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseCheckpoint } from "../core/checkpoint/index.js";
import { CustosError, utf8 } from "../core/index.js";
import { openNote, parseNote } from "../core/note/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import { Witness } from "./witness-server.js";
import type { WitnessStore } from "./witness-store.js";

/** Left in a restored witness's directory until it has been checked against its logs. */
export const RESTORED_FILE = "restored.json";

export interface RestoredMarker {
  readonly backupCreatedAt: number;
  readonly restoredAt: number;
  /** Each watched log and the size the backup held (null: nothing cosigned yet). */
  readonly logs: readonly { readonly origin: string; readonly size: string | null }[];
}

/** A node or serving mirror of a log, over mutual TLS (the CLI passes an MtlsClient). */
export interface LogSource {
  readonly url: string;
  call<T>(method: "GET", path: string): Promise<T>;
}

export function writeRestoredMarker(dir: string, marker: RestoredMarker): void {
  writeFileAtomic(join(dir, RESTORED_FILE), `${JSON.stringify(marker, null, 2)}\n`);
}

export function readRestoredMarker(dir: string): RestoredMarker | undefined {
  const path = join(dir, RESTORED_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const marker = JSON.parse(readFileSync(path, "utf8")) as RestoredMarker;
    if (!Array.isArray(marker.logs)) throw new Error("no logs");
    return marker;
  } catch {
    throw new CustosError(
      "STORE_CORRUPT",
      `${path} is damaged: it says this witness was restored from a backup; check it against its log(s) by hand (custos witness show), then remove the file`,
    );
  }
}

export function clearRestoredMarker(dir: string): void {
  rmSync(join(dir, RESTORED_FILE), { force: true });
}

export interface LogCheck {
  readonly origin: string;
  /** The size held from the backup. */
  readonly heldSize: bigint;
  /** The size the log serves now. */
  readonly servedSize: bigint;
  /** The served checkpoint carried this witness's own cosignature (cosigned before the loss). */
  readonly ownCosignature: boolean;
  readonly source: string;
}

/**
 * Checks one log's served checkpoint against what the witness holds, and on success cosigns it (the
 * held size moves up to it). Throws CONFLICT with a one-line reason when the log is behind or forked
 * (a fork is also kept as evidence, like a refused submission).
 */
export async function checkRestoredLog(
  witness: Witness,
  source: LogSource,
  expectedOrigins: ReadonlySet<string>,
): Promise<LogCheck> {
  const note = await source.call<string>("GET", "/v1/checkpoint");
  let origin: string;
  let size: bigint;
  let body: string;
  try {
    body = parseNote(note).text;
    const checkpoint = parseCheckpoint(body);
    origin = checkpoint.origin;
    size = BigInt(checkpoint.size);
  } catch (error) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `${source.url} serves no checkpoint this witness can read: ${(error as Error).message}`,
    );
  }
  const store = witness.store;
  const log = store.knownLog(origin);
  if (!log || !expectedOrigins.has(origin))
    throw new CustosError(
      "CONFIG",
      `${source.url} serves the log "${origin}", which this restored witness does not watch`,
    );
  try {
    openNote(note, log.verifierKeys);
  } catch {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `${source.url} serves a checkpoint of ${origin} that no key this witness trusts for it signed`,
    );
  }
  const held = store.latest(origin);
  const heldSize = held?.size ?? 0n;
  let ownCosignature = false;
  try {
    openNote(note, [witness.verifierKey]);
    ownCosignature = true;
  } catch {
    ownCosignature = false;
  }
  if (size < heldSize)
    throw new CustosError(
      "CONFLICT",
      `${source.url} serves ${size} entries of ${origin}, fewer than the ${heldSize} this witness cosigned before its backup: the log lost entries or serves a fork. Find out why (custos verify on the node) before this witness cosigns again`,
    );
  let proof: string[] = [];
  if (size > heldSize && heldSize > 0n) {
    const reply = await source.call<{ proof: string[] }>(
      "GET",
      `/v1/proof/consistency?from=${heldSize}&to=${size}`,
    );
    proof = reply.proof;
  }
  // The served checkpoint as a submission from the held size: the protocol's own checks decide.
  const request = `old ${heldSize}\n${proof.map((line) => `${line}\n`).join("")}\n${note}`;
  const reply = witness.addCheckpoint(utf8(request));
  if (reply.outcome === "fork" || reply.outcome === "bad-proof")
    throw new CustosError(
      "CONFLICT",
      `${source.url} serves a checkpoint of ${origin} (size ${size}) that is not an extension of the ${heldSize} entries this witness cosigned before its backup: a fork. It is kept as evidence (custos witness evidence); this witness does not cosign it`,
    );
  if (reply.outcome !== "cosigned")
    throw new CustosError(
      "BAD_CHECKPOINT",
      `${source.url}: the served checkpoint of ${origin} was refused: ${reply.body.trim()}`,
    );
  return { origin, heldSize, servedSize: size, ownCosignature, source: source.url };
}

/** Checks every log a restored witness watches; throws before anything is served when one fails. */
export async function checkRestoredWitness(
  dir: string,
  store: WitnessStore,
  cosignerKey: string,
  sources: readonly LogSource[],
): Promise<LogCheck[]> {
  const marker = readRestoredMarker(dir);
  if (marker === undefined) return [];
  const origins = new Set(marker.logs.map((l) => l.origin));
  const witness = new Witness(store, cosignerKey);
  const checks: LogCheck[] = [];
  for (const source of sources) checks.push(await checkRestoredLog(witness, source, origins));
  const unchecked = [...origins].filter((o) => !checks.some((c) => c.origin === o));
  if (unchecked.length > 0)
    throw new CustosError(
      "CONFIG",
      `this witness was restored from a backup and ${unchecked.map((o) => `"${o}"`).join(", ")} ${unchecked.length === 1 ? "is" : "are"} not checked yet: give --check-log URL (a node or serving mirror) for each`,
    );
  clearRestoredMarker(dir);
  return checks;
}
