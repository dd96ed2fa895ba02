// SQLite schema of a Custos log (docs/formats.md). Versioned: a store written by a newer schema is
// refused rather than misread, and an older one is brought up to date when opened for writing.

export const SQLITE_SCHEMA_VERSION = 2;

export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hashes BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contents (
  hash BLOB PRIMARY KEY,
  data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
  key BLOB PRIMARY KEY,
  idx INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lookup (
  key BLOB NOT NULL,
  idx INTEGER NOT NULL,
  entry BLOB,
  content BLOB,
  PRIMARY KEY (key, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_by_idx ON idempotency (idx);
CREATE INDEX IF NOT EXISTS lookup_by_idx ON lookup (idx);
CREATE TABLE IF NOT EXISTS trail_map_snapshot (
  part INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  leaves BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  size INTEGER NOT NULL,
  note TEXT NOT NULL,
  stored_at INTEGER NOT NULL
);
`;

/**
 * Version 2: each lookup row keeps a copy of its entry and of the content the entry's last 32 bytes
 * name (a trail copy), so a patient's history is one range read of adjacent rows instead of a random
 * read per entry and per content (docs/formats.md, "Trail copies"). Existing rows are filled in.
 */
export const SQLITE_MIGRATION_2 = `
ALTER TABLE lookup ADD COLUMN entry BLOB;
ALTER TABLE lookup ADD COLUMN content BLOB;
UPDATE lookup SET
  entry = (SELECT e.data FROM entries e WHERE e.idx = lookup.idx),
  content = (SELECT c.data FROM entries e JOIN contents c ON c.hash = substr(e.data, -32) WHERE e.idx = lookup.idx);
`;
