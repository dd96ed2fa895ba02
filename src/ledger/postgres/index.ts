export { takeUrlParam } from "./hosts.js";
export { type MigrationResult, migrate } from "./migrations.js";
export { type OutboxBacklog, outboxIdempotencyKey, PostgresOutbox } from "./outbox.js";
export {
  type OutboxSignatureCheck,
  type OutboxSigner,
  outboxSigningMessage,
} from "./outbox-signature.js";
export { PostgresStore, type PostgresStoreOptions } from "./postgres-store.js";
export { DEFAULT_POSTGRES_SCHEMA, POSTGRES_SCHEMA_VERSION } from "./schema.js";
