// Reading a PostgreSQL log's metadata, entries, tiles and contents. Batched reads (`= ANY($1)`) take a bounded
// number of keys per statement; scans page through in index order.

import { CustosError, toHex } from "../../core/index.js";
import type { LogMeta, StoredEntry, Tile } from "../storage.js";
import { buffer, checkIndex, toBytes, toIndex } from "./row-values.js";
import type { PostgresSession } from "./session.js";

const TILE_SCAN_CHUNK = 4096;
/** Keys per batched read (`= ANY($1)`): one statement each, a bounded reply each. */
export const MAX_KEYS_PER_READ = 10_000;

export async function getMeta(session: PostgresSession): Promise<LogMeta | undefined> {
  const rows = (await session.query(`SELECT key, value FROM ${session.table("meta")}`)).rows;
  const map = new Map(rows.map((row) => [String(row.key), String(row.value)]));
  const origin = map.get("origin");
  const verifierKey = map.get("verifier_key");
  if (origin === undefined || verifierKey === undefined) return undefined;
  return {
    origin,
    verifierKey,
    createdAt: Number(map.get("created_at") ?? 0),
    formatVersion: Number(map.get("format_version") ?? 1),
  };
}

export async function getSize(session: PostgresSession): Promise<number> {
  const row = (await session.query(`SELECT value FROM ${session.table("meta")} WHERE key = 'size'`)).rows[0];
  if (row === undefined) throw new CustosError("STORE_CORRUPT", "the store has no recorded size");
  return toIndex(row.value);
}

export async function getEntries(
  session: PostgresSession,
  start: number,
  end: number,
): Promise<StoredEntry[]> {
  const result = await session.query(
    `SELECT idx, data FROM ${session.table("entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
    [start, end],
  );
  return result.rows.map((row) => ({ index: toIndex(row.idx), data: toBytes(row.data) }));
}

export async function getEntriesAt(
  session: PostgresSession,
  indexes: readonly number[],
): Promise<StoredEntry[]> {
  for (const index of indexes) checkIndex(index, "an entry index");
  const found = new Map<number, Uint8Array>();
  for (let i = 0; i < indexes.length; i += MAX_KEYS_PER_READ) {
    const result = await session.query(
      `SELECT idx, data FROM ${session.table("entries")} WHERE idx = ANY($1::bigint[])`,
      [indexes.slice(i, i + MAX_KEYS_PER_READ)],
    );
    for (const row of result.rows) found.set(toIndex(row.idx), toBytes(row.data));
  }
  const entries: StoredEntry[] = [];
  for (const index of indexes) {
    const data = found.get(index);
    if (data !== undefined) entries.push({ index, data });
  }
  return entries;
}

export async function* scanEntries(
  session: PostgresSession,
  start: number,
  end: number,
  chunkSize: number,
): AsyncIterable<StoredEntry[]> {
  let next = start;
  while (next < end) {
    const result = await session.query(
      `SELECT idx, data FROM ${session.table("entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
      [next, end, chunkSize],
    );
    if (result.rows.length === 0) return;
    const chunk = result.rows.map((row) => ({ index: toIndex(row.idx), data: toBytes(row.data) }));
    yield chunk;
    next = chunk[chunk.length - 1]!.index + 1;
  }
}

export async function countEntries(session: PostgresSession): Promise<number> {
  return toIndex((await session.query(`SELECT count(*) AS n FROM ${session.table("entries")}`)).rows[0]?.n);
}

/** The tiles asked for that exist, in the order asked (as the SQLite store). */
export async function getTiles(
  session: PostgresSession,
  refs: readonly { level: number; index: number }[],
): Promise<Tile[]> {
  if (refs.length === 0) return [];
  const result = await session.query(
    `SELECT t.level, t.idx, t.hashes
     FROM unnest($1::integer[], $2::bigint[]) WITH ORDINALITY AS wanted(level, idx, position)
     JOIN ${session.table("tiles")} t ON t.level = wanted.level AND t.idx = wanted.idx
     ORDER BY wanted.position`,
    [refs.map((ref) => ref.level), refs.map((ref) => ref.index)],
  );
  return result.rows.map((row) => ({
    level: toIndex(row.level),
    index: toIndex(row.idx),
    hashes: toBytes(row.hashes),
  }));
}

export async function* scanTiles(
  session: PostgresSession,
  level: number,
  fromIndex: number,
): AsyncIterable<Tile[]> {
  let next = fromIndex;
  for (;;) {
    const result = await session.query(
      `SELECT idx, hashes FROM ${session.table("tiles")} WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT ${TILE_SCAN_CHUNK}`,
      [level, next],
    );
    if (result.rows.length === 0) return;
    const tiles = result.rows.map((row) => ({
      level,
      index: toIndex(row.idx),
      hashes: toBytes(row.hashes),
    }));
    yield tiles;
    next = tiles[tiles.length - 1]!.index + 1;
  }
}

export async function getEdgeTiles(session: PostgresSession): Promise<Tile[]> {
  const result = await session.query(
    `SELECT DISTINCT ON (level) level, idx, hashes FROM ${session.table("tiles")} ORDER BY level, idx DESC`,
  );
  return result.rows.map((row) => ({
    level: toIndex(row.level),
    index: toIndex(row.idx),
    hashes: toBytes(row.hashes),
  }));
}

export async function getContent(
  session: PostgresSession,
  hash: Uint8Array,
): Promise<Uint8Array | undefined> {
  const row = (
    await session.query(`SELECT data FROM ${session.table("contents")} WHERE hash = $1`, [buffer(hash)])
  ).rows[0];
  return row === undefined ? undefined : toBytes(row.data);
}

export async function getContents(
  session: PostgresSession,
  hashes: readonly Uint8Array[],
): Promise<(Uint8Array | undefined)[]> {
  const found = new Map<string, Uint8Array>();
  for (let i = 0; i < hashes.length; i += MAX_KEYS_PER_READ) {
    const result = await session.query(
      `SELECT hash, data FROM ${session.table("contents")} WHERE hash = ANY($1::bytea[])`,
      [hashes.slice(i, i + MAX_KEYS_PER_READ).map(buffer)],
    );
    for (const row of result.rows) found.set(toHex(toBytes(row.hash)), toBytes(row.data));
  }
  return hashes.map((hash) => found.get(toHex(hash)));
}

export async function hasContent(
  session: PostgresSession,
  hashes: readonly Uint8Array[],
): Promise<boolean[]> {
  if (hashes.length === 0) return [];
  const result = await session.query(
    `SELECT hash FROM ${session.table("contents")} WHERE hash = ANY($1::bytea[])`,
    [hashes.map(buffer)],
  );
  const found = new Set(result.rows.map((row) => toHex(toBytes(row.hash))));
  return hashes.map((hash) => found.has(toHex(hash)));
}
