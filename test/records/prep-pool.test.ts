// Record preparation on worker threads (src/records/prep-pool.ts): real worker_threads, compared with
// preparation on the calling thread record by record; refusals keep their code and message.
import { afterEach, describe, expect, it } from "vitest";
import { CustosError, toHex } from "../../src/core/index.js";
import { parseRecordInput } from "../../src/core/record/index.js";
import { BlindIndex } from "../../src/records/blind-index.js";
import { PrepPool } from "../../src/records/prep-pool.js";
import { type PreparedRecord, prepareRecord } from "../../src/records/prepared-record.js";

const key = new Uint8Array(32).fill(5);
const record = (i: number, extra: Record<string, unknown> = {}) => ({
  time: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  patientId: `MRN-${i % 7}`,
  userId: `user-${i}`,
  action: "query",
  ...(i % 3 === 0 ? {} : { sourceEventId: `ev-${i}` }),
  ...extra,
});
const ndjson = (n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify(record(i, i === 4 ? { sourceSystem: "lab" } : {}))).join(
    "\n",
  );

function plain(r: PreparedRecord) {
  return {
    ...r,
    plaintext: toHex(r.plaintext),
    eventKey: r.eventKey && toHex(r.eventKey),
    eventDigest: r.eventDigest && toHex(r.eventDigest),
  };
}

let pool: PrepPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe("PrepPool", () => {
  it("prepares NDJSON and parsed JSON exactly as the calling thread does, in order", async () => {
    pool = new PrepPool(key, 2);
    const inline = parseRecordInput(ndjson(300)).map((r) => prepareRecord(r, "ehr", new BlindIndex(key)));
    const [a, b] = await Promise.all([
      pool.prepare(ndjson(300), "ehr"),
      pool.prepare(JSON.parse(`[${ndjson(300).split("\n").join(",")}]`), "ehr"),
    ]);
    expect(a.map(plain)).toEqual(inline.map(plain));
    expect(b.map(plain)).toEqual(inline.map(plain));
    expect(a[4]!.sourceSystem).toBe("lab");
    // The keyed values depend on the submitter.
    const other = await pool.prepare(ndjson(2), "other-ehr");
    expect(toHex(other[1]!.eventKey!)).not.toBe(toHex(a[1]!.eventKey!));
  });

  it("refuses a bad record with the code and message the calling thread gives", async () => {
    pool = new PrepPool(key, 1);
    const bad = `${ndjson(3)}\n{"time":"x","patientId":"P"}`;
    let inline: unknown;
    try {
      parseRecordInput(bad);
    } catch (error) {
      inline = error;
    }
    const refused = await pool.prepare(bad, "ehr").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CustosError);
    expect((refused as CustosError).code).toBe("INVALID_RECORD");
    expect((refused as CustosError).message).toBe((inline as CustosError).message);
    // The worker serves on after a refusal.
    expect((await pool.prepare(ndjson(2), "ehr")).length).toBe(2);
  });

  it("spreads concurrent requests over its workers and stops them all on close", async () => {
    pool = new PrepPool(key, 2);
    expect(pool.size).toBe(2);
    const replies = await Promise.all(Array.from({ length: 8 }, () => pool!.prepare(ndjson(50), "ehr")));
    expect(replies.every((r) => r.length === 50)).toBe(true);
    await pool.close();
    await expect(pool.prepare(ndjson(1), "ehr")).rejects.toMatchObject({ code: "STORE_BUSY" });
  });
});
