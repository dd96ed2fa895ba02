// What passes between the prep pool and its workers (prep-pool.ts, prep-worker.ts): a request's body
// (text or a parsed JSON value) and its submitter in; its prepared records out, their bytes packed in
// one buffer that is transferred (not copied) and their fields in flat arrays (cheap to clone).

import type { ErrorCode } from "../core/index.js";
import type { PreparedRecord } from "./prepared-record.js";

export interface PrepRequest {
  readonly id: number;
  readonly input: unknown;
  readonly source: string;
}

export type PrepReply =
  | { readonly id: number; readonly packed: PackedRecords }
  | { readonly id: number; readonly error: { readonly code: ErrorCode; readonly message: string } };

export interface PackedRecords {
  readonly patientIds: string[];
  readonly times: Float64Array;
  /** Each record's canonical encoding's length; a keyed record's event key and digest follow it. */
  readonly lengths: Uint32Array;
  readonly keyed: Uint8Array;
  /** Sparse: only records that name a source system (and its observer's devices). */
  readonly sources: { readonly at: number; readonly system: string; readonly devices?: readonly string[] }[];
  readonly bytes: Uint8Array;
}

const KEY_BYTES = 32;

export function packPrepared(records: readonly PreparedRecord[]): PackedRecords {
  const n = records.length;
  const times = new Float64Array(n);
  const lengths = new Uint32Array(n);
  const keyed = new Uint8Array(n);
  const patientIds: string[] = new Array(n);
  const sources: PackedRecords["sources"][number][] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    patientIds[i] = r.patientId;
    times[i] = r.timeMs;
    lengths[i] = r.plaintext.length;
    keyed[i] = r.eventKey !== undefined && r.eventDigest !== undefined ? 1 : 0;
    total += r.plaintext.length + (keyed[i] ? 2 * KEY_BYTES : 0);
    if (r.sourceSystem !== undefined)
      sources.push({ at: i, system: r.sourceSystem, ...(r.devices ? { devices: r.devices } : {}) });
  }
  // Its own ArrayBuffer (never a pooled slab), so it can be transferred whole.
  const bytes = new Uint8Array(new ArrayBuffer(total));
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    bytes.set(r.plaintext, offset);
    offset += r.plaintext.length;
    if (keyed[i]) {
      bytes.set(r.eventKey!, offset);
      bytes.set(r.eventDigest!, offset + KEY_BYTES);
      offset += 2 * KEY_BYTES;
    }
  }
  return { patientIds, times, lengths, keyed, sources, bytes };
}

/** The prepared records, as views into the packed bytes (wiping a record's plaintext wipes its range). */
export function unpackPrepared(packed: PackedRecords): PreparedRecord[] {
  const { bytes } = packed;
  const bySource = new Map(packed.sources.map((s) => [s.at, s]));
  const records: PreparedRecord[] = [];
  let offset = 0;
  for (let i = 0; i < packed.patientIds.length; i++) {
    const length = packed.lengths[i]!;
    const plaintext = bytes.subarray(offset, offset + length);
    offset += length;
    let keys = {};
    if (packed.keyed[i]) {
      keys = {
        eventKey: bytes.subarray(offset, offset + KEY_BYTES),
        eventDigest: bytes.subarray(offset + KEY_BYTES, offset + 2 * KEY_BYTES),
      };
      offset += 2 * KEY_BYTES;
    }
    const source = bySource.get(i);
    records.push({
      patientId: packed.patientIds[i]!,
      timeMs: packed.times[i]!,
      ...(source
        ? { sourceSystem: source.system, ...(source.devices ? { devices: source.devices } : {}) }
        : {}),
      plaintext,
      ...keys,
    });
  }
  return records;
}
