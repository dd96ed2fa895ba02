import { describe, expect, it } from "vitest";
import { matchesRecordFilter } from "../../src/client/record-filter.js";
import { parseAuditRecord } from "../../src/core/record/index.js";

const record = parseAuditRecord({
  time: "2026-11-24T07:30:00Z",
  patientId: "P1",
  userId: "dr.okafor",
  action: "query",
  networkAddress: "10.1.2.3",
  resourceType: "Observation",
  resourceId: "obs-123",
  userName: "Dr. Ada Okafor",
  userRole: "Physician",
  department: "Cardiology",
});
const bare = parseAuditRecord({
  time: "2026-11-24T07:30:00Z",
  patientId: "P1",
  userId: "u",
  action: "query",
});

describe("record filters applied after decryption", () => {
  it("matches on who, from where and what, and a record without the field never matches", () => {
    const hits = [
      { networkAddress: "10.1.2.3" },
      { resourceType: "Observation" },
      { resourceId: "obs-123" },
      { userName: "okafor" },
      { userName: "ADA OK" },
      { userRole: "physician" },
      { department: "CARDIOLOGY" },
      { user: "dr.okafor", action: "query", resourceType: "Observation" },
    ];
    for (const filter of hits) {
      expect(matchesRecordFilter(record, filter), JSON.stringify(filter)).toBe(true);
      expect(matchesRecordFilter(bare, filter), JSON.stringify(filter)).toBe(false);
    }
    for (const filter of [
      { networkAddress: "10.1.2.4" },
      { resourceType: "observation" },
      { resourceId: "obs-12" },
      { userName: "jones" },
      { userRole: "Nurse" },
      { department: "Oncology" },
      { user: "dr.okafor", action: "change" },
    ])
      expect(matchesRecordFilter(record, filter), JSON.stringify(filter)).toBe(false);
    expect(matchesRecordFilter(bare, {})).toBe(true);
  });
});
