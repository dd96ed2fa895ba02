// Everything a search may need, read through the verifying reader: every page of each trail in the
// time window, each page proven against a checkpoint the reader trusts and joined to the one before,
// the trail's start checked. A reply that fails verification fails the whole search.

import {
  type AuditTrailsResult,
  checkPageFollows,
  checkTrailStart,
  type TrailQuery,
  type TrailResult,
} from "../client/index.js";
import type { OpenedRecord } from "../records/index.js";
import { SearchError } from "./search-params.js";

/** What the gateway reads through: a CustosClient (or any TrailReader) for one identity. */
export interface GatewayReader {
  readonly role: string;
  trail(query: TrailQuery): Promise<TrailResult>;
  auditTrails(query: TrailQuery): Promise<AuditTrailsResult>;
}

/** A search that would open more records than this is refused: narrow it by patient or date. */
export const MAX_RECORDS_PER_SEARCH = 50_000;

export interface VerifiedRecords {
  readonly records: OpenedRecord[];
  /** Patients the node refused (an audit company's grant ended, ...), by ID or tag prefix. */
  readonly refused: string[];
}

export async function readVerifiedRecords(
  reader: GatewayReader,
  window: { readonly from?: number; readonly to?: number },
  patients: readonly string[] | undefined,
): Promise<VerifiedRecords> {
  const query: TrailQuery = {
    ...(window.from !== undefined ? { from: new Date(window.from).toISOString() } : {}),
    ...(window.to !== undefined ? { to: new Date(window.to).toISOString() } : {}),
  };
  const records: OpenedRecord[] = [];
  const refused: string[] = [];
  const add = (more: readonly OpenedRecord[]) => {
    records.push(...more);
    if (records.length > MAX_RECORDS_PER_SEARCH)
      throw new SearchError(
        400,
        "too-costly",
        `the search would open more than ${MAX_RECORDS_PER_SEARCH} records: narrow it by patient or date`,
      );
  };
  const allPages = async (patientId: string | undefined, first?: TrailResult) => {
    let page = first ?? (await reader.trail({ ...query, ...(patientId ? { patientId } : {}) }));
    if (first === undefined) add(page.records);
    while (page.next !== null) {
      const next = await reader.trail({ ...query, ...(patientId ? { patientId } : {}), before: page.next });
      checkPageFollows(page, next);
      add(next.records);
      page = next;
    }
    checkTrailStart(page, query);
  };
  if (reader.role === "patient" || patients !== undefined) {
    for (const patientId of patients ?? [undefined]) await allPages(patientId);
    return { records, refused };
  }
  // An audit company without a patient: every patient granted now.
  const all = await reader.auditTrails(query);
  for (const p of all.patients) {
    if (p.verification) throw p.verification;
    if (p.error || !p.result) {
      refused.push(p.patientId ?? p.tag?.slice(0, 12) ?? "(unnamed)");
      continue;
    }
    add(p.result.records);
    if (p.result.next !== null && p.patientId !== null) {
      await allPages(p.patientId, { ...p.result, checkpoint: all.checkpoint });
    }
  }
  return { records, refused };
}
