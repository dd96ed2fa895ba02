// A batch's rows written with few statements: `INSERT ... VALUES (...), (...), ...` of up to MAX_ROWS
// rows each, run in chunks of a power of two (128, 64, ..., 1) so a handful of prepared statements fit
// any count. better-sqlite3 pays a fixed cost per run (binding, stepping, resetting, a JS <-> C++
// crossing); one statement per 128 rows instead of one per row takes most of it away. The rows and
// the transaction (and its one fsync) are the same as row by row.

import type Database from "better-sqlite3";
import type { AppendBatch, ContentBlob } from "../storage.js";
import type { SqliteStatements } from "./statements.js";

/** Rows per statement at most (4 values a lookup row: 512 bound values, well below SQLite's limit). */
const MAX_ROWS = 128;

/** One table's multi-row insert: statements for 1, 2, 4, ... MAX_ROWS rows, prepared when first used. */
export class RowInserter {
  readonly #db: Database.Database;
  readonly #head: string;
  readonly #row: string;
  readonly #width: number;
  readonly #statements = new Map<number, Database.Statement>();

  /** `head`: the statement up to VALUES; `row`: one row's placeholders, e.g. "(?, ?)" of `width` values. */
  constructor(db: Database.Database, head: string, row: string, width: number) {
    this.#db = db;
    this.#head = head;
    this.#row = row;
    this.#width = width;
  }

  /** Inserts `values.length / width` rows, given flat (row after row). */
  run(values: readonly unknown[]): void {
    const rows = values.length / this.#width;
    let done = 0;
    for (let size = MAX_ROWS; size >= 1; size >>= 1) {
      while (rows - done >= size) {
        const start = done * this.#width;
        this.#statement(size).run(...values.slice(start, start + size * this.#width));
        done += size;
      }
    }
  }

  #statement(rows: number): Database.Statement {
    let statement = this.#statements.get(rows);
    if (statement === undefined) {
      const all = Array.from({ length: rows }, () => this.#row).join(", ");
      statement = this.#db.prepare(`${this.#head} VALUES ${all}`);
      this.#statements.set(rows, statement);
    }
    return statement;
  }
}

export interface BatchInserters {
  readonly entries: RowInserter;
  readonly contents: RowInserter;
  readonly idempotency: RowInserter;
  readonly lookup: RowInserter;
}

export function batchInserters(db: Database.Database): BatchInserters {
  return {
    entries: new RowInserter(db, "INSERT INTO entries (idx, data)", "(?, ?)", 2),
    contents: new RowInserter(db, "INSERT OR IGNORE INTO contents (hash, data)", "(?, ?)", 2),
    idempotency: new RowInserter(db, "INSERT INTO idempotency (key, idx)", "(?, ?)", 2),
    lookup: new RowInserter(db, "INSERT OR IGNORE INTO lookup (key, idx, entry, content)", "(?, ?, ?, ?)", 4),
  };
}

/**
 * Writes a batch's entries, contents, idempotency keys and lookup rows (inside the caller's
 * transaction). A lookup row copies its entry and the content the entry's last 32 bytes name: bound
 * from the batch when both are in it (the bytes the rows above store), otherwise copied by the
 * single-row statement's subqueries from what is stored (`copies`: schema version 2 onward).
 */
export function insertBatchRows(
  batch: AppendBatch,
  inserters: BatchInserters,
  statements: SqliteStatements,
  copies: boolean,
): void {
  const entryValues: unknown[] = [];
  let index = batch.startIndex;
  for (const entry of batch.entries) entryValues.push(index++, entry);
  inserters.entries.run(entryValues);

  const contentValues: unknown[] = [];
  for (const content of batch.contents) contentValues.push(content.hash, content.data);
  inserters.contents.run(contentValues);

  const keyValues: unknown[] = [];
  for (const { key, index: idx } of batch.idempotencyKeys) keyValues.push(key, idx);
  inserters.idempotency.run(keyValues);

  if (!copies) {
    for (const { key, index: idx } of batch.lookupKeys) statements.insertLookup.run({ key, idx });
    return;
  }
  const byHash = contentsByHash(batch.contents);
  const lookupValues: unknown[] = [];
  for (const { key, index: idx } of batch.lookupKeys) {
    const entry = batch.entries[idx - batch.startIndex];
    const content =
      entry !== undefined && entry.length >= 32 ? byHash.get(hashKey(entry.subarray(-32))) : undefined;
    if (entry === undefined || content === undefined) statements.insertLookup.run({ key, idx });
    else lookupValues.push(key, idx, entry, content);
  }
  inserters.lookup.run(lookupValues);
}

function contentsByHash(contents: readonly ContentBlob[]): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>();
  for (const content of contents) map.set(hashKey(content.hash), content.data);
  return map;
}

function hashKey(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString("latin1");
}
