// The page's calendar in the deployment's zone (days, working hours), its words for actions and
// purposes, the loose search and the deployment's settings as the page reads them.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSiteSettings, describeWorkingHours, listWords, siteOf } from "../../portal/src/lib/site.js";
import { filterAccesses, isOutsideWorkingHours, timeBuckets } from "../../portal/src/lib/summaries.js";
import type { AccessRow } from "../../portal/src/lib/types.js";
import { actionWords, purposeWords, whoOf } from "../../portal/src/lib/vocabulary.js";
import { toInstant, toWall, wallInputToIso, zoneOffset } from "../../portal/src/lib/zone.js";
import { type AuditRecord, parseAuditRecord } from "../../src/core/record/index.js";
import { ACTIONS } from "../../src/core/record/vocabulary.js";

let nextIndex = 0;
function access(time: string, fields: Partial<AuditRecord> & Record<string, unknown> = {}): AccessRow {
  const { userId = "dr.okafor", ...rest } = fields;
  const record = parseAuditRecord({ time, patientId: "P1", userId, action: "query", ...rest });
  return { index: nextIndex++, patientId: "P1", record };
}

/** The calendar day of an instant in a zone, by the platform's own Intl (independent of zone.ts). */
const dayIn = (zone: string, t: number) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date(t));

describe("calendar days in the deployment's zone", () => {
  it("puts each access in its day in Pacific/Auckland, whatever the process's own zone", () => {
    // 2026-12-06T11:30Z is already 7 December (00:30, UTC+13) in Auckland; 10:30Z is still the 6th.
    const rows = [
      access("2026-12-06T10:30:00Z"),
      access("2026-12-06T11:30:00Z"),
      access("2026-12-08T09:00:00Z"),
    ];
    const buckets = timeBuckets(rows, { zone: "Pacific/Auckland", unit: "day" });
    expect(buckets.starts.map((s) => dayIn("Pacific/Auckland", s))).toEqual([
      "2026-12-06",
      "2026-12-07",
      "2026-12-08",
    ]);
    expect(buckets.starts.map((s) => new Date(s).toISOString())).toEqual([
      "2026-12-05T11:00:00.000Z",
      "2026-12-06T11:00:00.000Z",
      "2026-12-07T11:00:00.000Z",
    ]);
    expect(buckets.series.query).toEqual([1, 1, 1]);
    // In UTC the first two share a day.
    expect(timeBuckets(rows, { zone: "utc", unit: "day" }).series.query).toEqual([2, 0, 1]);
  });

  it("starts every day bucket at the zone's midnight, across daylight-saving changes, for any instants", () => {
    const zones = [
      "Europe/Berlin",
      "America/New_York",
      "Pacific/Auckland",
      "Asia/Kolkata",
      "Australia/Lord_Howe",
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2027, 0, 1) }),
        fc.array(fc.integer({ min: 0, max: 90 * 86_400_000 }), { minLength: 1, maxLength: 40 }),
        (zone, base, offsets) => {
          const instants = offsets.map((o) => base + o);
          const rows = instants.map((t) => access(new Date(t).toISOString()));
          const buckets = timeBuckets(rows, { zone, unit: "day" });
          for (const [i, start] of buckets.starts.entries()) {
            const wall = new Date(toWall(zone, start));
            expect([wall.getUTCHours(), wall.getUTCMinutes()]).toEqual([0, 0]);
            expect(dayIn(zone, buckets.ends[i]! - 1)).toBe(dayIn(zone, start));
            expect(dayIn(zone, buckets.ends[i]!)).not.toBe(dayIn(zone, start));
          }
          // Every access counted once, in the bucket of its own day.
          const total = Object.values(buckets.series)
            .flat()
            .reduce((a, b) => a + b, 0);
          expect(total).toBe(instants.length);
          for (const t of instants) {
            const i = buckets.starts.findIndex((s, k) => s <= t && t < buckets.ends[k]!);
            expect(dayIn(zone, buckets.starts[i]!)).toBe(dayIn(zone, t));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("judges working hours on the deployment's clock", () => {
    // Monday 7 December 2026, 20:00Z is Tuesday 09:00 in Auckland (working) and Monday 21:00 in Berlin.
    const row = access("2026-12-07T20:00:00Z");
    const hours = { startHour: 8, endHour: 18, workDays: [1, 2, 3, 4, 5] };
    expect(isOutsideWorkingHours(row, { ...hours, zone: "Pacific/Auckland" })).toBe(false);
    expect(isOutsideWorkingHours(row, { ...hours, zone: "Europe/Berlin" })).toBe(true);
    expect(isOutsideWorkingHours(row, { ...hours, startMinute: 30, zone: "Pacific/Auckland" })).toBe(false);
    expect(
      isOutsideWorkingHours(access("2026-12-07T19:15:00Z"), {
        ...hours,
        startHour: 8,
        startMinute: 30,
        zone: "Pacific/Auckland",
      }),
    ).toBe(true);
  });

  it("reads a filter's wall time in the deployment's zone, and converts wall times both ways", () => {
    expect(wallInputToIso("Europe/Berlin", "2026-07-01T09:00")).toBe("2026-07-01T07:00:00.000Z");
    expect(wallInputToIso("Pacific/Auckland", "2026-12-07T00:00")).toBe("2026-12-06T11:00:00.000Z");
    expect(wallInputToIso("UTC", "not a time")).toBeUndefined();
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }), (t) => {
        for (const zone of ["Europe/Berlin", "America/Sao_Paulo", "UTC"]) {
          expect(toInstant(zone, toWall(zone, t))).toBeLessThanOrEqual(t);
          expect(toWall(zone, toInstant(zone, toWall(zone, t)))).toBe(toWall(zone, t));
        }
        expect(zoneOffset("UTC", t)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe("the page's words", () => {
  it("has a phrase for every action and marks research and payment", () => {
    for (const action of ACTIONS) expect(actionWords(action).patient).toMatch(/your record/);
    expect(actionWords("query").patient).toBe("viewed your record");
    expect(purposeWords("TREAT")?.phrase).toBe("your treatment");
    expect(purposeWords("hresch")?.kind).toBe("research");
    expect(purposeWords("CLINTRCH")?.kind).toBe("research");
    expect(purposeWords("HPAYMT")?.kind).toBe("payment");
    expect(purposeWords("ETREAT")?.kind).toBe("care");
    expect(purposeWords("NEWCODE")?.sentence).toContain("NEWCODE");
    expect(purposeWords(undefined)).toBeUndefined();
  });

  it("names the professional where the record does, and falls back to the user ID", () => {
    const bare = access("2026-12-07T10:00:00Z");
    expect(whoOf(bare)).toEqual({
      name: "dr.okafor",
      userId: "dr.okafor",
      named: false,
      fromDirectory: false,
    });
    const named: AccessRow = {
      ...bare,
      record: {
        ...bare.record,
        userName: "Dr Ngozi Okafor",
        userRole: "Cardiologist",
        department: "Cardiology",
      },
    };
    expect(whoOf(named)).toEqual({
      name: "Dr Ngozi Okafor",
      userId: "dr.okafor",
      named: true,
      fromDirectory: false,
      role: "Cardiologist",
      department: "Cardiology",
    });
    // A record naming no one takes the staff directory's entry; the record's own words win over it.
    const staff = { name: "Dr Amara Okafor", role: "Attending physician", department: "Cardiology" };
    expect(whoOf({ ...bare, staff })).toEqual({
      name: "Dr Amara Okafor",
      userId: "dr.okafor",
      named: true,
      fromDirectory: true,
      role: "Attending physician",
      department: "Cardiology",
    });
    expect(whoOf({ ...named, staff })).toMatchObject({ name: "Dr Ngozi Okafor", fromDirectory: false });
  });

  it("searches names, IDs, roles and source systems loosely, in any case", () => {
    const a = access("2026-12-07T10:00:00Z", { userId: "dr.okafor", sourceSystem: "Epic EHR" });
    const b = access("2026-12-07T11:00:00Z", { userId: "billing.novak" });
    const c: AccessRow = {
      ...access("2026-12-07T12:00:00Z", { userId: "u123" }),
    };
    const cNamed: AccessRow = {
      ...c,
      record: { ...c.record, userName: "Nurse Jo OKAFOR-Smith" },
    };
    const rows = [a, b, cNamed];
    expect(filterAccesses(rows, { user: "okafor" }).map((r) => r.index)).toEqual([a.index, cNamed.index]);
    expect(filterAccesses(rows, { user: "NOVAK" }).map((r) => r.index)).toEqual([b.index]);
    expect(filterAccesses(rows, { user: "epic" }).map((r) => r.index)).toEqual([a.index]);
    expect(filterAccesses(rows, { user: "  " })).toHaveLength(3);
  });
});

describe("the deployment's settings in the page", () => {
  it("falls back to the deployment's name, UTC and weekday hours, and names witnesses by key name or URL", () => {
    const bare = siteOf({ deployment: "stmary" });
    expect(bare.hospital).toBe("stmary");
    expect(bare.timeZone).toBe("UTC");
    expect(describeWorkingHours(bare.workingHours)).toBe("Monday to Friday, 07:00 to 19:00 (UTC time)");
    expect(bare.witnessName("witness.acme.example+1234abcd+AAAA")).toBe("witness.acme.example");
    const site = siteOf({
      deployment: "stmary",
      site: checkSiteSettings({
        hospital: "St Mary's Hospital",
        timeZone: "Europe/Berlin",
        workingHours: { start: "08:30", end: "17:00", days: ["mon", "wed", "fri"] },
        privacyContact: { name: "Privacy Office", email: "privacy@stmary.example", url: "http://insecure" },
        witnesses: {
          "witness.acme.example+1234abcd+AAAA": "Acme Audit",
          "https://w.example:9443": "Northwind",
        },
        extra: "dropped",
      }),
    });
    expect(site.hospital).toBe("St Mary's Hospital");
    expect(site.privacyContact).toEqual({ name: "Privacy Office", email: "privacy@stmary.example" });
    expect(describeWorkingHours(site.workingHours)).toBe(
      "Monday, Wednesday, Friday, 08:30 to 17:00 (Europe/Berlin time)",
    );
    expect(site.witnessName("witness.acme.example")).toBe("Acme Audit");
    expect(site.witnessName("https://w.example:9443")).toBe("Northwind");
    expect(listWords(["Acme Audit", "Northwind", "Contoso"])).toBe("Acme Audit, Northwind and Contoso");
    // A zone this browser does not know is not used.
    expect(siteOf({ deployment: "x", site: { timeZone: "Mars/Base" } }).timeZone).toBe("UTC");
  });
});
