// A witness's durable state (c2sp.org/tlog-witness): the logs it watches (origin -> trusted verifier
// keys), the latest checkpoint it cosigned for each, and an append-only table of refused submissions
// that prove, or suggest, log misbehaviour. One SQLite file (WAL, synchronous=FULL) in the witness's
// data directory; the cosigner's private key is never in it (it lives in the sealed keystore beside it).
//
// Invariant: for every origin the stored size only grows. `update` reads the held checkpoint, lets the
// caller decide, and writes the decision inside one `BEGIN IMMEDIATE` transaction (the spec's race
// section), and the write itself is a compare-and-set that refuses to go backwards.
//
//   WDIR/witness.db      this store
//   WDIR/keystore.json   the cosigner key, sealed under the master key (docs/keystore.md)

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { bytesEqual, CustosError, sha256, utf8 } from "../core/index.js";
import { EMPTY_ROOT } from "../core/merkle/index.js";
import { KEY_TYPES, parseVerifierKey } from "../core/note/index.js";
import { bigintOf, bytesOf, evidenceOf, numberOf, type Row, SCHEMA, textOf, toRow } from "./witness-rows.js";

// The data directory's other half (the keystore) and its set-up, from their old home.
export {
  COSIGNER_SECRET,
  initWitnessDir,
  loadCosignerKey,
  WITNESS_KEYSTORE_FILE,
  type WitnessInitResult,
} from "./witness-dir.js";

export const WITNESS_DB_FILE = "witness.db";
export const WITNESS_SCHEMA_VERSION = 1;
/** c2sp.org/tlog-witness sizes are uint64 on the wire; SQLite holds signed 64-bit integers. */
export const MAX_TREE_SIZE = (1n << 63n) - 1n;
/** An origin is one checkpoint line: no control characters, bounded so rows stay small. */
export const MAX_ORIGIN_LENGTH = 1024;

export interface WitnessMeta {
  /** The cosigner's key name (c2sp.org/tlog-cosignature), e.g. `witness.example/w1`. */
  readonly name: string;
  /** The cosigner's verifier key (type 0x04), Go sumdb/note text form. */
  readonly verifierKey: string;
  readonly createdAt: number;
}

export interface KnownLog {
  readonly origin: string;
  /** Trusted log verifier keys (type 0x01), Go sumdb/note text form. */
  readonly verifierKeys: readonly string[];
}

export interface HeldCheckpoint {
  readonly origin: string;
  readonly size: bigint;
  readonly rootHash: Uint8Array;
  /** The checkpoint body, the log's verified signatures and this witness's cosignature. */
  readonly note: string;
  /** The cosignature's timestamp, seconds since the epoch. */
  readonly cosignedAt: number;
}

export const EVIDENCE_KINDS = {
  /** Two checkpoints of one size with different roots, both signed by the log: a fork, proven. */
  sameSizeDifferentRoot: "same-size-different-root",
  /** A larger signed checkpoint whose consistency proof from the held one fails: a fork or a bad proof. */
  consistencyProofFailed: "consistency-proof-failed",
} as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[keyof typeof EVIDENCE_KINDS];

export interface Evidence {
  readonly id: number;
  readonly origin: string;
  readonly kind: EvidenceKind;
  /** Milliseconds since the epoch. */
  readonly receivedAt: number;
  readonly heldSize: bigint;
  readonly heldRoot: Uint8Array;
  /** The held note (signed by the log and cosigned by us), or null when nothing was held (size 0). */
  readonly heldNote: string | null;
  readonly submittedSize: bigint;
  readonly submittedRoot: Uint8Array;
  /** The submitted note, exactly as received. */
  readonly submittedNote: string;
  /** The submitted consistency proof, base64 lines. */
  readonly proof: readonly string[];
}

export interface NewEvidence {
  readonly kind: EvidenceKind;
  readonly receivedAt: number;
  readonly submittedSize: bigint;
  readonly submittedRoot: Uint8Array;
  /** The checkpoint body the log signed (deduplicates repeated submissions of one checkpoint). */
  readonly submittedBody: string;
  readonly submittedNote: string;
  readonly proof: readonly string[];
}

export interface CheckpointUpdate {
  readonly size: bigint;
  readonly rootHash: Uint8Array;
  readonly note: string;
  readonly cosignedAt: number;
}

/** What `update`'s step decided: a result for the caller, and what to persist with it. */
export interface Decision<T> {
  readonly result: T;
  readonly advance?: CheckpointUpdate;
  readonly evidence?: NewEvidence;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: an origin is one line without control characters
const ORIGIN_LINE = /^[^\u0000-\u001f\u007f]+$/;

/** A checkpoint origin line (c2sp.org/tlog-checkpoint): non-empty, no control characters, bounded. */
export function checkOrigin(origin: string): string {
  if (!ORIGIN_LINE.test(origin) || origin.length > MAX_ORIGIN_LENGTH || origin.trim() !== origin) {
    throw new CustosError(
      "BAD_ARGUMENT",
      `an origin is one line of 1-${MAX_ORIGIN_LENGTH} characters without control characters or surrounding spaces`,
    );
  }
  return origin;
}

export class WitnessStore {
  readonly path: string;
  readonly #db: Database.Database;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
  }

  /** Creates the store in `dir` (refuses an existing one) and records the witness's public identity. */
  static create(dir: string, meta: { name: string; verifierKey: string; createdAt?: number }): WitnessStore {
    const key = parseVerifierKey(meta.verifierKey);
    if (key.type !== KEY_TYPES.cosignatureV1 || key.name !== meta.name) {
      throw new CustosError(
        "BAD_KEY",
        "the witness's verifier key must be a cosignature key (type 0x04) named as the witness",
      );
    }
    const path = join(dir, WITNESS_DB_FILE);
    if (existsSync(path)) throw new CustosError("STORE_EXISTS", `${dir} already holds a witness store`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const store = WitnessStore.#connect(path, true);
    store.#db
      .prepare("INSERT INTO meta (key, value) VALUES (?, ?), (?, ?), (?, ?), (?, ?)")
      .run(
        "schema_version",
        String(WITNESS_SCHEMA_VERSION),
        "name",
        meta.name,
        "verifier_key",
        meta.verifierKey,
        "created_at",
        String(meta.createdAt ?? Date.now()),
      );
    return store;
  }

  static open(dir: string): WitnessStore {
    const path = join(dir, WITNESS_DB_FILE);
    if (!existsSync(path)) {
      throw new CustosError(
        "STORE_NOT_FOUND",
        `no witness in ${dir} (run custos witness init --data ${dir} --name NAME)`,
      );
    }
    const store = WitnessStore.#connect(path, false);
    const version = store.#metaValue("schema_version");
    if (version !== String(WITNESS_SCHEMA_VERSION)) {
      store.close();
      throw new CustosError(
        "STORE_CORRUPT",
        `the witness store in ${dir} has schema version ${version ?? "none"}, this Custos reads ${WITNESS_SCHEMA_VERSION}`,
      );
    }
    return store;
  }

  static #connect(path: string, create: boolean): WitnessStore {
    const db = new Database(path, { fileMustExist: !create });
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 5000");
      db.defaultSafeIntegers(true);
      db.exec(SCHEMA);
    } catch (error) {
      db.close();
      throw new CustosError("STORE_CORRUPT", `cannot open the witness store ${path}`, { cause: error });
    }
    return new WitnessStore(path, db);
  }

  #metaValue(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as Row | undefined;
    return row === undefined ? undefined : textOf(row.value);
  }

  get meta(): WitnessMeta {
    const name = this.#metaValue("name");
    const verifierKey = this.#metaValue("verifier_key");
    const createdAt = Number(this.#metaValue("created_at"));
    if (name === undefined || verifierKey === undefined || !Number.isSafeInteger(createdAt)) {
      throw new CustosError("STORE_CORRUPT", "the witness store has no name or verifier key");
    }
    return { name, verifierKey, createdAt };
  }

  /** Trusts a log verifier key (type 0x01) for an origin; false if it was trusted already. */
  addLogKey(origin: string, verifierKey: string, now: number = Date.now()): boolean {
    checkOrigin(origin);
    const key = parseVerifierKey(verifierKey);
    if (key.type !== KEY_TYPES.ed25519) {
      throw new CustosError("BAD_KEY", "a log's verifier key must be an Ed25519 note key (type 0x01)");
    }
    const info = this.#db
      .prepare("INSERT OR IGNORE INTO log_keys (origin, verifier_key, added_at) VALUES (?, ?, ?)")
      .run(origin, verifierKey, BigInt(now));
    return info.changes === 1;
  }

  knownLog(origin: string): KnownLog | undefined {
    const rows = this.#db
      .prepare("SELECT verifier_key FROM log_keys WHERE origin = ? ORDER BY added_at, verifier_key")
      .all(origin) as Row[];
    if (rows.length === 0) return undefined;
    return { origin, verifierKeys: rows.map((row) => textOf(row.verifier_key)) };
  }

  logs(): KnownLog[] {
    const rows = this.#db
      .prepare("SELECT origin, verifier_key FROM log_keys ORDER BY origin, added_at, verifier_key")
      .all() as Row[];
    const byOrigin = new Map<string, string[]>();
    for (const row of rows) {
      const origin = textOf(row.origin);
      const keys = byOrigin.get(origin) ?? [];
      keys.push(textOf(row.verifier_key));
      byOrigin.set(origin, keys);
    }
    return [...byOrigin].map(([origin, verifierKeys]) => ({ origin, verifierKeys }));
  }

  latest(origin: string): HeldCheckpoint | undefined {
    const row = this.#db
      .prepare("SELECT size, root_hash, note, cosigned_at FROM checkpoints WHERE origin = ?")
      .get(origin) as Row | undefined;
    if (row === undefined) return undefined;
    return {
      origin,
      size: bigintOf(row.size),
      rootHash: bytesOf(row.root_hash),
      note: textOf(row.note),
      cosignedAt: numberOf(row.cosigned_at),
    };
  }

  /**
   * Reads the held checkpoint for `origin`, runs `step` (synchronous: nothing else runs in between),
   * and persists its decision, all in one `BEGIN IMMEDIATE` transaction, so a concurrent request (in
   * this process or another) sees either the state before or after, never a mix
   * (c2sp.org/tlog-witness, the race in add-checkpoint). An advance that would shrink the tree or
   * change the root at the same size is refused with CONFLICT whatever `step` says.
   */
  update<T>(origin: string, step: (held: HeldCheckpoint | undefined) => Decision<T>): T {
    const run = this.#db.transaction((): T => {
      const held = this.latest(origin);
      const decision = step(held);
      if (decision.evidence) this.#recordEvidence(origin, held, decision.evidence);
      if (decision.advance) this.#advance(origin, held, decision.advance);
      return decision.result;
    });
    return run.immediate();
  }

  #advance(origin: string, held: HeldCheckpoint | undefined, next: CheckpointUpdate): void {
    if (next.size < 0n || next.size > MAX_TREE_SIZE || next.rootHash.length !== 32) {
      throw new CustosError("BAD_ARGUMENT", "a checkpoint's size or root hash is out of range");
    }
    if (
      held &&
      (next.size < held.size || (next.size === held.size && !bytesEqual(next.rootHash, held.rootHash)))
    ) {
      throw new CustosError("CONFLICT", `refusing to move ${origin} from size ${held.size} to ${next.size}`);
    }
    // Compare-and-set: the row changes only if it still holds what `step` saw.
    const info = held
      ? this.#db
          .prepare(
            "UPDATE checkpoints SET size = ?, root_hash = ?, note = ?, cosigned_at = ? WHERE origin = ? AND size = ? AND root_hash = ?",
          )
          .run(...toRow(next), origin, held.size, held.rootHash)
      : this.#db
          .prepare(
            "INSERT OR IGNORE INTO checkpoints (size, root_hash, note, cosigned_at, origin) VALUES (?, ?, ?, ?, ?)",
          )
          .run(...toRow(next), origin);
    if (info.changes !== 1)
      throw new CustosError("CONFLICT", `the held checkpoint of ${origin} changed meanwhile`);
  }

  #recordEvidence(origin: string, held: HeldCheckpoint | undefined, evidence: NewEvidence): void {
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO evidence (origin, kind, received_at, held_size, held_root, held_note,
           submitted_size, submitted_root, submitted_body_hash, submitted_note, proof)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        origin,
        evidence.kind,
        BigInt(evidence.receivedAt),
        held?.size ?? 0n,
        held?.rootHash ?? EMPTY_ROOT,
        held?.note ?? null,
        evidence.submittedSize,
        evidence.submittedRoot,
        sha256(utf8(evidence.submittedBody)),
        evidence.submittedNote,
        evidence.proof.join("\n"),
      );
  }

  evidence(origin?: string): Evidence[] {
    const rows = (
      origin === undefined
        ? this.#db.prepare("SELECT * FROM evidence ORDER BY id").all()
        : this.#db.prepare("SELECT * FROM evidence WHERE origin = ? ORDER BY id").all(origin)
    ) as Row[];
    return rows.map(evidenceOf);
  }

  /** At most `limit` evidence records for `origin` with IDs above `afterId`, oldest first (for paging). */
  evidencePage(origin: string, afterId: number, limit: number): Evidence[] {
    const rows = this.#db
      .prepare("SELECT * FROM evidence WHERE origin = ? AND id > ? ORDER BY id LIMIT ?")
      .all(origin, BigInt(afterId), BigInt(limit)) as Row[];
    return rows.map(evidenceOf);
  }

  evidenceCount(origin?: string): number {
    const row = (
      origin === undefined
        ? this.#db.prepare("SELECT count(*) AS n FROM evidence").get()
        : this.#db.prepare("SELECT count(*) AS n FROM evidence WHERE origin = ?").get(origin)
    ) as Row;
    return numberOf(row.n);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
