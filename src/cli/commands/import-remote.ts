// `custos import --server`: rows go to a running node through the SDK's client (the one `custos ingest
// --server` uses), as the submitting EHR source. A node refuses a whole request for one bad record, so
// a refused request is retried patient by patient, then row by row, to pin the refusal on its rows.
// Only a record's own refusal (invalid, a conflicting replay, not allowed, its patient not enrolled)
// rejects rows; a node that fails (INTERNAL), is busy past the client's retries or cannot be reached
// stops the import, with what was stored so far counted.

import { CustosClient } from "../../client/index.js";
import { CustosError } from "../../core/index.js";
import { Identity, readBundle } from "../../identity/index.js";
import { UsageError } from "../errors.js";
import { bundlePassphrase } from "./identity.js";
import { type Accepted, CONFLICT_REASON, type Destination, type WriteResult } from "./import-destination.js";

/** This many patients refused in a row means the node is failing, not judging records. */
const MAX_REFUSALS_IN_A_ROW = 20;
/** The most characters of NDJSON sent in one request. */
const MAX_REQUEST_CHARS = 2 * 1024 * 1024;

export interface RemoteOptions {
  readonly server: string;
  /** The ehr-source identity bundle to submit as. */
  readonly as: string;
  readonly passphraseFile?: string;
  readonly source?: string;
}

/** The codes with which a node refuses records themselves; anything else is the node failing. */
const RECORD_REFUSALS: ReadonlySet<string> = new Set([
  "INVALID_RECORD", // a record the node's validation refuses
  "CONFLICT", // a source event ID already recorded with other content
  "NOT_AUTHORIZED", // a record this source may not submit
  "KEY_MISSING", // its patient has no enrolled encryption key
]);

function refused(error: unknown): error is CustosError {
  return error instanceof CustosError && RECORD_REFUSALS.has(error.code);
}

const KEY_MISSING_REASON = "patient: the node has no encryption key enrolled for this patient";

/** Why the node refused one record, as a rejected row's reason (no patient ID, no server text). */
function rowReason(error: CustosError): string {
  if (error.code === "CONFLICT") return CONFLICT_REASON;
  if (error.code === "NOT_AUTHORIZED") return "the node refused the record: this source may not submit it";
  if (error.code === "KEY_MISSING") return KEY_MISSING_REASON;
  return "the node refused the record as invalid";
}

export function openRemote(options: RemoteOptions, strict: boolean): Destination {
  const identity = Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile));
  if (identity.bundle.role !== "ehr-source")
    throw new UsageError(`--as must be an ehr-source identity; this bundle is a ${identity.bundle.role}`);
  if (options.source !== undefined && options.source !== identity.id)
    throw new UsageError(
      `--source must be the submitting identity's ID (${identity.id}): a node records submissions in the submitter's name`,
    );
  const client = new CustosClient({ url: options.server, identity });
  const post = async (rows: readonly Accepted[]): Promise<WriteResult[]> => {
    const body = `${rows.map((r) => JSON.stringify(r.record)).join("\n")}\n`;
    const records: unknown = await client.submit(body, "application/x-ndjson");
    if (!Array.isArray(records) || records.length !== rows.length)
      throw new CustosError("INTERNAL", "the node's reply does not account for every record sent");
    return records.map((r: { duplicate?: unknown }) => (r?.duplicate === true ? "duplicate" : "imported"));
  };
  let refusedInARow = 0;

  async function writePart(
    rows: readonly Accepted[],
    settle: (index: number, result: WriteResult) => void,
  ): Promise<void> {
    try {
      for (const [i, result] of (await post(rows)).entries()) settle(i, result);
      return;
    } catch (error) {
      if (!refused(error) || strict) throw error;
    }
    // The node refuses a whole request for one bad record: retry patient by patient, then row by row.
    const byPatient = new Map<string, number[]>();
    rows.forEach((row, i) => {
      const list = byPatient.get(row.record.patientId);
      if (list) list.push(i);
      else byPatient.set(row.record.patientId, [i]);
    });
    for (const indexes of byPatient.values()) {
      try {
        const results = await post(indexes.map((i) => rows[i]!));
        for (const [k, i] of indexes.entries()) settle(i, results[k]!);
        refusedInARow = 0;
        continue;
      } catch (error) {
        if (!refused(error)) throw error;
        // A node that refuses patient after patient is failing, not judging records: stop.
        if (++refusedInARow >= MAX_REFUSALS_IN_A_ROW)
          throw new CustosError(
            error.code,
            `the node refused ${refusedInARow} patients in a row; stopping (last: ${error.message})`,
            { cause: error },
          );
        if (error.code === "KEY_MISSING") {
          for (const i of indexes) settle(i, { reason: KEY_MISSING_REASON });
          continue;
        }
      }
      for (const i of indexes) {
        try {
          settle(i, (await post([rows[i]!]))[0]!);
        } catch (error) {
          if (!refused(error)) throw error;
          settle(i, { reason: rowReason(error) });
        }
      }
    }
  }

  return {
    async check(record) {
      if (record.sourceSystem !== undefined && record.sourceSystem !== identity.id)
        return "source: names another system; a node accepts records only in the submitter's own name";
      return undefined;
    },
    async write(rows, settle) {
      // Requests stay well under a node's body limit (8 MiB by default), however long the records.
      let first = 0;
      let bytes = 0;
      const send = async (end: number): Promise<void> => {
        const offset = first;
        await writePart(rows.slice(offset, end), (i, result) => settle(offset + i, result));
        first = end;
        bytes = 0;
      };
      for (const [i, row] of rows.entries()) {
        const size = JSON.stringify(row.record).length + 1;
        if (i > first && bytes + size > MAX_REQUEST_CHARS) await send(i);
        bytes += size;
      }
      if (first < rows.length) await send(rows.length);
    },
    finish: async () => undefined,
    close: async () => undefined,
  };
}
