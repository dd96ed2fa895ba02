export { migrate, PostgresStore, type PostgresStoreOptions } from "./postgres-store.js";
export { POSTGRES_SCHEMA_VERSION } from "./schema.js";
