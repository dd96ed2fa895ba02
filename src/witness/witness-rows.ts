// The witness store's SQLite schema (STRICT tables; evidence append-only by trigger) and its rows read
// back, checked: a value of the wrong type is STORE_CORRUPT, never misread.

import { CustosError } from "../core/index.js";
import { type CheckpointUpdate, EVIDENCE_KINDS, type Evidence, type EvidenceKind } from "./witness-store.js";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS log_keys (
  origin TEXT NOT NULL,
  verifier_key TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  PRIMARY KEY (origin, verifier_key)
) STRICT;
CREATE TABLE IF NOT EXISTS checkpoints (
  origin TEXT PRIMARY KEY,
  size INTEGER NOT NULL CHECK (size >= 0),
  root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
  note TEXT NOT NULL,
  cosigned_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  origin TEXT NOT NULL,
  kind TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  held_size INTEGER NOT NULL,
  held_root BLOB NOT NULL,
  held_note TEXT,
  submitted_size INTEGER NOT NULL,
  submitted_root BLOB NOT NULL,
  submitted_body_hash BLOB NOT NULL,
  submitted_note TEXT NOT NULL,
  proof TEXT NOT NULL,
  UNIQUE (origin, kind, held_size, held_root, submitted_body_hash)
) STRICT;
CREATE TRIGGER IF NOT EXISTS evidence_no_update BEFORE UPDATE ON evidence
  BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_no_delete BEFORE DELETE ON evidence
  BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
`;

export type Row = Record<string, unknown>;

export function bigintOf(value: unknown): bigint {
  if (typeof value === "bigint" && value >= 0n) return value;
  throw new CustosError("STORE_CORRUPT", "a stored tree size is not a non-negative integer");
}

export function numberOf(value: unknown): number {
  if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(value);
  throw new CustosError("STORE_CORRUPT", "a stored time or ID is not an integer");
}

export function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  throw new CustosError("STORE_CORRUPT", "a stored value that must be binary is not");
}

export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  throw new CustosError("STORE_CORRUPT", "a stored value that must be text is not");
}

export function evidenceOf(row: Row): Evidence {
  const kind = textOf(row.kind);
  if (!Object.values(EVIDENCE_KINDS).includes(kind as EvidenceKind)) {
    throw new CustosError("STORE_CORRUPT", "an evidence record has an unknown kind");
  }
  const proof = textOf(row.proof);
  return {
    id: numberOf(row.id),
    origin: textOf(row.origin),
    kind: kind as EvidenceKind,
    receivedAt: numberOf(row.received_at),
    heldSize: bigintOf(row.held_size),
    heldRoot: bytesOf(row.held_root),
    heldNote: row.held_note === null ? null : textOf(row.held_note),
    submittedSize: bigintOf(row.submitted_size),
    submittedRoot: bytesOf(row.submitted_root),
    submittedNote: textOf(row.submitted_note),
    proof: proof === "" ? [] : proof.split("\n"),
  };
}

export function toRow(held: CheckpointUpdate): [bigint, Uint8Array, string, bigint] {
  return [held.size, held.rootHash, held.note, BigInt(held.cosignedAt)];
}
