// Where the node's background jobs report: the API app's pino logger once it exists (structured, with
// the Authorization header redacted), nothing before. Fields never hold a key, a record or an ID.

import type { FastifyBaseLogger } from "fastify";

export type LogFields = Readonly<Record<string, unknown>>;

export interface NodeLog {
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A log that writes to the logger `current()` returns, when there is one. */
export function deferredLog(current: () => FastifyBaseLogger | undefined): NodeLog {
  return {
    warn(message, fields) {
      const logger = current();
      if (fields) logger?.warn(fields, message);
      else logger?.warn(message);
    },
    error(message, fields) {
      const logger = current();
      if (fields) logger?.error(fields, message);
      else logger?.error(message);
    },
  };
}
