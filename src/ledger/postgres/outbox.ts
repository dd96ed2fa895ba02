// The notice outbox of a PostgreSQL log: how a read replica, which may not append, still gets every
// query and refusal it serves into the log. The replica inserts the sealed notice here and commits
// before it replies; the sequencer appends the rows to the log in the order they were inserted, each
// under an idempotency key derived from its entry, and only then deletes them. A sequencer that dies
// between the append and the delete leaves rows that its successor appends again as duplicates of the
// entries already there: nothing is lost and nothing is logged twice.

import type pg from "pg";
import {
  decodeNoticeEntry,
  type NoticeHeader,
  noticeLookupKeys,
  relayedNoticeKey,
} from "../../core/entry/index.js";
import { bytesEqual, CustosError, randomBytes, sha256 } from "../../core/index.js";
import type { AppendItem, AppendResult } from "../sequencer.js";
import { type OutboxSignatureCheck, type OutboxSigner, outboxSigningMessage } from "./outbox-signature.js";

/** Bytes of a notice's outbox id (random). */
export const OUTBOX_ID_BYTES = 16;

/** Most rows appended in one drain (one log transaction). */
export const DEFAULT_DRAIN_LIMIT = 500;

export interface OutboxRow {
  readonly seq: number;
  readonly id: Uint8Array;
  readonly item: AppendItem;
  /** When the replica recorded it, ms since the epoch. */
  readonly createdAt: number;
  /** The identity URI of the node that recorded and signed it (rows of schema 4 on). */
  readonly signer?: string;
  readonly signature?: Uint8Array;
}

export interface DrainOptions {
  /** Checks each row's signature; without it rows are not checked (tests of the outbox alone). */
  readonly check?: OutboxSignatureCheck;
  /** Told of each row set aside, with the reason (never its content). */
  readonly onReject?: (reason: string) => void;
}

export interface OutboxBacklog {
  /** Notices waiting to be appended. */
  readonly depth: number;
  /** Rows the sequencer refused to append (not a query or refusal notice): to be looked into. */
  readonly rejected: number;
  /** When the oldest waiting notice was recorded (ms since the epoch); undefined when none wait. */
  readonly oldestAt: number | undefined;
}

type Query = (text: string, values?: unknown[]) => Promise<pg.QueryResult<Record<string, unknown>>>;

/**
 * The log's idempotency key for an outbox notice: derived from the notice entry (docs/formats.md), so
 * a replay of the same row is answered as a duplicate and verify checks the key against the entry.
 */
export function outboxIdempotencyKey(entry: Uint8Array): Uint8Array {
  return relayedNoticeKey(entry);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new CustosError("STORE_CORRUPT", "an outbox value that must be binary is not");
}

function toSafeInteger(value: unknown): number {
  const n = typeof value === "string" && /^[0-9]{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new CustosError("STORE_CORRUPT", "an outbox number is not an integer");
  return n;
}

export class PostgresOutbox {
  readonly #query: Query;
  readonly #table: string;
  readonly #readonly: boolean;

  constructor(query: Query, table: string, readonly: boolean) {
    this.#query = query;
    this.#table = table;
    this.#readonly = readonly;
  }

  /**
   * Records notices for the sequencer to append; resolves once they are committed (durable). An id
   * already present is kept as it was, so a retried call records each notice once. Returns the ids.
   */
  async add(
    items: readonly AppendItem[],
    now: number,
    ids?: readonly Uint8Array[],
    signer?: OutboxSigner,
  ): Promise<Uint8Array[]> {
    if (this.#readonly) {
      throw new CustosError(
        "STORE_BUSY",
        "this node's database connection is read-only, so it cannot record this request for the patient; send it to a node connected to the primary",
      );
    }
    if (ids !== undefined && ids.length !== items.length) {
      throw new CustosError("BAD_ARGUMENT", "one outbox id per notice");
    }
    const chosen = items.map((_, i) => ids?.[i] ?? randomBytes(OUTBOX_ID_BYTES));
    for (const id of chosen) {
      if (id.length !== OUTBOX_ID_BYTES)
        throw new CustosError("BAD_ARGUMENT", `an outbox id is ${OUTBOX_ID_BYTES} bytes`);
    }
    for (const [i, item] of items.entries()) {
      const signature = signer?.sign(outboxSigningMessage(chosen[i]!, item.entry, signer.uri));
      try {
        await this.#query(
          `INSERT INTO ${this.#table} (id, entry, content, lookup_keys, created_at, signer, signature)
           VALUES ($1, $2, $3, $4::bytea[], $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
          [
            toBuffer(chosen[i]!),
            toBuffer(item.entry),
            item.content === undefined ? null : toBuffer(item.content),
            (item.lookupKeys ?? []).map(toBuffer),
            now,
            signer?.uri ?? null,
            signature === undefined ? null : toBuffer(signature),
          ],
        );
      } catch (error) {
        if (
          error instanceof CustosError &&
          error.code === "CONFIG" &&
          /accepts only reads/.test(error.message)
        ) {
          throw new CustosError(
            "STORE_BUSY",
            "this node's database is a read-only replica, so it cannot record this request for the patient; send it to a node connected to the primary",
            { cause: error },
          );
        }
        throw error;
      }
    }
    return chosen;
  }

  /** The oldest waiting notices, in the order they were recorded. */
  async take(limit = DEFAULT_DRAIN_LIMIT): Promise<OutboxRow[]> {
    const result = await this.#query(
      `SELECT seq, id, entry, content, lookup_keys, created_at, signer, signature FROM ${this.#table}
       WHERE rejected_at IS NULL ORDER BY seq LIMIT $1`,
      [limit],
    );
    return result.rows.map((row) => {
      const id = toBytes(row.id);
      const lookupKeys = Array.isArray(row.lookup_keys) ? row.lookup_keys.map(toBytes) : [];
      return {
        seq: toSafeInteger(row.seq),
        id,
        createdAt: toSafeInteger(row.created_at),
        ...(typeof row.signer === "string" ? { signer: row.signer } : {}),
        ...(row.signature instanceof Uint8Array ? { signature: toBytes(row.signature) } : {}),
        item: {
          entry: toBytes(row.entry),
          ...(row.content === null ? {} : { content: toBytes(row.content) }),
          lookupKeys,
          idempotencyKey: outboxIdempotencyKey(toBytes(row.entry)),
        },
      };
    });
  }

  /** Deletes rows that are in the log. */
  async remove(seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.#query(`DELETE FROM ${this.#table} WHERE seq = ANY($1::bigint[])`, [seqs]);
  }

  async backlog(): Promise<OutboxBacklog> {
    const row = (
      await this.#query(
        `SELECT count(*) FILTER (WHERE rejected_at IS NULL) AS n, count(*) FILTER (WHERE rejected_at IS NOT NULL) AS r,
                min(created_at) FILTER (WHERE rejected_at IS NULL) AS oldest FROM ${this.#table}`,
      )
    ).rows[0];
    const depth = toSafeInteger(String(row?.n ?? "0"));
    const rejected = toSafeInteger(String(row?.r ?? "0"));
    return {
      depth,
      rejected,
      oldestAt: row?.oldest == null ? undefined : toSafeInteger(String(row.oldest)),
    };
  }

  /**
   * Appends the oldest waiting notices to the log as one group (one transaction), then deletes them.
   * Only the sequencer calls this. Returns how many rows it moved (0: none waited).
   */
  async drain(
    append: (items: readonly AppendItem[]) => Promise<AppendResult[]>,
    limit = DEFAULT_DRAIN_LIMIT,
    options: DrainOptions = {},
  ): Promise<number> {
    const rows = await this.take(limit);
    if (rows.length === 0) return 0;
    // Whoever can write this table (a replica, by design) must not get anything but a patient's
    // query or refusal notice signed into the log: any other row is kept aside, never appended.
    const valid: OutboxRow[] = [];
    for (const row of rows) {
      const problem =
        noticeProblem(row.item) ??
        options.check?.(
          row.signer,
          row.signature,
          row.signer === undefined ? undefined : outboxSigningMessage(row.id, row.item.entry, row.signer),
        );
      if (problem === undefined) valid.push(row);
      else {
        await this.#query(`UPDATE ${this.#table} SET rejected_at = $2, rejected_reason = $3 WHERE seq = $1`, [
          row.seq,
          Date.now(),
          problem,
        ]);
        options.onReject?.(problem);
      }
    }
    if (valid.length > 0) {
      await append(
        valid.map((row) => ({
          ...row.item,
          lookupKeys: noticeLookupKeys(decodeNoticeEntry(row.item.entry).header.patientTag),
        })),
      );
      await this.remove(valid.map((row) => row.seq));
    }
    return rows.length;
  }
}

/** Why an outbox row is not a well-formed query or refusal notice, or undefined when it is one. */
export function noticeProblem(item: AppendItem): string | undefined {
  let header: NoticeHeader;
  let contentHash: Uint8Array;
  try {
    ({ header, contentHash } = decodeNoticeEntry(item.entry));
  } catch {
    return "not a query or refusal notice";
  }
  if (header.kind !== "query" && header.kind !== "refusal") return "not a query or refusal notice";
  // Filed under the patient's tag (a row written by an older Custos) or under all of the notice's
  // keys; either way the sequencer files it under the keys it derives itself.
  const keys = item.lookupKeys ?? [];
  const expected = noticeLookupKeys(header.patientTag);
  const legacy = keys.length === 1 && bytesEqual(keys[0]!, header.patientTag);
  if (!legacy && (keys.length !== expected.length || keys.some((key, i) => !bytesEqual(key, expected[i]!))))
    return "its lookup keys are not those of the patient tag the notice names";
  if (item.content === undefined || !bytesEqual(sha256(item.content), contentHash))
    return "its content does not match the hash the notice commits to";
  return undefined;
}
