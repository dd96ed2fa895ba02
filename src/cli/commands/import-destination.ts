// Where `custos import` puts the rows it validated: a stopped node's data directory (local), a running
// node through the SDK's client (import-remote.ts), or nowhere (a dry run). Each destination says per
// row whether it was stored, already present, or refused; it throws when the import cannot go on.

import { CustosError } from "../../core/index.js";
import type { AuditRecord } from "../../core/record/index.js";
import { Deployment } from "../../identity/index.js";
import type { ImportRow } from "../../import/index.js";
import { type MasterKeyOptions, masterKeyFrom, requireData } from "../options.js";

export type Accepted = Extract<ImportRow, { ok: true }>;
export type WriteResult = "imported" | "duplicate" | { readonly reason: string };

export const CONFLICT_REASON =
  "sourceEventId: already recorded with different content (a replay must repeat the record exactly)";

/** Where valid rows go: a local vault, a node over mutual TLS, or nowhere (a dry run without either). */
export interface Destination {
  /** Why a valid record cannot be stored here (its patient has no key, a foreign source), if so. */
  check(record: AuditRecord): Promise<string | undefined>;
  /**
   * Stores a batch, settling each row (by its index in `rows`) as soon as its fate is known. Throws when
   * the import cannot go on; the rows settled before that stay counted (they are stored).
   */
  write(rows: readonly Accepted[], settle: (index: number, result: WriteResult) => void): Promise<void>;
  /** After the last batch (e.g. sign a checkpoint). */
  finish(): Promise<void>;
  close(): Promise<void>;
}

export const NOWHERE: Destination = {
  check: async () => undefined,
  write: async () => {
    throw new CustosError("INTERNAL", "a dry run writes nothing");
  },
  finish: async () => undefined,
  close: async () => undefined,
};

export interface LocalOptions extends MasterKeyOptions {
  readonly data?: string;
  readonly db?: string;
}

export async function openLocal(options: LocalOptions, source: string | undefined): Promise<Destination> {
  const dir = requireData(options.data);
  const masterKey = masterKeyFrom(options);
  const db = options.db ? { db: options.db } : {};
  const deployment = await Deployment.open(dir, masterKey, db);
  const vault = deployment.vault;
  const readers = deployment.directory;
  const close = () => deployment.close();
  // Whether a patient can be sealed for is asked once per patient (bounded memory).
  const ready = new Map<string, string | undefined>();
  let wrote = false;
  return {
    async check(record) {
      if (ready.has(record.patientId)) return ready.get(record.patientId);
      const list = await readers.readersOf(record.patientId, Date.now());
      if (!list.some((r) => r.role === "custodian"))
        throw new CustosError(
          "KEY_MISSING",
          "no custodian encryption key is enrolled; enroll the custodian before importing",
        );
      const reason = list.some((r) => r.role === "patient")
        ? undefined
        : "patient: no encryption key is enrolled for this patient";
      if (ready.size >= 100_000) ready.clear();
      ready.set(record.patientId, reason);
      return reason;
    },
    async write(rows, settle) {
      const ingest = async (part: readonly Accepted[], first: number): Promise<void> => {
        const results = await vault.ingest(
          part.map((r) => r.record),
          source!,
        );
        wrote = true;
        for (const [k, r] of results.entries()) settle(first + k, r.duplicate ? "duplicate" : "imported");
      };
      try {
        await ingest(rows, 0);
        return;
      } catch (error) {
        if (!(error instanceof CustosError && error.code === "CONFLICT")) throw error;
      }
      // A replayed event ID with other content refuses its whole batch: take the rows one by one.
      for (const [i, row] of rows.entries()) {
        try {
          await ingest([row], i);
        } catch (error) {
          if (!(error instanceof CustosError && error.code === "CONFLICT")) throw error;
          settle(i, { reason: CONFLICT_REASON });
        }
      }
    },
    async finish() {
      if (wrote) await vault.ledger.checkpoint();
    },
    close,
  };
}
