// A patient's query history reads the patient's notices from their own lookup key, not by scanning
// every access record under the patient's tag; notices written before that key existed (filed under
// the tag alone) are still found, by a scan that stops where filing by notice key began.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes.js";
import { encodeDataEntry, NOTICES_FILED_KEY, noticeLookupKey } from "../../src/core/entry/index.js";
import { generateX25519KeyPair } from "../../src/crypto/hpke/index.js";
import type { AppendItem } from "../../src/ledger/sequencer.js";
import type { LookupQuery } from "../../src/ledger/storage.js";
import { openNotice, sealNotice } from "../../src/records/notices.js";
import { noticesUnder } from "../../src/service/notice-scan.js";
import { createTestLog, type TestLog } from "../ledger/fixtures.js";

const patient = generateX25519KeyPair();
const readers = [{ id: "custos://t/patient/P1", role: "patient" as const, encryptionKey: patient.publicKey }];
const tag = new Uint8Array(32).fill(5);
const otherTag = new Uint8Array(32).fill(6);

let log: TestLog;
beforeEach(async () => {
  log = await createTestLog();
});
afterEach(async () => {
  await log.cleanup();
});

const notice = (n: number, about = tag): AppendItem =>
  sealNotice(
    { kind: "query", time: 1_000 + n, patientTag: about },
    {
      time: new Date(1_000 + n).toISOString(),
      requester: `reader-${n}`,
      role: "auditor",
      operation: "trail",
      returned: n,
    },
    readers,
  );
/** As an older Custos filed a notice: under the patient's tag only. */
const legacy = (n: number): AppendItem => ({ ...notice(n), lookupKeys: [tag] });
const records = (count: number, from: number): AppendItem[] =>
  Array.from({ length: count }, (_, i) => ({
    entry: encodeDataEntry(utf8(`record ${from + i}`)),
    lookupKeys: [tag],
  }));

describe("notices by notice key", () => {
  it("files each notice under the patient's tag, its notice key and the filed marker", () => {
    expect(notice(1).lookupKeys).toEqual([tag, noticeLookupKey(tag), NOTICES_FILED_KEY]);
    expect(noticeLookupKey(tag)).not.toEqual(noticeLookupKey(otherTag));
  });

  it("finds old and new notices, newest first, and scans the tag only below where filing by key began", async () => {
    const { ledger } = log;
    await ledger.append([legacy(1), ...records(300, 0), legacy(2), ...records(300, 300)]);
    const [firstFiled] = await ledger.append([notice(3)]);
    await ledger.append([
      ...records(2000, 600),
      notice(4),
      notice(9, otherTag),
      ...records(500, 2600),
      notice(5),
    ]);
    const size = await ledger.size();

    const tagScans: LookupQuery[] = [];
    const store = ledger.store;
    const findByLookupKey = store.findByLookupKey.bind(store);
    store.findByLookupKey = (query) => {
      if (Buffer.from(query.key).equals(Buffer.from(tag))) tagScans.push(query);
      return findByLookupKey(query);
    };
    const found = await noticesUnder(ledger, tag, size, 100);
    const returned = found.map((n) => openNotice(n, patient.privateKey)!.body.returned);
    expect(returned).toEqual([5, 4, 3, 2, 1]);
    // The tag was scanned only below the first notice filed by key: the 2,500 records above it were not read.
    expect(tagScans.length).toBeGreaterThan(0);
    for (const query of tagScans) expect(query.toIndex).toBeLessThanOrEqual(firstFiled!.index);

    // At most `max`, newest first; a filter applies to both kinds of filing.
    expect((await noticesUnder(ledger, tag, size, 2)).map((n) => n.index)).toEqual(
      found.slice(0, 2).map((n) => n.index),
    );
    const odd = await noticesUnder(ledger, tag, size, 100, (n) => n.index % 2 === 1);
    expect(odd.map((n) => n.index)).toEqual(found.filter((n) => n.index % 2 === 1).map((n) => n.index));
  });

  it("reads no tag at all below a log whose notices were all filed by key", async () => {
    const { ledger } = log;
    await ledger.append([notice(1), ...records(100, 0), notice(2)]);
    const size = await ledger.size();
    const store = ledger.store;
    const findByLookupKey = store.findByLookupKey.bind(store);
    const tagScans: LookupQuery[] = [];
    store.findByLookupKey = (query) => {
      if (Buffer.from(query.key).equals(Buffer.from(tag))) tagScans.push(query);
      return findByLookupKey(query);
    };
    const found = await noticesUnder(ledger, tag, size, 100);
    expect(found.map((n) => openNotice(n, patient.privateKey)!.body.returned)).toEqual([2, 1]);
    // The first notice is at index 0: nothing lies below it to scan.
    expect(tagScans.every((query) => query.toIndex === 0)).toBe(true);
  });
});
