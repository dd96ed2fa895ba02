// One page of a trail, verified: its entries proven against the checkpoint, its record numbers
// unbroken and not below what was seen before, its head checked against the trail map, then opened
// with the reader's key and filtered. And the checks that pages follow on from one another.
// Browser-safe: used by the SDK and the portal through TrailReader.

import { CustosError } from "../core/index.js";
import type { AuditRecord } from "../core/record/index.js";
import type { OpenedRecord, RecordOpener } from "../records/browser.js";
import type { TrailQuery, TrailResult } from "./reader-types.js";
import { matchesRecordFilter } from "./record-filter.js";
import type { TrustStore } from "./trust-store.js";
import {
  VerificationError,
  type VerifiedCheckpoint,
  verifyItems,
  verifyRun,
  verifyTrailHead,
  type WireItem,
  type WireTrailMap,
} from "./verify-reply.js";

function matches(record: AuditRecord, q: TrailQuery): boolean {
  const t = Date.parse(record.time);
  if (q.from !== undefined && t < Date.parse(q.from)) return false;
  if (q.to !== undefined && t >= Date.parse(q.to)) return false;
  return matchesRecordFilter(record, q);
}

/** Verifies and opens one page of a trail; `seqs` are the record numbers to remember once trusted. */
export function openTrailPage(
  reply: { items: WireItem[]; next: number | null; trailMap?: WireTrailMap | undefined },
  checkpoint: VerifiedCheckpoint,
  query: TrailQuery,
  reader: { readonly state: Pick<TrustStore, "newestSeq">; readonly opener: RecordOpener },
  /** The patient tag (hex) the node says this page is about, when it says (audit companies). */
  expectedTag?: string,
  /** Whether expectedTag is known to this client (its own trail's, seen in its records before). */
  tagKnown = false,
) {
  const items = verifyItems(reply.items, checkpoint);
  const run = verifyRun(items);
  if (expectedTag !== undefined && run.patientTag !== undefined && run.patientTag !== expectedTag) {
    throw new VerificationError(
      "TAMPERED_ENTRY",
      "the node put another patient's entries in this patient's place",
      items[0]?.index,
    );
  }
  const top = query.to === undefined && query.before === undefined;
  // An empty page of a trail seen before hides its records, unless a time window explains it.
  const tag = run.patientTag ?? (query.from === undefined ? expectedTag : undefined);
  if (top && tag !== undefined) {
    const seen = reader.state.newestSeq(tag);
    if (seen !== undefined && (run.newestSeq === undefined || run.newestSeq < seen)) {
      throw new VerificationError(
        "TAMPERED_ENTRY",
        `the node hides this trail's newest records: record ${seen} was seen before, the newest now shown is ${run.newestSeq ?? "none"}`,
      );
    }
  }
  // The trail's head in the checkpoint's trail map: a page at the trail's end must show it.
  const headTag = run.patientTag ?? expectedTag;
  let completeness = verifyTrailHead(reply.trailMap, checkpoint, items, { top, patientTag: headTag });
  if (completeness.proven && run.patientTag === undefined && !tagKnown) {
    // No record shown and the trail's tag not known (a patient's first read of an empty trail, an
    // audit company's patient without records): the proof is for the tag the node names, which this
    // client cannot tie to the patient.
    completeness = {
      proven: false,
      reason:
        "the node shows no record and names the trail's patient tag itself: that this tag is the patient's is not checked on a first read",
    };
  }
  let opened: { records: OpenedRecord[]; notReadable: number[] };
  try {
    opened = reader.opener.openAll(items);
  } catch (error) {
    if (error instanceof VerificationError) throw error;
    if (error instanceof CustosError) throw new VerificationError(error.code, error.message);
    throw error;
  }
  // Newest first (each time parsed once, not in every comparison).
  const records = opened.records
    .filter((r) => matches(r.record, query))
    .map((r) => ({ r, time: Date.parse(r.record.time) }))
    .sort((a, b) => b.time - a.time || b.r.index - a.r.index)
    .map(({ r }) => r);
  const seqs =
    run.patientTag !== undefined && run.newestSeq !== undefined
      ? [{ tag: run.patientTag, seq: run.newestSeq }]
      : [];
  // The head the checkpoint proved counts as seen: a later reply must not end below it either.
  if (completeness.proven && headTag !== undefined && completeness.count > 0)
    seqs.push({ tag: completeness.tag, seq: completeness.count - 1 });
  const span =
    run.patientTag !== undefined && run.newestSeq !== undefined && run.oldestSeq !== undefined
      ? { run: { tag: run.patientTag, newest: run.newestSeq, oldest: run.oldestSeq } }
      : {};
  return { records, notReadable: opened.notReadable, next: reply.next, seqs, completeness, ...span };
}

/**
 * Paging through one trail: the next page must carry the records right below the previous page's
 * oldest (a node choosing `next` could otherwise skip a block of records between two pages, each of
 * which is unbroken on its own).
 */
export function checkPageFollows(previous: Pick<TrailResult, "run">, next: Pick<TrailResult, "run">): void {
  if (!previous.run || !next.run) return;
  if (next.run.tag !== previous.run.tag) {
    throw new VerificationError("TAMPERED_ENTRY", "the next page belongs to another patient's trail");
  }
  if (next.run.newest !== previous.run.oldest - 1) {
    const gap =
      next.run.newest < previous.run.oldest - 1
        ? `records ${next.run.newest + 1} to ${previous.run.oldest - 1} of this trail are missing between two pages: the node left them out`
        : `the next page repeats records down from ${next.run.newest}, already shown`;
    throw new VerificationError("TAMPERED_ENTRY", gap);
  }
}

/**
 * The last page of a whole trail (no time window) must end at the trail's first record (number 0):
 * a node that stops early has hidden the oldest records.
 */
export function checkTrailStart(last: Pick<TrailResult, "run" | "next">, query: TrailQuery): void {
  if (last.next !== null || !last.run || query.from !== undefined) return;
  if (last.run.oldest !== 0) {
    throw new VerificationError(
      "TAMPERED_ENTRY",
      `the trail ends at record ${last.run.oldest}: records 0 to ${last.run.oldest - 1} are missing (the node left out its oldest records)`,
    );
  }
}
