// The tables beside the log, rebuilt from the entries and compared (docs/operations.md, "Verify
// findings"): the lookup rows a patient's history and the registry are read through, their trail
// copies, and the idempotency rows a replayed source event is answered from. Every key is derived from
// the entry it files (core/entry/filing.ts), so no secret is needed; what cannot be derived (rows of
// entries written before their key was committed in the entry) is counted and reported as unchecked.

import {
  ENTRY_KINDS,
  type Entry,
  filingOf,
  NOTICES_FILED_KEY,
  relayedNoticeKey,
} from "../../core/entry/index.js";
import { bytesEqual, toHex } from "../../core/index.js";
import type { LedgerStore } from "../storage.js";
import type { ContentFound } from "./content-check.js";
import type { Finding } from "./findings.js";

/** Rows kept for pairing a missing row with the extra row it became; past this, only counted. */
const MAX_HELD = 20_000;

export interface IndexedEntry {
  readonly index: number;
  readonly data: Uint8Array;
  /** The decoded entry; undefined for a plain data entry (not decoded: it is filed nowhere). */
  readonly decoded: Entry | undefined;
}

export interface IndexChunk {
  /** The chunk's readable entries that match their leaves, in index order. */
  readonly entries: readonly IndexedEntry[];
  /** Rows are checked for indexes in [start, end); entries absent there are named elsewhere. */
  readonly end: number;
  /** Lookup rows that hold a trail copy, as `${index}:${key hex}`. */
  readonly copied: ReadonlySet<string>;
  readonly contents: ReadonlyMap<number, ContentFound>;
}

type Table = "lookup" | "idempotency";

interface Row {
  readonly key: Uint8Array;
  readonly index: number;
  /** What the key is to the entry (for a missing row), e.g. "patient tag". */
  readonly role?: string;
}

/** The lookup keys' roles, by kind, in filingOf's order: findings name a row by role, never by key. */
const LOOKUP_ROLES: Partial<Record<number, readonly string[]>> = {
  [ENTRY_KINDS.accessRecord]: ["patient tag"],
  [ENTRY_KINDS.keyEnvelope]: ["patient tag", "recipient fingerprint", "epoch key"],
  [ENTRY_KINDS.queryRecord]: ["patient tag", "notice key", "notices-filed marker"],
  [ENTRY_KINDS.refusal]: ["patient tag", "notice key", "notices-filed marker"],
  [ENTRY_KINDS.identity]: ["registry key"],
  [ENTRY_KINDS.grant]: ["registry key"],
  [ENTRY_KINDS.grantRevocation]: ["registry key"],
  [ENTRY_KINDS.grantChange]: ["registry key"],
  [ENTRY_KINDS.operatorAction]: ["operator actions key"],
  [ENTRY_KINDS.staffDirectory]: ["staff directory key"],
};

/** Missing and extra rows of one table, held until the end so a moved row is named as one finding. */
class Discrepancies {
  readonly missing: Row[] = [];
  readonly extra: Row[] = [];
  missingUncounted = 0;
  extraUncounted = 0;

  add(kind: "missing" | "extra", row: Row): void {
    const list = kind === "missing" ? this.missing : this.extra;
    if (list.length < MAX_HELD) list.push(row);
    else if (kind === "missing") this.missingUncounted++;
    else this.extraUncounted++;
  }
}

export class IndexChecker {
  readonly #store: LedgerStore;
  readonly #findings: Finding[];
  #next: number;
  readonly #lookup = new Discrepancies();
  readonly #idempotency = new Discrepancies();
  /** First notice found filed under its notice keys: older notices may carry the patient tag alone. */
  #filingByNoticeKey = false;
  /** First access record found carrying its event key: older ones may have an unchecked row. */
  #eventKeysCommitted = false;
  /**
   * Relayed notices' keys are derived from the entry since this version; a PostgreSQL log (the only one
   * with an outbox) may hold older ones, derived from a random id, before the first derived one.
   */
  #relayedKeysDerived: boolean;
  #legacyIdempotencyRows = 0;
  #legacyRelayedRows = 0;
  #copiesOfErasedUnchecked = 0;
  #unknownKinds = 0;

  constructor(store: LedgerStore, options: { readonly from: number; readonly findings: Finding[] }) {
    this.#store = store;
    this.#findings = options.findings;
    this.#next = options.from;
    this.#relayedKeysDerived = store.backend !== "postgres";
  }

  async checkChunk(chunk: IndexChunk): Promise<void> {
    const start = this.#next;
    this.#next = chunk.end;
    const lookup = byIndex(await this.#store.keysInRange("lookup", start, chunk.end));
    const idempotency = byIndex(await this.#store.keysInRange("idempotency", start, chunk.end));
    const copyLimit = this.#store.trailCopyLimit;
    for (const entry of chunk.entries) {
      const filing = entry.decoded === undefined ? { lookupKeys: [] } : filingOf(entry.decoded, entry.data);
      const storedLookup = lookup.get(entry.index) ?? [];
      const storedIdempotency = idempotency.get(entry.index) ?? [];
      if (filing === undefined) {
        this.#unknownKinds++;
        continue;
      }
      let expected = filing.lookupKeys;
      const kind = entry.decoded?.kind;
      if (kind === ENTRY_KINDS.queryRecord || kind === ENTRY_KINDS.refusal) {
        const noticeKey = expected[1]!;
        if (storedLookup.some((key) => bytesEqual(key, NOTICES_FILED_KEY))) this.#filingByNoticeKey = true;
        // Written by an older Custos under the patient tag alone (docs/formats.md, notice entries).
        else if (!this.#filingByNoticeKey && !storedLookup.some((key) => bytesEqual(key, noticeKey)))
          expected = expected.slice(0, 1);
      }
      this.#compare("lookup", entry.index, expected, storedLookup, LOOKUP_ROLES[kind ?? -1] ?? []);
      if (copyLimit !== undefined) this.#checkCopies(entry, chunk, copyLimit, expected, storedLookup);

      const own: Uint8Array[] = filing.idempotencyKey === undefined ? [] : [filing.idempotencyKey];
      if (filing.idempotencyKey !== undefined) this.#eventKeysCommitted = true;
      let accepted = storedIdempotency;
      if (kind === ENTRY_KINDS.queryRecord || kind === ENTRY_KINDS.refusal) {
        // A notice relayed through the outbox carries the key derived from it; any other is not its own.
        const relayed = relayedNoticeKey(entry.data);
        own.push(...storedIdempotency.filter((key) => bytesEqual(key, relayed)));
        if (own.length > 0) this.#relayedKeysDerived = true;
        else if (!this.#relayedKeysDerived && storedIdempotency.length > 0) {
          this.#legacyRelayedRows += storedIdempotency.length;
          accepted = [];
        }
      } else if (kind === ENTRY_KINDS.accessRecord && own.length === 0 && !this.#eventKeysCommitted) {
        // A record written before event keys were committed in the entry: its row cannot be checked.
        this.#legacyIdempotencyRows += storedIdempotency.length;
        accepted = [];
      }
      this.#compare("idempotency", entry.index, own, accepted, []);
    }
  }

  /** Rows past the last entry, then the findings held for pairing. */
  async finish(): Promise<void> {
    for (const table of ["lookup", "idempotency"] as const) {
      const beyond = await this.#store.keysInRange(table, this.#next, Number.MAX_SAFE_INTEGER);
      for (const row of beyond) this.#table(table).add("extra", row);
      this.#report(table);
    }
  }

  /** What could not be checked, in sentences for the report. */
  unchecked(): string[] {
    const notes: string[] = [];
    if (this.#legacyIdempotencyRows > 0)
      notes.push(
        `${this.#legacyIdempotencyRows} idempotency row(s) of access records written before records committed to their event key: which record each belongs to cannot be checked without the source event IDs`,
      );
    if (this.#legacyRelayedRows > 0)
      notes.push(
        `${this.#legacyRelayedRows} idempotency row(s) of notices relayed through the outbox before relayed notices' keys were derived from the notice: they cannot be checked`,
      );
    if (this.#copiesOfErasedUnchecked > 0)
      notes.push(
        `${this.#copiesOfErasedUnchecked} entr${this.#copiesOfErasedUnchecked === 1 ? "y" : "ies"} whose content was erased: whether their index rows should hold a trail copy depended on the content's size, so a missing copy cannot be told from none kept`,
      );
    if (this.#unknownKinds > 0)
      notes.push(
        `${this.#unknownKinds} entr${this.#unknownKinds === 1 ? "y" : "ies"} of a kind this version does not file: their lookup and idempotency rows were not checked`,
      );
    return notes;
  }

  #table(table: Table): Discrepancies {
    return table === "lookup" ? this.#lookup : this.#idempotency;
  }

  #compare(
    table: Table,
    index: number,
    expected: readonly Uint8Array[],
    stored: readonly Uint8Array[],
    roles: readonly string[],
  ): void {
    const found = new Set(stored.map(toHex));
    const wanted = new Set(expected.map(toHex));
    expected.forEach((key, i) => {
      if (!found.has(toHex(key))) this.#table(table).add("missing", { key, index, role: roles[i] ?? "key" });
    });
    for (const key of stored) if (!wanted.has(toHex(key))) this.#table(table).add("extra", { key, index });
  }

  /**
   * A lookup row that should hold its trail copy and does not: harmless to readers (they read the log
   * instead) but not what the writer stored. A store says how large a copy it keeps (trailCopyLimit).
   */
  #checkCopies(
    entry: IndexedEntry,
    chunk: IndexChunk,
    limit: number,
    expected: readonly Uint8Array[],
    stored: readonly Uint8Array[],
  ): void {
    const content = chunk.contents.get(entry.index);
    // Content erased or missing (CONTENT_MISSING names a missing one): whether a size-limited store
    // kept a copy depended on the content's size, which is gone.
    if (content !== undefined && content.intact === undefined && limit < Number.MAX_SAFE_INTEGER) {
      this.#copiesOfErasedUnchecked++;
      return;
    }
    if (entry.data.length + (content?.intact?.length ?? 0) > limit) return;
    const wanted = new Set(expected.map(toHex));
    const missing = stored.filter(
      (key) => wanted.has(toHex(key)) && !chunk.copied.has(`${entry.index}:${toHex(key)}`),
    );
    if (missing.length === 0) return;
    this.#findings.push({
      code: "TRAIL_COPY_MISSING",
      message: `the trail copy of entry ${entry.index} is missing from ${missing.length} of its index rows: the store keeps one in every row of an entry this size`,
      firstIndex: entry.index,
      lastIndex: entry.index,
      table: "lookup",
    });
  }

  #report(table: Table): void {
    const found = this.#table(table);
    const extraByKey = new Map<string, Row[]>();
    for (const row of found.extra) {
      const list = extraByKey.get(toHex(row.key)) ?? [];
      list.push(row);
      extraByKey.set(toHex(row.key), list);
    }
    const what = table === "lookup" ? "index row" : "idempotency key";
    const prefix = table === "lookup" ? "INDEX_ROW" : "IDEMPOTENCY_ROW";
    for (const row of found.missing) {
      const moved = extraByKey.get(toHex(row.key))?.shift();
      if (moved !== undefined) {
        this.#findings.push({
          code: `${prefix}_MOVED`,
          message:
            table === "lookup"
              ? `the index row of entry ${row.index} under its ${row.role} points at entry ${moved.index} instead: readers of that key are shown entry ${moved.index} and not entry ${row.index}`
              : `idempotency key ${keyText(row.key)} points at entry ${moved.index}, not entry ${row.index}: a replay of that source event would be answered with the wrong record`,
          firstIndex: Math.min(row.index, moved.index),
          lastIndex: Math.max(row.index, moved.index),
          table,
        });
        continue;
      }
      this.#findings.push({
        code: `${prefix}_MISSING`,
        message:
          table === "lookup"
            ? `the index row for entry ${row.index} under its ${row.role} is missing: readers of that key are not shown entry ${row.index}`
            : `the idempotency key ${keyText(row.key)} of entry ${row.index} is missing: a replay of its source event would be logged again`,
        firstIndex: row.index,
        lastIndex: row.index,
        table,
      });
    }
    for (const rows of extraByKey.values()) {
      for (const row of rows) {
        this.#findings.push({
          code: `${prefix}_EXTRA`,
          message:
            table === "lookup"
              ? `an extra index row points at entry ${row.index} under a key that entry is not filed under: readers of that key are shown entry ${row.index}`
              : `an extra idempotency key ${keyText(row.key)} points at entry ${row.index}, which is not the record of that key: a new record with that source event would be refused as a replay`,
          firstIndex: row.index,
          lastIndex: row.index,
          table,
        });
      }
    }
    const uncounted = found.missingUncounted + found.extraUncounted;
    if (uncounted > 0) {
      this.#findings.push({
        code: `${prefix}_MISSING`,
        message: `${uncounted} further ${what} discrepancies (missing or extra) beyond the first ${MAX_HELD} of each were counted but not listed`,
        table,
      });
    }
  }
}

function byIndex(rows: readonly Row[]): Map<number, Uint8Array[]> {
  const map = new Map<number, Uint8Array[]>();
  for (const row of rows) {
    const list = map.get(row.index) ?? [];
    list.push(row.key);
    map.set(row.index, list);
  }
  return map;
}

/**
 * The first 8 bytes of an idempotency key (a keyed digest of a source event ID), enough to find its
 * row. Lookup keys are never quoted: a patient tag identifies a patient's rows.
 */
function keyText(key: Uint8Array): string {
  return `${toHex(key.subarray(0, 8))}…`;
}
