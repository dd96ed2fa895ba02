// What an auditor looks for in decrypted, verified accesses, as pure functions over rows: per-user
// counts, accesses outside working hours, emergency (break-the-glass) accesses, users touching
// unusually many patients, print and copy events, and counts over time by action for a chart. Each
// is one pass (or a sort) over the rows, so 10,000+ rows summarize in milliseconds. The filters the
// views apply live here too.

import { ACTIONS } from "../../../src/core/record/vocabulary.js";
import type { AccessFilter, AccessRow, GrantedPatient, NoticeRow } from "./types.js";
import { searchText, whoOf } from "./vocabulary.js";
import { toInstant, toWall, type Zone } from "./zone.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Time stamps are parsed once per row and remembered (rows are immutable). */
const times = new WeakMap<AccessRow, number>();
export function timeOf(row: AccessRow): number {
  let t = times.get(row);
  if (t === undefined) {
    t = Date.parse(row.record.time);
    times.set(row, t);
  }
  return t;
}

function patientOf(row: AccessRow): string {
  return row.patientId ?? row.record.patientId;
}

// ---------------------------------------------------------------------------------------------------
// Filters

/**
 * Rows matching every condition of the filter (time range: from inclusive, to exclusive). `user` is a
 * loose search: any part of the person's name, ID, role or department, the source system or the
 * patient, in any case ("okafor" finds dr.okafor and "Dr Ngozi Okafor").
 */
export function filterAccesses(rows: readonly AccessRow[], filter: AccessFilter = {}): AccessRow[] {
  const from = filter.from !== undefined ? Date.parse(filter.from) : Number.NEGATIVE_INFINITY;
  const to = filter.to !== undefined ? Date.parse(filter.to) : Number.POSITIVE_INFINITY;
  const patients = filter.patientIds ? new Set(filter.patientIds) : undefined;
  const search = filter.user?.trim().toLowerCase();
  return rows.filter((row) => {
    const t = timeOf(row);
    if (t < from || t >= to) return false;
    if (filter.action !== undefined && row.record.action !== filter.action) return false;
    if (search && !searchText(row).includes(search)) return false;
    if (filter.emergency !== undefined && (row.record.emergency === true) !== filter.emergency) return false;
    if (patients && !patients.has(patientOf(row))) return false;
    return true;
  });
}

/** The values the filter controls offer, sorted (users: their IDs and display names). */
export function filterChoices(rows: readonly AccessRow[]): {
  users: string[];
  actions: string[];
  patients: string[];
} {
  const users = new Set<string>();
  const actions = new Set<string>();
  const patients = new Set<string>();
  for (const row of rows) {
    users.add(row.record.userId);
    const who = whoOf(row);
    if (who.named) users.add(who.name);
    actions.add(row.record.action);
    patients.add(patientOf(row));
  }
  return { users: [...users].sort(), actions: [...actions].sort(), patients: [...patients].sort() };
}

/** The time range rows span (ms), or undefined for no rows. */
export function timeRange(rows: readonly AccessRow[]): { from: number; to: number } | undefined {
  if (rows.length === 0) return undefined;
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const row of rows) {
    const t = timeOf(row);
    if (t < from) from = t;
    if (t > to) to = t;
  }
  return { from, to };
}

// ---------------------------------------------------------------------------------------------------
// Working hours

export interface WorkingHours {
  /** First hour of the working day (0-23), inclusive. Default 7. */
  readonly startHour: number;
  /** Hour the working day ends (1-24), exclusive. Default 19. */
  readonly endHour: number;
  /** Working days, 0 = Sunday ... 6 = Saturday. Default Monday to Friday. */
  readonly workDays: readonly number[];
  /** Whose clock: "local" (the browser's), "utc" or an IANA zone (the deployment's, from its settings). */
  readonly zone: Zone;
  /** Minutes past the hour the day starts and ends (for 07:30-18:45); default 0. */
  readonly startMinute?: number;
  readonly endMinute?: number;
}

export const DEFAULT_WORKING_HOURS: WorkingHours = {
  startHour: 7,
  endHour: 19,
  workDays: [1, 2, 3, 4, 5],
  zone: "local",
};

/** True when the access falls outside working hours (any time on a day that is not a work day). */
export function isOutsideWorkingHours(row: AccessRow, hours: WorkingHours = DEFAULT_WORKING_HOURS): boolean {
  const wall = new Date(toWall(hours.zone, timeOf(row)));
  if (!hours.workDays.includes(wall.getUTCDay())) return true;
  const minute = wall.getUTCHours() * 60 + wall.getUTCMinutes();
  const start = hours.startHour * 60 + (hours.startMinute ?? 0);
  const end = hours.endHour * 60 + (hours.endMinute ?? 0);
  return minute < start || minute >= end;
}

export function outsideWorkingHours(
  rows: readonly AccessRow[],
  hours: WorkingHours = DEFAULT_WORKING_HOURS,
): AccessRow[] {
  return rows.filter((row) => isOutsideWorkingHours(row, hours));
}

export function emergencyAccesses(rows: readonly AccessRow[]): AccessRow[] {
  return rows.filter((row) => row.record.emergency === true);
}

/** Printing and copying take data out of the record system: listed on their own. */
export function printAndCopy(rows: readonly AccessRow[]): AccessRow[] {
  return rows.filter((row) => row.record.action === "print" || row.record.action === "copy");
}

export function refusals(notices: readonly NoticeRow[]): NoticeRow[] {
  return notices.filter((notice) => notice.kind === "refusal");
}

/**
 * An audit company's notices with the patient named where it may: a notice is filed under its
 * patient's tag, and the patients' replies say which granted patient goes by which tag (named by the
 * node when asked by ID, else by that patient's own verified records). A tag no reply names stays
 * unnamed.
 */
export function namePatients(
  notices: readonly NoticeRow[],
  patients: readonly GrantedPatient[],
): NoticeRow[] {
  const byTag = new Map<string, string>();
  for (const p of patients) if (p.tag !== undefined && p.patientId !== null) byTag.set(p.tag, p.patientId);
  return notices.map((notice) => {
    const patientId = notice.patientTag === undefined ? undefined : byTag.get(notice.patientTag);
    return patientId === undefined ? notice : { ...notice, patientId };
  });
}

// ---------------------------------------------------------------------------------------------------
// Per user

export interface UserSummary {
  readonly userId: string;
  readonly accesses: number;
  /** Distinct patients this user accessed. */
  readonly patients: number;
  readonly emergency: number;
  readonly outsideHours: number;
  readonly printOrCopy: number;
  readonly byAction: Readonly<Record<string, number>>;
  /** ms since the epoch */
  readonly first: number;
  readonly last: number;
}

/** One line per user, most accesses first (then by user ID). */
export function perUser(
  rows: readonly AccessRow[],
  hours: WorkingHours = DEFAULT_WORKING_HOURS,
): UserSummary[] {
  const users = new Map<
    string,
    {
      accesses: number;
      patients: Set<string>;
      emergency: number;
      outsideHours: number;
      printOrCopy: number;
      byAction: Record<string, number>;
      first: number;
      last: number;
    }
  >();
  for (const row of rows) {
    const { userId, action, emergency } = row.record;
    let user = users.get(userId);
    if (!user) {
      user = {
        accesses: 0,
        patients: new Set(),
        emergency: 0,
        outsideHours: 0,
        printOrCopy: 0,
        byAction: {},
        first: Number.POSITIVE_INFINITY,
        last: Number.NEGATIVE_INFINITY,
      };
      users.set(userId, user);
    }
    const t = timeOf(row);
    user.accesses++;
    user.patients.add(patientOf(row));
    if (emergency === true) user.emergency++;
    if (isOutsideWorkingHours(row, hours)) user.outsideHours++;
    if (action === "print" || action === "copy") user.printOrCopy++;
    user.byAction[action] = (user.byAction[action] ?? 0) + 1;
    if (t < user.first) user.first = t;
    if (t > user.last) user.last = t;
  }
  return [...users]
    .map(([userId, u]) => ({ ...u, userId, patients: u.patients.size }))
    .sort((a, b) => b.accesses - a.accesses || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface UnusualUsers {
  /** Users above the threshold, most patients first. */
  readonly users: { readonly userId: string; readonly patients: number }[];
  readonly threshold: number;
  readonly median: number;
  /** Median absolute deviation of distinct-patient counts (unscaled). */
  readonly mad: number;
}

/**
 * Users touching unusually many patients. The rule, robust to the outliers it looks for: a user is
 * flagged when their distinct-patient count exceeds max(minimum, median + 3 x MAD), where median and
 * MAD (median absolute deviation, unscaled) are over all users in the rows. The floor (default 10)
 * keeps small wards, where everyone sees a handful of patients, from flagging anyone.
 */
export function unusualUsers(rows: readonly AccessRow[], minimum = 10): UnusualUsers {
  const perUserPatients = new Map<string, Set<string>>();
  for (const row of rows) {
    let set = perUserPatients.get(row.record.userId);
    if (!set) {
      set = new Set();
      perUserPatients.set(row.record.userId, set);
    }
    set.add(patientOf(row));
  }
  const counts = [...perUserPatients.values()].map((s) => s.size).sort((a, b) => a - b);
  const med = median(counts);
  const mad = median(counts.map((c) => Math.abs(c - med)).sort((a, b) => a - b));
  const threshold = Math.max(minimum, med + 3 * mad);
  const users = [...perUserPatients]
    .map(([userId, set]) => ({ userId, patients: set.size }))
    .filter((u) => u.patients > threshold)
    .sort((a, b) => b.patients - a.patients || (a.userId < b.userId ? -1 : 1));
  return { users, threshold, median: med, mad };
}

// ---------------------------------------------------------------------------------------------------
// Counts over time

export type BucketUnit = "hour" | "day" | "week" | "month";

export interface TimeBuckets {
  readonly unit: BucketUnit;
  /** Start of each bucket (ms since the epoch), ascending, with no gaps. */
  readonly starts: number[];
  /** End of each bucket (the next one's start; a calendar day may be 23 or 25 hours long). */
  readonly ends: number[];
  /** Count per bucket for each action that occurs (same length as starts). */
  readonly series: Record<string, number[]>;
}

/** Few enough buckets for a readable chart: hours up to 3 days, days up to 6 months, then weeks. */
export function chooseUnit(span: number): BucketUnit {
  if (span <= 3 * DAY) return "hour";
  if (span <= 183 * DAY) return "day";
  if (span <= 10 * 366 * DAY) return "week";
  return "month";
}

function bucketStart(t: number, unit: BucketUnit, zone: Zone): number {
  if (unit === "hour") {
    // Whole hours of the zone's clock (an offset of :30 or :45 moves the hour's start too).
    const wall = toWall(zone, t);
    return t - (wall - Math.floor(wall / HOUR) * HOUR);
  }
  const d = new Date(toWall(zone, t));
  d.setUTCHours(0, 0, 0, 0);
  if (unit === "week") {
    // Weeks start on Monday (ISO 8601).
    d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  } else if (unit === "month") {
    d.setUTCDate(1);
  }
  return toInstant(zone, d.getTime());
}

function nextStart(start: number, unit: BucketUnit, zone: Zone): number {
  if (unit === "hour") return start + HOUR;
  const d = new Date(toWall(zone, start));
  if (unit === "day") d.setUTCDate(d.getUTCDate() + 1);
  else if (unit === "week") d.setUTCDate(d.getUTCDate() + 7);
  else d.setUTCMonth(d.getUTCMonth() + 1);
  return toInstant(zone, d.getTime());
}

/**
 * Counts by action per hour, day, week (or month, for spans over ten years), chosen from the range
 * (the rows' own unless given). Buckets follow calendar boundaries in the chosen zone, so days start at
 * midnight even across a daylight-saving change.
 */
export function timeBuckets(
  rows: readonly AccessRow[],
  options: { from?: number; to?: number; unit?: BucketUnit; zone?: Zone } = {},
): TimeBuckets {
  const zone = options.zone ?? "local";
  const range = timeRange(rows);
  const from = options.from ?? range?.from;
  const to = options.to ?? range?.to;
  if (from === undefined || to === undefined || to < from)
    return { unit: options.unit ?? "hour", starts: [], ends: [], series: {} };
  const unit = options.unit ?? chooseUnit(to - from);
  const starts: number[] = [];
  const ends: number[] = [];
  for (
    let s = bucketStart(from, unit, zone);
    s <= to && starts.length < 100_000;
    s = nextStart(s, unit, zone)
  ) {
    starts.push(s);
    ends.push(nextStart(s, unit, zone));
  }
  const present = new Set<string>(rows.map((row) => row.record.action));
  const series: Record<string, number[]> = {};
  for (const action of ACTIONS) {
    if (present.has(action)) series[action] = new Array<number>(starts.length).fill(0);
  }
  for (const row of rows) {
    const t = timeOf(row);
    if (t < from || t > to) continue;
    // Buckets are sorted and contiguous: find this one by bisection (no calendar work per row).
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    const i = starts[lo]! <= t && t < ends[lo]! ? lo : undefined;
    const counts = series[row.record.action];
    if (i !== undefined && counts) counts[i] = (counts[i] ?? 0) + 1;
  }
  return { unit, starts, ends, series };
}

/** Where the chart puts its bars and ticks, in uPlot's seconds. */
export interface ChartLayout {
  /** Each bucket's bar at the middle of its own bucket. */
  readonly centers: number[];
  /** The x axis spans every bucket whole: the first one's start to the newest one's end. */
  readonly range: readonly [number, number];
  /** Ticks on bucket starts (every nth, at most `maxTicks`), so a day's tick is its midnight. */
  readonly ticks: number[];
}

export function chartLayout(buckets: TimeBuckets, maxTicks = 8): ChartLayout {
  const { starts, ends } = buckets;
  if (starts.length === 0) return { centers: [], range: [0, 1], ticks: [] };
  const centers = starts.map((start, i) => (start + ends[i]!) / 2000);
  const every = Math.max(1, Math.ceil(starts.length / maxTicks));
  const ticks = starts.filter((_, i) => i % every === 0).map((start) => start / 1000);
  return { centers, range: [starts[0]! / 1000, ends[ends.length - 1]! / 1000], ticks };
}

/** Axis steps for counts: whole accesses only (never 0.2 of one). */
export const COUNT_STEPS: readonly number[] = Array.from({ length: 10 }, (_, i) => 10 ** i).flatMap((p) => [
  p,
  2 * p,
  5 * p,
]);

/** uPlot's data layout: x in seconds, then one array per series (in `Object.keys(series)` order). */
export function toChartData(buckets: TimeBuckets): number[][] {
  return [buckets.starts.map((s) => s / 1000), ...Object.values(buckets.series)];
}

/** A patient's trail history with their own reads set apart: what others did comes first. */
export interface TrailHistory {
  /** Reads by anyone else and every refusal (the patient's own included), newest first. */
  readonly others: NoticeRow[];
  /** The patient's own reads of their trail, newest first. */
  readonly own: NoticeRow[];
}

/**
 * Splits "who looked at my trail" into the reads that matter to a patient (anyone else's, and every
 * refused request) and their own visits, which the page collapses into one line.
 */
export function splitOwnReads(rows: readonly NoticeRow[], self: string): TrailHistory {
  const others: NoticeRow[] = [];
  const own: NoticeRow[] = [];
  for (const row of rows) (row.kind === "query" && row.requester === self ? own : others).push(row);
  return { others, own };
}
