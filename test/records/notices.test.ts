// A notice (a refused request, a read of a patient's trail) keeps only the hour in clear, as access
// records do; the exact time is sealed with the rest of the body (issue 27.4).

import { describe, expect, it } from "vitest";
import { decodeNoticeEntry } from "../../src/core/entry/index.js";
import { generateX25519KeyPair } from "../../src/crypto/hpke/index.js";
import { openNotice, sealNotice } from "../../src/records/notices.js";

const patientTag = new Uint8Array(32).fill(7);
const body = {
  time: "2026-11-23T10:23:45.678Z",
  requester: "custos://stmary/auditor/A1",
  role: "auditor",
  operation: "read-trail",
  returned: 3,
};

describe("notices", () => {
  it("store the hour of the read in clear and the exact time sealed", () => {
    const reader = generateX25519KeyPair();
    const at = Date.parse(body.time);
    const item = sealNotice({ kind: "query", time: at, patientTag }, body, [
      { id: "custos://stmary/patient/P1", role: "patient", encryptionKey: reader.publicKey },
    ]);
    expect(decodeNoticeEntry(item.entry).header.time).toBe(Date.parse("2026-11-23T10:00:00.000Z"));
    // Nothing finer than the hour anywhere in clear: not in the entry, not beside the sealed copies.
    const stored = Buffer.concat([item.entry, item.content!]);
    expect(stored.includes(Buffer.from("10:23"))).toBe(false);
    expect(openNotice({ index: 0, ...item }, reader.privateKey)?.body).toEqual(body);
  });
});
