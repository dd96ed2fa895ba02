// The node's fork alerts as the page shows them: each note of an alert's evidence is checked here for
// the log's own signature (a node cannot show an auditor a made-up fork), the rest taken as the node
// lists it, refused when malformed.

import { openCheckpoint } from "../../../src/core/checkpoint/index.js";
import { PortalError } from "./errors.js";
import type { AlertRow, PortalConfig } from "./types.js";

export interface WireAlert {
  id?: unknown;
  at?: unknown;
  witness?: unknown;
  size?: unknown;
  reason?: unknown;
  checkpoint?: unknown;
  witnessCheckpoint?: unknown;
  acknowledged?: unknown;
  source?: unknown;
}

/** Whether a note is a checkpoint signed by the log's own key (checked here, not taken on trust). */
function signedByLog(note: string, log: PortalConfig["log"]): boolean {
  try {
    return openCheckpoint(note, log.verifierKey).checkpoint.origin === log.origin;
  } catch {
    return false;
  }
}

export function alertRow(alert: WireAlert, log: PortalConfig["log"]): AlertRow {
  if (typeof alert?.id !== "number" || typeof alert.at !== "number" || typeof alert.witness !== "string") {
    throw new PortalError("CONFIG", "The node's alert list is malformed.");
  }
  const evidence = [alert.checkpoint, alert.witnessCheckpoint].filter(
    (note): note is string => typeof note === "string",
  );
  return {
    id: alert.id,
    time: alert.at,
    witness: alert.witness,
    message: typeof alert.reason === "string" ? alert.reason : "the witness refused the node's checkpoint",
    evidence,
    evidenceSigned: evidence.map((note) => signedByLog(note, log)),
    source: alert.source === "gossip" ? "gossip" : "witness",
    acknowledged: alert.acknowledged !== undefined && alert.acknowledged !== null,
    ...ackNote(alert.acknowledged),
  };
}

function ackNote(acknowledged: unknown): { acknowledgedNote?: string } {
  const note = (acknowledged as { note?: unknown } | null | undefined)?.note;
  return typeof note === "string" && note.length <= 1000 ? { acknowledgedNote: note } : {};
}
