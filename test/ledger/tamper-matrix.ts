// The seeded tamper matrix's pieces, shared by its SQLite and PostgreSQL runs: a log with every kind
// of entry and every table filled (access records with and without source event IDs, key envelopes,
// notices, registry entries, plain data, an erasure), an inventory of its rows, and random tamperings
// of one row of one table, each with its undo and the place a finding must name.

import { toHex, utf8 } from "../../src/core/bytes.js";
import {
  contentHashOf,
  decodeEntry,
  ENTRY_KINDS,
  encodeDataEntry,
  encodeErasureEntry,
  encodeGrantEntry,
  REGISTRY_LOOKUP_KEY,
  relayedNoticeKey,
} from "../../src/core/entry/index.js";
import type { AuditRecord } from "../../src/core/record/index.js";
import { generateX25519KeyPair } from "../../src/crypto/hpke/index.js";
import type { Ledger } from "../../src/ledger/ledger.js";
import type { Finding } from "../../src/ledger/verify/findings.js";
import { BlindIndex, RecordSealer } from "../../src/records/index.js";
import { sealNotice } from "../../src/records/notices.js";
import type { RecipientDirectory } from "../../src/records/recipients.js";
import { lastRecordOf } from "../../src/records/vault.js";

const PATIENTS = ["MRN-1", "MRN-2", "MRN-3", "MRN-4", "MRN-5"];

/** Fills a log with every kind of entry, checkpointing along the way and at the end. */
export async function buildLog(ledger: Ledger): Promise<void> {
  const blindIndex = new BlindIndex(new Uint8Array(32).fill(9));
  const custodian = generateX25519KeyPair().publicKey;
  const patientKeys = new Map(PATIENTS.map((id) => [id, generateX25519KeyPair().publicKey]));
  const directory: RecipientDirectory = {
    async readersOf(patientId) {
      return [
        { id: patientId, role: "patient", encryptionKey: patientKeys.get(patientId)! },
        { id: "custodian", role: "custodian", encryptionKey: custodian },
      ];
    },
  };
  const sealer = new RecordSealer({
    blindIndex,
    directory,
    log: ledger,
    lastRecord: (tag) => lastRecordOf(ledger, tag),
  });
  let counter = 0;
  const record = (patientId: string): AuditRecord => {
    counter++;
    return {
      time: new Date(Date.UTC(2026, 0, 1) + counter * 60_000).toISOString(),
      patientId,
      userId: `user-${counter % 7}`,
      action: "query",
      ...(counter % 5 === 0 ? {} : { sourceEventId: `evt-${counter}` }),
    };
  };
  const reader = { id: "custodian", role: "custodian" as const, encryptionKey: custodian };
  // A notice relayed through PostgreSQL's outbox, as the sequencer appends it: with the key derived from it.
  const relayed = sealNotice(
    { kind: "query", time: Date.UTC(2026, 0, 1), patientTag: blindIndex.patientTag(PATIENTS[1]!) },
    {
      time: new Date(Date.UTC(2026, 0, 1)).toISOString(),
      requester: "custos://m/auditor/A",
      role: "auditor",
      operation: "read-trail",
    },
    [reader],
  );
  await ledger.append([{ ...relayed, idempotencyKey: relayedNoticeKey(relayed.entry) }]);
  for (let round = 0; round < 10; round++) {
    const records = PATIENTS.flatMap((p, i) =>
      Array.from({ length: 1 + ((round + i) % 4) }, () => record(p)),
    );
    await ledger.append(await sealer.seal(records, "ehr-main"));
    const tag = blindIndex.patientTag(PATIENTS[round % PATIENTS.length]!);
    await ledger.append([
      sealNotice(
        { kind: round % 2 === 0 ? "query" : "refusal", time: Date.UTC(2026, 0, 2) + round, patientTag: tag },
        {
          time: new Date(Date.UTC(2026, 0, 2)).toISOString(),
          requester: "custos://m/auditor/A",
          role: "auditor",
          operation: "read-trail",
        },
        [reader],
      ),
      { entry: encodeDataEntry(utf8(`plain ${round}`)) },
    ]);
    if (round % 3 === 0) {
      const grant = encodeGrantEntry(
        { time: Date.UTC(2026, 0, 3) + round, auditor: "A", patientTags: [tag], from: 0, admin: "admin" },
        () => new Uint8Array(64).fill(round),
      );
      await ledger.append([{ entry: grant, lookupKeys: [REGISTRY_LOOKUP_KEY] }]);
    }
    if (round % 4 === 3) await ledger.checkpoint();
  }
  // Erase two records' content under a signed erasure entry, as `custos erase` does.
  const erasedTag = blindIndex.patientTag(PATIENTS[0]!);
  const indexes = await ledger.store.findByLookupKey({ key: erasedTag, limit: 2 });
  const entries = await ledger.store.getEntriesAt(indexes);
  const hashes = entries.map((e) => contentHashOf(decodeEntry(e.data))!);
  await ledger.append([
    {
      entry: encodeErasureEntry({
        time: Date.UTC(2026, 1, 1),
        reason: "erasure-request",
        subject: `patient-tag:${toHex(erasedTag)}`,
        contentHashes: hashes,
        authorizedBy: "matrix",
      }),
    },
  ]);
  await ledger.store.deleteContent(hashes, indexes);
  await ledger.checkpoint();
}

type Bytes = Uint8Array;
export interface Inventory {
  readonly entries: { idx: number; data: Bytes; kind: number; contentHash: Bytes | undefined }[];
  readonly tiles: { level: number; idx: number; hashes: Bytes }[];
  readonly contents: { hash: Bytes; data: Bytes }[];
  readonly lookup: { key: Bytes; idx: number; entry: Bytes | null; content: Bytes | null }[];
  readonly idempotency: { key: Bytes; idx: number }[];
  readonly checkpoints: { id: number; size: number; note: string }[];
  readonly snapshot: { part: number; size: number; leaves: Bytes }[];
  readonly size: number;
}

/** SQL access to the store's own database, `?` placeholders. */
export interface Sql {
  readonly dialect: "sqlite" | "postgres";
  all(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  run(text: string, params?: unknown[]): Promise<void>;
}

const bytes = (value: unknown): Bytes => new Uint8Array(value as Bytes);

export async function inventory(sql: Sql): Promise<Inventory> {
  const entries = (await sql.all("SELECT idx, data FROM entries ORDER BY idx")).map((r) => {
    const data = bytes(r.data);
    const decoded = data[1] === ENTRY_KINDS.data ? undefined : decodeEntry(data);
    return { idx: Number(r.idx), data, kind: data[1]!, contentHash: decoded && contentHashOf(decoded) };
  });
  return {
    entries,
    tiles: (await sql.all("SELECT level, idx, hashes FROM tiles ORDER BY level, idx")).map((r) => ({
      level: Number(r.level),
      idx: Number(r.idx),
      hashes: bytes(r.hashes),
    })),
    contents: (await sql.all("SELECT hash, data FROM contents")).map((r) => ({
      hash: bytes(r.hash),
      data: bytes(r.data),
    })),
    lookup: (await sql.all("SELECT key, idx, entry, content FROM lookup ORDER BY idx, key")).map((r) => ({
      key: bytes(r.key),
      idx: Number(r.idx),
      entry: r.entry === null ? null : bytes(r.entry),
      content: r.content === null ? null : bytes(r.content),
    })),
    idempotency: (await sql.all("SELECT key, idx FROM idempotency ORDER BY idx")).map((r) => ({
      key: bytes(r.key),
      idx: Number(r.idx),
    })),
    checkpoints: (await sql.all("SELECT id, size, note FROM checkpoints ORDER BY id")).map((r) => ({
      id: Number(r.id),
      size: Number(r.size),
      note: String(r.note),
    })),
    snapshot: (await sql.all("SELECT part, size, leaves FROM trail_map_snapshot ORDER BY part")).map((r) => ({
      part: Number(r.part),
      size: Number(r.size),
      leaves: bytes(r.leaves),
    })),
    size: Number((await sql.all("SELECT value FROM meta WHERE key = 'size'"))[0]!.value),
  };
}

type Statement = readonly [text: string, params: unknown[]];

export interface Tampering {
  readonly table: string;
  readonly kind: string;
  readonly apply: readonly Statement[];
  readonly undo: readonly Statement[];
  /** Whether a finding names the place tampered with. */
  readonly located: (finding: Finding) => boolean;
}

const covers = (index: number) => (f: Finding) =>
  f.firstIndex !== undefined && f.firstIndex <= index && index <= (f.lastIndex ?? f.firstIndex);

function flipped(value: Bytes, random: () => number): Bytes {
  const copy = new Uint8Array(value);
  copy[Math.floor(random() * copy.length)]! ^= 1 + Math.floor(random() * 255);
  return copy;
}

export const TABLES = [
  "entries",
  "tiles",
  "contents",
  "lookup",
  "idempotency",
  "checkpoints",
  "meta",
  "trail_map_snapshot",
] as const;

/** Ledger options that make buildLog leave a trail map snapshot of several parts (5 patients). */
export const SNAPSHOT_OPTIONS = { trailMapSnapshotEntries: 1, trailMapSnapshotPartLeaves: 2 } as const;

/** One random tampering of one row of one table (types only where SQLite lets a column hold any). */
export function randomTampering(inv: Inventory, random: () => number, sql: Sql["dialect"]): Tampering {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const table = pick(TABLES);
  const kinds = (list: string[]) => pick(sql === "sqlite" ? list : list.filter((k) => k !== "mistype"));
  const held = new Set(inv.contents.map((c) => toHex(c.hash)));
  const erased = new Set(
    inv.entries.filter((e) => e.contentHash && !held.has(toHex(e.contentHash))).map((e) => e.idx),
  );
  const contentOwner = new Map(
    inv.entries.filter((e) => e.contentHash).map((e) => [toHex(e.contentHash!), e.idx]),
  );
  switch (table) {
    case "entries": {
      const e = pick(inv.entries);
      const restore: Statement = ["UPDATE entries SET data = ? WHERE idx = ?", [e.data, e.idx]];
      const kind = kinds(["flip", "delete", "mistype"]);
      const apply: Statement =
        kind === "flip"
          ? ["UPDATE entries SET data = ? WHERE idx = ?", [flipped(e.data, random), e.idx]]
          : kind === "delete"
            ? ["DELETE FROM entries WHERE idx = ?", [e.idx]]
            : ["UPDATE entries SET data = CAST(data AS TEXT) WHERE idx = ?", [e.idx]];
      const undo: Statement =
        kind === "delete" ? ["INSERT INTO entries (idx, data) VALUES (?, ?)", [e.idx, e.data]] : restore;
      return { table, kind, apply: [apply], undo: [undo], located: covers(e.idx) };
    }
    case "tiles": {
      const t = pick(inv.tiles);
      const where = "WHERE level = ? AND idx = ?";
      const kind = kinds(["flip", "delete", "mistype"]);
      const apply: Statement =
        kind === "flip"
          ? [`UPDATE tiles SET hashes = ? ${where}`, [flipped(t.hashes, random), t.level, t.idx]]
          : kind === "delete"
            ? [`DELETE FROM tiles ${where}`, [t.level, t.idx]]
            : [`UPDATE tiles SET hashes = CAST(hashes AS TEXT) ${where}`, [t.level, t.idx]];
      const undo: Statement =
        kind === "delete"
          ? ["INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?)", [t.level, t.idx, t.hashes]]
          : [`UPDATE tiles SET hashes = ? ${where}`, [t.hashes, t.level, t.idx]];
      return {
        table,
        kind,
        apply: [apply],
        undo: [undo],
        located: (f) => f.tile?.level === t.level && f.tile.index === t.idx,
      };
    }
    case "contents": {
      const c = pick(inv.contents);
      const owner = contentOwner.get(toHex(c.hash))!;
      const kind = kinds(["flip", "delete", "mistype"]);
      const apply: Statement =
        kind === "flip"
          ? ["UPDATE contents SET data = ? WHERE hash = ?", [flipped(c.data, random), c.hash]]
          : kind === "delete"
            ? ["DELETE FROM contents WHERE hash = ?", [c.hash]]
            : ["UPDATE contents SET data = CAST(data AS TEXT) WHERE hash = ?", [c.hash]];
      const undo: Statement =
        kind === "delete"
          ? ["INSERT INTO contents (hash, data) VALUES (?, ?)", [c.hash, c.data]]
          : ["UPDATE contents SET data = ? WHERE hash = ?", [c.data, c.hash]];
      return { table, kind, apply: [apply], undo: [undo], located: covers(owner) };
    }
    case "lookup": {
      const r = pick(inv.lookup);
      const where = "WHERE key = ? AND idx = ?";
      const taken = new Set(inv.lookup.filter((o) => toHex(o.key) === toHex(r.key)).map((o) => o.idx));
      const free = inv.entries.filter((e) => !taken.has(e.idx));
      const other = pick(free);
      const restore: Statement = [
        `UPDATE lookup SET key = ?, idx = ?, entry = ?, content = ? ${where}`,
        [r.key, r.idx, r.entry, r.content, r.key, r.idx],
      ];
      const kind = kinds([
        "delete",
        "move",
        "insert",
        "flip-key",
        "flip-copy",
        // A row without a copy (PostgreSQL keeps none for a large entry) has none to drop; PostgreSQL's
        // copy of an erased entry is reported unchecked (whether one was kept depended on the erased size).
        r.entry && (sql === "sqlite" || !erased.has(r.idx)) ? "drop-copy" : "flip-copy",
        r.content ? "drop-content" : "flip-copy",
        "mistype",
      ]);
      const insertRow: Statement = [
        "INSERT INTO lookup (key, idx, entry, content) VALUES (?, ?, ?, ?)",
        [r.key, r.idx, r.entry, r.content],
      ];
      switch (kind) {
        case "delete":
          return {
            table,
            kind,
            apply: [[`DELETE FROM lookup ${where}`, [r.key, r.idx]]],
            undo: [insertRow],
            located: covers(r.idx),
          };
        case "move":
          return {
            table,
            kind,
            apply: [[`UPDATE lookup SET idx = ? ${where}`, [other.idx, r.key, r.idx]]],
            undo: [[`DELETE FROM lookup ${where}`, [r.key, other.idx]], insertRow],
            located: covers(r.idx),
          };
        case "insert": {
          const copy = inv.lookup.find((o) => o.idx === other.idx);
          return {
            table,
            kind,
            apply: [
              [
                "INSERT INTO lookup (key, idx, entry, content) VALUES (?, ?, ?, ?)",
                [r.key, other.idx, other.data, copy?.content ?? null],
              ],
            ],
            undo: [[`DELETE FROM lookup ${where}`, [r.key, other.idx]]],
            located: covers(other.idx),
          };
        }
        case "flip-key": {
          const key = flipped(r.key, random);
          return {
            table,
            kind,
            apply: [[`UPDATE lookup SET key = ? ${where}`, [key, r.key, r.idx]]],
            undo: [[`DELETE FROM lookup ${where}`, [key, r.idx]], insertRow],
            located: covers(r.idx),
          };
        }
        case "flip-copy":
          return {
            table,
            kind,
            apply: [
              [
                `UPDATE lookup SET entry = ? ${where}`,
                [flipped(r.entry ?? new Uint8Array(8), random), r.key, r.idx],
              ],
            ],
            undo: [restore],
            located: covers(r.idx),
          };
        case "drop-copy":
          return {
            table,
            kind,
            apply: [[`UPDATE lookup SET entry = NULL ${where}`, [r.key, r.idx]]],
            undo: [restore],
            located: covers(r.idx),
          };
        case "drop-content":
          return {
            table,
            kind,
            apply: [[`UPDATE lookup SET content = NULL ${where}`, [r.key, r.idx]]],
            undo: [restore],
            located: covers(r.idx),
          };
        default:
          return {
            table,
            kind,
            apply: [[`UPDATE lookup SET key = CAST(key AS TEXT) ${where}`, [r.key, r.idx]]],
            undo: [["DELETE FROM lookup WHERE idx = ? AND CAST(key AS BLOB) = ?", [r.idx, r.key]], insertRow],
            located: covers(r.idx),
          };
      }
    }
    case "idempotency": {
      const r = pick(inv.idempotency);
      const other = pick(inv.entries.filter((e) => e.idx !== r.idx));
      const insertRow: Statement = ["INSERT INTO idempotency (key, idx) VALUES (?, ?)", [r.key, r.idx]];
      // A relayed notice's row guards only the outbox's window: one deleted cannot be told from a
      // notice never relayed, and one moved leaves nothing wrong at the notice (verify names the row
      // where it now points).
      const relayed = inv.entries.find((e) => e.idx === r.idx)?.kind !== ENTRY_KINDS.accessRecord;
      const kind = kinds(
        relayed
          ? ["move", "insert", "flip-key", "mistype"]
          : ["delete", "move", "insert", "flip-key", "mistype"],
      );
      switch (kind) {
        case "delete":
          return {
            table,
            kind,
            apply: [["DELETE FROM idempotency WHERE key = ?", [r.key]]],
            undo: [insertRow],
            located: covers(r.idx),
          };
        case "move":
          return {
            table,
            kind,
            apply: [["UPDATE idempotency SET idx = ? WHERE key = ?", [other.idx, r.key]]],
            undo: [["UPDATE idempotency SET idx = ? WHERE key = ?", [r.idx, r.key]]],
            located: relayed ? covers(other.idx) : covers(r.idx),
          };
        case "insert": {
          const key = flipped(r.key, random);
          return {
            table,
            kind,
            apply: [["INSERT INTO idempotency (key, idx) VALUES (?, ?)", [key, other.idx]]],
            undo: [["DELETE FROM idempotency WHERE key = ?", [key]]],
            located: covers(other.idx),
          };
        }
        case "flip-key": {
          const key = flipped(r.key, random);
          return {
            table,
            kind,
            apply: [["UPDATE idempotency SET key = ? WHERE key = ?", [key, r.key]]],
            undo: [["UPDATE idempotency SET key = ? WHERE key = ?", [r.key, key]]],
            located: covers(r.idx),
          };
        }
        default:
          return {
            table,
            kind,
            apply: [["UPDATE idempotency SET key = CAST(key AS TEXT) WHERE key = ?", [r.key]]],
            undo: [["DELETE FROM idempotency WHERE idx = ?", [r.idx]], insertRow],
            located: covers(r.idx),
          };
      }
    }
    case "checkpoints": {
      const position = Math.floor(random() * inv.checkpoints.length);
      const cp = inv.checkpoints[position]!;
      const kind = pick(["flip-note", "size", "delete-newest"]);
      const restore: Statement = [
        "UPDATE checkpoints SET size = ?, note = ? WHERE id = ?",
        [cp.size, cp.note, cp.id],
      ];
      if (kind === "delete-newest") {
        const newest = inv.checkpoints[inv.checkpoints.length - 1]!;
        return {
          table,
          kind,
          apply: [["DELETE FROM checkpoints WHERE id = ?", [newest.id]]],
          undo: [
            [
              "INSERT INTO checkpoints (id, size, note, stored_at) VALUES (?, ?, ?, 0)",
              [newest.id, newest.size, newest.note],
            ],
          ],
          // Found against the state of the last clean run, as a verifier that ran before holds it.
          located: (f) => f.code === "CHECKPOINT_ROLLED_BACK" && f.checkpointSize === newest.size,
        };
      }
      if (kind === "size") {
        return {
          table,
          kind,
          apply: [
            ["UPDATE checkpoints SET size = ? WHERE id = ?", [cp.size + 1 + Math.floor(random() * 5), cp.id]],
          ],
          undo: [restore],
          located: (f) => f.checkpointPosition === position,
        };
      }
      const at = Math.floor(random() * cp.note.length);
      const char = cp.note[at] === "A" ? "B" : "A";
      return {
        table,
        kind,
        apply: [
          [
            "UPDATE checkpoints SET note = ? WHERE id = ?",
            [cp.note.slice(0, at) + char + cp.note.slice(at + 1), cp.id],
          ],
        ],
        undo: [restore],
        located: (f) => f.checkpointPosition === position,
      };
    }
    case "trail_map_snapshot": {
      const row = pick(inv.snapshot);
      const last = inv.snapshot[inv.snapshot.length - 1]!;
      const kind = kinds(["flip", "delete", "size", "insert", "mistype"]);
      const named = (part: number) => (f: Finding) =>
        f.code === "TRAIL_MAP_SNAPSHOT_MISMATCH" && f.snapshotPart === part;
      const restore: Statement = [
        "UPDATE trail_map_snapshot SET size = ?, leaves = ? WHERE part = ?",
        [row.size, row.leaves, row.part],
      ];
      switch (kind) {
        case "flip":
          return {
            table,
            kind,
            apply: [
              [
                "UPDATE trail_map_snapshot SET leaves = ? WHERE part = ?",
                [flipped(row.leaves, random), row.part],
              ],
            ],
            undo: [restore],
            located: named(row.part),
          };
        case "delete":
          return {
            table,
            kind,
            apply: [["DELETE FROM trail_map_snapshot WHERE part = ?", [row.part]]],
            undo: [
              [
                "INSERT INTO trail_map_snapshot (part, size, leaves) VALUES (?, ?, ?)",
                [row.part, row.size, row.leaves],
              ],
            ],
            located: named(row.part),
          };
        case "size":
          return {
            table,
            kind,
            apply: [
              [
                "UPDATE trail_map_snapshot SET size = ? WHERE part = ?",
                [row.size + (random() < 0.5 ? -1 : 1 + Math.floor(random() * 3)), row.part],
              ],
            ],
            undo: [restore],
            located: named(row.part),
          };
        case "insert":
          // A part added after the last (a copy of one), as a stale or replayed part would be.
          return {
            table,
            kind,
            apply: [
              [
                "INSERT INTO trail_map_snapshot (part, size, leaves) VALUES (?, ?, ?)",
                [last.part + 1, row.size, row.leaves],
              ],
            ],
            undo: [["DELETE FROM trail_map_snapshot WHERE part = ?", [last.part + 1]]],
            located: named(last.part + 1),
          };
        default:
          return {
            table,
            kind,
            apply: [
              ["UPDATE trail_map_snapshot SET leaves = CAST(leaves AS TEXT) WHERE part = ?", [row.part]],
            ],
            undo: [restore],
            located: named(row.part),
          };
      }
    }
    default: {
      const delta = random() < 0.5 ? -1 : 1 + Math.floor(random() * 3);
      return {
        table,
        kind: "size",
        apply: [["UPDATE meta SET value = ? WHERE key = 'size'", [String(inv.size + delta)]]],
        undo: [["UPDATE meta SET value = ? WHERE key = 'size'", [String(inv.size)]]],
        located: (f) =>
          f.code === "SIZE_MISMATCH" || f.code === "ENTRIES_MISSING" || f.code === "EXTRA_ENTRIES",
      };
    }
  }
}

/** Tallies per table, for the figures the README gives. */
export class Tally {
  readonly rows = new Map<string, { tamperings: number; detected: number; located: number }>();
  readonly misses: string[] = [];

  add(t: Tampering, findings: readonly Finding[]): void {
    const row = this.rows.get(t.table) ?? { tamperings: 0, detected: 0, located: 0 };
    row.tamperings++;
    if (findings.length > 0) row.detected++;
    if (findings.some(t.located)) row.located++;
    else
      this.misses.push(
        `${t.table}/${t.kind}: ${JSON.stringify(findings.map((f) => [f.code, f.firstIndex, f.tile]))}`,
      );
    this.rows.set(t.table, row);
  }

  total(): { tamperings: number; detected: number; located: number } {
    const sum = { tamperings: 0, detected: 0, located: 0 };
    for (const row of this.rows.values()) {
      sum.tamperings += row.tamperings;
      sum.detected += row.detected;
      sum.located += row.located;
    }
    return sum;
  }

  table(): string {
    return [...this.rows]
      .map(
        ([table, r]) =>
          `${table.padEnd(18)} ${r.tamperings} tampered, ${r.detected} detected, ${r.located} located`,
      )
      .join("\n");
  }
}
