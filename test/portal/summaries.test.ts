import { describe, expect, it } from "vitest";
import {
  COUNT_STEPS,
  chartLayout,
  chooseUnit,
  emergencyAccesses,
  filterAccesses,
  filterChoices,
  isOutsideWorkingHours,
  namePatients,
  outsideWorkingHours,
  perUser,
  printAndCopy,
  refusals,
  splitOwnReads,
  timeBuckets,
  toChartData,
  unusualUsers,
  type WorkingHours,
} from "../../portal/src/lib/summaries.js";
import type { AccessRow, NoticeRow } from "../../portal/src/lib/types.js";
import { type AuditRecord, parseAuditRecord } from "../../src/core/record/index.js";

const UTC: WorkingHours = { startHour: 7, endHour: 19, workDays: [1, 2, 3, 4, 5], zone: "utc" };

let nextIndex = 0;
function access(
  time: string,
  userId: string,
  patientId: string,
  fields: Partial<AuditRecord> = {},
): AccessRow {
  const record = parseAuditRecord({ time, patientId, userId, action: "query", ...fields });
  return { index: nextIndex++, patientId, record };
}

// Monday 2 March 2026 .. Sunday 8 March 2026 (UTC).
const rows: AccessRow[] = [
  access("2026-03-02T06:59:59Z", "alice", "P1"), // before hours
  access("2026-03-02T07:00:00Z", "alice", "P2"), // first minute of the day
  access("2026-03-02T18:59:00Z", "alice", "P3", { action: "print" }),
  access("2026-03-02T19:00:00Z", "bob", "P1", { emergency: true }), // after hours
  access("2026-03-03T12:00:00Z", "bob", "P1", { action: "copy" }),
  access("2026-03-07T12:00:00Z", "carol", "P4"), // Saturday
  access("2026-03-08T10:00:00Z", "carol", "P4", { action: "change", emergency: true }), // Sunday
];

describe("auditor summaries on known data", () => {
  it("counts accesses outside working hours: before 07:00, from 19:00, and all weekend", () => {
    expect(outsideWorkingHours(rows, UTC).map((r) => r.record.time)).toEqual([
      "2026-03-02T06:59:59.000Z",
      "2026-03-02T19:00:00.000Z",
      "2026-03-07T12:00:00.000Z",
      "2026-03-08T10:00:00.000Z",
    ]);
    const nights: WorkingHours = { ...UTC, startHour: 0, endHour: 24, workDays: [0, 1, 2, 3, 4, 5, 6] };
    expect(outsideWorkingHours(rows, nights)).toEqual([]);
    expect(isOutsideWorkingHours(rows[1]!, UTC)).toBe(false);
  });

  it("summarizes per user: accesses, distinct patients, emergency, outside hours, print or copy", () => {
    expect(perUser(rows, UTC)).toEqual([
      {
        userId: "alice",
        accesses: 3,
        patients: 3,
        emergency: 0,
        outsideHours: 1,
        printOrCopy: 1,
        byAction: { query: 2, print: 1 },
        first: Date.parse("2026-03-02T06:59:59Z"),
        last: Date.parse("2026-03-02T18:59:00Z"),
      },
      {
        userId: "bob",
        accesses: 2,
        patients: 1,
        emergency: 1,
        outsideHours: 1,
        printOrCopy: 1,
        byAction: { query: 1, copy: 1 },
        first: Date.parse("2026-03-02T19:00:00Z"),
        last: Date.parse("2026-03-03T12:00:00Z"),
      },
      {
        userId: "carol",
        accesses: 2,
        patients: 1,
        emergency: 1,
        outsideHours: 2,
        printOrCopy: 0,
        byAction: { query: 1, change: 1 },
        first: Date.parse("2026-03-07T12:00:00Z"),
        last: Date.parse("2026-03-08T10:00:00Z"),
      },
    ]);
  });

  it("lists emergency accesses, print and copy events, and refusals", () => {
    expect(emergencyAccesses(rows).map((r) => r.record.userId)).toEqual(["bob", "carol"]);
    expect(printAndCopy(rows).map((r) => r.record.action)).toEqual(["print", "copy"]);
    const notices = [
      { index: 1, kind: "query", time: "", requester: "", role: "", operation: "" },
      {
        index: 2,
        kind: "refusal",
        time: "",
        requester: "",
        role: "",
        operation: "",
        reason: "NOT_AUTHORIZED",
      },
    ] satisfies NoticeRow[];
    expect(refusals(notices).map((n) => n.index)).toEqual([2]);
  });

  it("names the patient of a notice where a granted patient's reply gave its tag, and only there", () => {
    const notice = (index: number, patientTag?: string): NoticeRow => ({
      index,
      kind: "refusal",
      time: "",
      requester: "",
      role: "",
      operation: "",
      ...(patientTag ? { patientTag } : {}),
    });
    const patients = [
      { patientId: "P1", tag: "aa" },
      { patientId: null, tag: "bb" }, // neither asked by ID nor named by a verified record
      { patientId: "P3", error: "refused" }, // no tag given
    ];
    const named = namePatients([notice(1, "aa"), notice(2, "bb"), notice(3, "cc"), notice(4)], patients);
    expect(named.map((n) => n.patientId)).toEqual(["P1", undefined, undefined, undefined]);
    expect(named[0]).toEqual({ ...notice(1, "aa"), patientId: "P1" });
  });

  it("flags users touching more than max(10, median + 3 x MAD) distinct patients", () => {
    const ward: AccessRow[] = [];
    // Twenty users each see 3-5 patients; one sees 40.
    for (let u = 0; u < 20; u++) {
      for (let p = 0; p < 3 + (u % 3); p++) ward.push(access("2026-03-02T09:00:00Z", `u${u}`, `P${u}-${p}`));
    }
    for (let p = 0; p < 40; p++) ward.push(access("2026-03-02T09:00:00Z", "snoop", `Q${p}`));
    const result = unusualUsers(ward);
    expect(result.median).toBe(4);
    expect(result.mad).toBe(1);
    expect(result.threshold).toBe(10); // median + 3 MAD = 7, below the floor of 10
    expect(result.users).toEqual([{ userId: "snoop", patients: 40 }]);
    // Where everyone sees many patients the floor is not the rule: the spread is.
    expect(unusualUsers(ward, 0).threshold).toBe(7);
    expect(unusualUsers([]).users).toEqual([]);
  });

  it("buckets by action over time: hours for a day, days for a week, weeks for a year", () => {
    expect(chooseUnit(3_600_000 * 24)).toBe("hour");
    expect(chooseUnit(3_600_000 * 24 * 30)).toBe("day");
    expect(chooseUnit(3_600_000 * 24 * 365)).toBe("week");
    const week = timeBuckets(rows, { zone: "utc" });
    expect(week.unit).toBe("day");
    expect(week.starts.map((s) => new Date(s).toISOString().slice(0, 10))).toEqual([
      "2026-03-02",
      "2026-03-03",
      "2026-03-04",
      "2026-03-05",
      "2026-03-06",
      "2026-03-07",
      "2026-03-08",
    ]);
    expect(week.series).toEqual({
      change: [0, 0, 0, 0, 0, 0, 1],
      query: [3, 0, 0, 0, 0, 1, 0],
      print: [1, 0, 0, 0, 0, 0, 0],
      copy: [0, 1, 0, 0, 0, 0, 0],
    });
    const hours = timeBuckets(rows.slice(0, 4), { zone: "utc" });
    expect(hours.unit).toBe("hour");
    expect(hours.starts).toHaveLength(14); // 06:00 .. 19:00
    expect(hours.series.query![0]).toBe(1);
    const weeks = timeBuckets(rows, { zone: "utc", unit: "week" });
    expect(weeks.starts.map((s) => new Date(s).toISOString())).toEqual(["2026-03-02T00:00:00.000Z"]);
    expect(toChartData(weeks)).toEqual([[Date.parse("2026-03-02T00:00:00Z") / 1000], [1], [4], [1], [1]]);
    expect(timeBuckets([]).starts).toEqual([]);
  });

  it("lays out one whole bar per day, the newest day included, with midnight ticks and whole counts", () => {
    const week = timeBuckets(rows, { zone: "utc" });
    const layout = chartLayout(week);
    expect(layout.centers).toHaveLength(7);
    week.starts.forEach((start, i) => {
      // Each bar stands in the middle of its own day, not in that day's first hours.
      expect(layout.centers[i]! * 1000).toBe(start + 12 * 3_600_000);
      expect(week.ends[i]).toBe(start + 24 * 3_600_000);
    });
    // The axis ends where the newest day ends: its bar (the change on 8 March) is inside the plot.
    expect(layout.range).toEqual([
      Date.parse("2026-03-02T00:00:00Z") / 1000,
      Date.parse("2026-03-09T00:00:00Z") / 1000,
    ]);
    expect(week.series.change![6]).toBe(1);
    expect(layout.centers[6]!).toBeLessThan(layout.range[1]);
    expect(layout.ticks.every((t) => new Date(t * 1000).toISOString().endsWith("T00:00:00.000Z"))).toBe(true);
    expect(layout.ticks.length).toBeLessThanOrEqual(8);
    expect(chartLayout(timeBuckets(rows, { zone: "utc", unit: "hour" }), 8).ticks.length).toBeLessThanOrEqual(
      8,
    );
    expect(COUNT_STEPS.every((step) => Number.isInteger(step) && step >= 1)).toBe(true);
    expect(chartLayout(timeBuckets([])).centers).toEqual([]);
  });

  it("sets a patient's own reads apart, keeping others' reads and every refusal first", () => {
    const self = "custos://stmary/patient/P1";
    const notice = (index: number, kind: NoticeRow["kind"], requester: string): NoticeRow => ({
      index,
      kind,
      time: new Date(Date.UTC(2026, 2, 2, 10, index)).toISOString(),
      requester,
      role: requester.split("/")[3] ?? "",
      operation: "read trail",
    });
    const rows = [
      notice(9, "query", self),
      notice(8, "query", "custos://stmary/auditor/acme"),
      notice(7, "refusal", self),
      notice(6, "query", self),
      notice(5, "refusal", "custos://stmary/auditor/northwind"),
    ];
    const { others, own } = splitOwnReads(rows, self);
    expect(others.map((r) => r.index)).toEqual([8, 7, 5]);
    expect(own.map((r) => r.index)).toEqual([9, 6]);
    expect(others.length + own.length).toBe(rows.length);
    expect(splitOwnReads([], self)).toEqual({ others: [], own: [] });
  });

  it("filters by time range, action, user, emergency and patient", () => {
    expect(filterAccesses(rows, { from: "2026-03-02T07:00:00Z", to: "2026-03-02T19:00:00Z" })).toHaveLength(
      2,
    );
    expect(filterAccesses(rows, { action: "copy" }).map((r) => r.record.userId)).toEqual(["bob"]);
    expect(filterAccesses(rows, { user: "carol", emergency: true })).toHaveLength(1);
    expect(filterAccesses(rows, { emergency: false })).toHaveLength(5);
    expect(filterAccesses(rows, { patientIds: ["P1", "P4"] })).toHaveLength(5);
    expect(filterChoices(rows)).toEqual({
      users: ["alice", "bob", "carol"],
      actions: ["change", "copy", "print", "query"],
      patients: ["P1", "P2", "P3", "P4"],
    });
  });

  it("summarizes 20,000 rows in well under a second", () => {
    const many: AccessRow[] = [];
    const base = Date.parse("2026-01-01T00:00:00Z");
    for (let i = 0; i < 20_000; i++) {
      const record = {
        time: new Date(base + i * 97_000).toISOString(),
        patientId: `P${i % 700}`,
        userId: `u${i % 90}`,
        action: (["query", "change", "print", "copy", "create", "delete"] as const)[i % 6],
        ...(i % 50 === 0 ? { emergency: true } : {}),
      } as AuditRecord;
      many.push({ index: i, patientId: record.patientId, record });
    }
    const started = performance.now();
    perUser(many);
    unusualUsers(many);
    outsideWorkingHours(many);
    timeBuckets(many);
    filterAccesses(many, { action: "print", from: "2026-01-05T00:00:00Z" });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
