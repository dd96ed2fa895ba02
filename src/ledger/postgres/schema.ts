// PostgreSQL schema of a Custos log (docs/postgres.md), one PostgreSQL schema per log, with the same
// tables as the SQLite store. Migrations are numbered and applied in order; a database at a newer
// version than this code is refused rather than misread.

export const POSTGRES_SCHEMA_VERSION = 5;

export const DEFAULT_POSTGRES_SCHEMA = "custos";

/** A schema name Custos accepts: it is spliced into SQL (quoted), so only this shape is allowed. */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Largest trail copy (entry plus content, in bytes) kept in a lookup row: the copy is in the primary
 * key's index (INCLUDE), whose rows must fit in a third of a page (2,704 bytes at 8 KB pages) with
 * the key and index beside them. A larger entry's row has no copy and is read from the log's tables.
 */
export const MAX_TRAIL_COPY_BYTES = 2000;

/** The SQL of each migration, index 0 being version 1. Applied inside one transaction. */
export function migrations(schema: string): readonly string[] {
  const s = `"${schema}"`;
  return [
    // 1: the initial schema.
    `
    CREATE TABLE ${s}.meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE ${s}.entries (idx bigint PRIMARY KEY, data bytea NOT NULL);
    CREATE TABLE ${s}.tiles (level integer NOT NULL, idx bigint NOT NULL, hashes bytea NOT NULL, PRIMARY KEY (level, idx));
    CREATE TABLE ${s}.contents (hash bytea PRIMARY KEY, data bytea NOT NULL);
    CREATE TABLE ${s}.idempotency (key bytea PRIMARY KEY, idx bigint NOT NULL);
    CREATE TABLE ${s}.lookup (key bytea NOT NULL, idx bigint NOT NULL, PRIMARY KEY (key, idx));
    CREATE TABLE ${s}.checkpoints (id bigserial PRIMARY KEY, size bigint NOT NULL, note text NOT NULL, stored_at bigint NOT NULL);
    CREATE INDEX idempotency_by_idx ON ${s}.idempotency (idx);
    CREATE INDEX lookup_by_idx ON ${s}.lookup (idx);
    `,
    // 2: the notice outbox. Read replicas record each query and refusal here (committed before they
    // reply); the sequencer appends the rows to the log in seq order and deletes them. The id is the
    // notice's idempotency key in the log, so a row appended but not yet deleted is never appended twice.
    // A row that is not a query or refusal notice is never appended: it is marked rejected and kept.
    `
    CREATE TABLE ${s}.outbox (
      seq bigserial PRIMARY KEY,
      id bytea NOT NULL UNIQUE CHECK (octet_length(id) = 16),
      entry bytea NOT NULL,
      content bytea,
      lookup_keys bytea[] NOT NULL,
      created_at bigint NOT NULL,
      rejected_at bigint,
      rejected_reason text
    );
    `,
    // 3: trail copies. Each lookup row keeps a copy of its entry and of the content the entry's last
    // 32 bytes name, in the primary key's index, so a patient's history is an index-only range scan
    // of adjacent index rows rather than two random reads per entry (docs/postgres.md). Autovacuum
    // waits for a fifth of a table's rows to be new or dead by default; here for 1%, so the lookup
    // table's visibility map lets recent rows be read from the index alone, and the dead row versions
    // an erasure leaves in lookup and contents are reclaimed soon even when its own VACUUM could not run.
    `
    ALTER TABLE ${s}.lookup ADD COLUMN IF NOT EXISTS entry bytea, ADD COLUMN IF NOT EXISTS content bytea;
    UPDATE ${s}.lookup l SET entry = copy.entry, content = copy.content
      FROM (SELECT e.idx, e.data AS entry, c.data AS content FROM ${s}.entries e
            LEFT JOIN ${s}.contents c ON c.hash = substring(e.data FROM octet_length(e.data) - 31)) copy
      WHERE copy.idx = l.idx
        AND octet_length(copy.entry) + coalesce(octet_length(copy.content), 0) <= ${MAX_TRAIL_COPY_BYTES};
    ALTER TABLE ${s}.lookup DROP CONSTRAINT lookup_pkey,
      ADD CONSTRAINT lookup_pkey PRIMARY KEY (key, idx) INCLUDE (entry, content);
    ALTER TABLE ${s}.lookup SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01);
    ALTER TABLE ${s}.contents SET (autovacuum_vacuum_scale_factor = 0.01);
    `,
    // 4: signed outbox rows. The replica that records a notice signs it with its node key (signer: its
    // identity URI); the sequencer appends only rows whose signature verifies with the key of an
    // enrolled, unrevoked node (./outbox-signature.ts).
    `
    ALTER TABLE ${s}.outbox ADD COLUMN IF NOT EXISTS signer text, ADD COLUMN IF NOT EXISTS signature bytea;
    `,
    // 5: the trail map snapshot (docs/formats.md): the sorted leaves of the trail map at one signed
    // checkpoint's size, in parts, so a node opening its log loads the map and replays only the
    // entries after it instead of rebuilding it from every entry. Checked against that checkpoint's
    // trail map root when loaded.
    `
    CREATE TABLE IF NOT EXISTS ${s}.trail_map_snapshot (part integer PRIMARY KEY, size bigint NOT NULL, leaves bytea NOT NULL);
    `,
  ];
}
