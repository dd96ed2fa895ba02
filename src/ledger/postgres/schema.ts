// PostgreSQL schema of a Custos log (docs/postgres.md), one PostgreSQL schema per log, with the same
// tables as the SQLite store. Migrations are numbered and applied in order; a database at a newer
// version than this code is refused rather than misread.

export const POSTGRES_SCHEMA_VERSION = 2;

export const DEFAULT_POSTGRES_SCHEMA = "custos";

/** A schema name Custos accepts: it is spliced into SQL (quoted), so only this shape is allowed. */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

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
  ];
}
