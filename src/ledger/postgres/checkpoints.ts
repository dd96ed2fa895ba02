// A PostgreSQL log's stored checkpoints (the newest keeps its exact time, older ones are rounded to
// the hour), and the witnessed checkpoint the sequencer publishes for the read replicas of its log.

import type pg from "pg";
import type { StoredCheckpoint } from "../storage.js";
import { checkIndex, toCheckpoint, toIndex } from "./row-values.js";
import type { PostgresSession } from "./session.js";

/** Stored checkpoint times are kept to this (all but the newest): roundTimes. */
const HOUR_MS = 3_600_000;

export class PostgresCheckpoints {
  readonly #session: PostgresSession;
  /** Checkpoint times of older rows known to be rounded to the hour (roundTimes). */
  #hourly = false;

  constructor(session: PostgresSession) {
    this.#session = session;
  }

  async put(checkpoint: StoredCheckpoint): Promise<void> {
    this.#session.checkWritable();
    await this.#session.transaction(async (client) => {
      await this.roundTimes(client);
      await client.query(
        `INSERT INTO ${this.#session.table("checkpoints")} (size, note, stored_at) VALUES ($1, $2, $3)`,
        [checkpoint.size, checkpoint.note, checkpoint.storedAt],
      );
    });
  }

  /**
   * Before a checkpoint is stored: the times of those already stored are rounded down to the hour,
   * so only the newest checkpoint keeps its exact time (the readiness check's age) and the table
   * dates no entry's arrival finer than the hour (docs/encryption.md). Rows of an older Custos are
   * rounded once, the first time (meta checkpoint_times = hour); then only the previous newest row.
   */
  async roundTimes(client: pg.PoolClient): Promise<void> {
    const table = this.#session.table("checkpoints");
    if (!this.#hourly) {
      const meta = this.#session.table("meta");
      const done = await client.query(`SELECT 1 FROM ${meta} WHERE key = 'checkpoint_times'`);
      if (done.rowCount !== 0) this.#hourly = true;
      else {
        await client.query(
          `UPDATE ${table} SET stored_at = stored_at - stored_at % ${HOUR_MS} WHERE stored_at % ${HOUR_MS} <> 0`,
        );
        await client.query(
          `INSERT INTO ${meta} (key, value) VALUES ('checkpoint_times', 'hour') ON CONFLICT (key) DO NOTHING`,
        );
      }
    }
    await client.query(
      `UPDATE ${table} SET stored_at = stored_at - stored_at % ${HOUR_MS}
       WHERE id = (SELECT max(id) FROM ${table}) AND stored_at % ${HOUR_MS} <> 0`,
    );
  }

  /**
   * Publishes the latest checkpoint the sequencer's witnesses cosigned (the note with their
   * cosignature lines), so read replicas serve it too. Clients check every cosignature themselves, so
   * a row edited here can only make a replica's answers fail verification, never pass a forgery.
   */
  async putWitnessed(checkpoint: { readonly size: number; readonly note: string }): Promise<void> {
    this.#session.checkWritable();
    checkIndex(checkpoint.size, "size");
    await this.#session.query(
      `INSERT INTO ${this.#session.table("meta")} (key, value) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [
        ["witnessed_size", "witnessed_note"],
        [String(checkpoint.size), checkpoint.note],
      ],
    );
  }

  /** The witnessed checkpoint the sequencer published last, if any. */
  async getWitnessed(): Promise<{ size: number; note: string } | undefined> {
    const rows = (
      await this.#session.query(
        `SELECT key, value FROM ${this.#session.table("meta")} WHERE key IN ('witnessed_size', 'witnessed_note')`,
      )
    ).rows;
    const map = new Map(rows.map((row) => [String(row.key), String(row.value)]));
    const size = map.get("witnessed_size");
    const note = map.get("witnessed_note");
    if (size === undefined || note === undefined) return undefined;
    return { size: toIndex(size), note };
  }

  /** The checkpoint stored last (insertion order, not the largest size). */
  async latest(): Promise<StoredCheckpoint | undefined> {
    const row = (
      await this.#session.query(
        `SELECT size, note, stored_at FROM ${this.#session.table("checkpoints")} ORDER BY id DESC LIMIT 1`,
      )
    ).rows[0];
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async list(): Promise<StoredCheckpoint[]> {
    const rows = (
      await this.#session.query(
        `SELECT size, note, stored_at FROM ${this.#session.table("checkpoints")} ORDER BY id`,
      )
    ).rows;
    return rows.map(toCheckpoint);
  }
}
