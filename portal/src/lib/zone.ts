// Calendar arithmetic in one named time zone (the deployment's, from its settings), whatever the
// browser's own zone is: two people reading the same trail get the same days and the same "outside
// working hours". A wall time is kept as ms since the epoch of that wall clock read as if UTC, so the
// Date UTC getters and setters do the calendar work; `toInstant` turns it back.

/** "local" (the browser's zone), "utc", or an IANA zone name such as "Europe/Berlin". */
export type Zone = string;

const QUARTER_HOUR = 900_000;
const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, Map<number, number>>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

function ianaOffset(zone: string, t: number): number {
  // Offsets change on whole quarter hours at most: one look-up per zone and quarter hour.
  let cache = offsets.get(zone);
  if (cache === undefined) {
    cache = new Map();
    offsets.set(zone, cache);
  }
  const slot = Math.floor(t / QUARTER_HOUR);
  let offset = cache.get(slot);
  if (offset === undefined) {
    const parts: Record<string, number> = {};
    for (const part of formatter(zone).formatToParts(new Date(slot * QUARTER_HOUR))) {
      if (part.type !== "literal") parts[part.type] = Number(part.value);
    }
    const wall = Date.UTC(
      parts.year!,
      parts.month! - 1,
      parts.day!,
      parts.hour! % 24,
      parts.minute!,
      parts.second!,
    );
    offset = wall - slot * QUARTER_HOUR;
    if (cache.size > 100_000) cache.clear();
    cache.set(slot, offset);
  }
  return offset;
}

/** The zone's offset from UTC at instant t, in ms (east positive). */
export function zoneOffset(zone: Zone, t: number): number {
  if (zone === "utc" || zone === "UTC") return 0;
  if (zone === "local") return -new Date(t).getTimezoneOffset() * 60_000;
  return ianaOffset(zone, t);
}

/** The wall clock in `zone` at instant t, as a UTC-read timestamp. */
export function toWall(zone: Zone, t: number): number {
  return t + zoneOffset(zone, t);
}

/**
 * The instant a wall time in `zone` names: the earlier one in an hour the clock repeats, and for a
 * time the clock skips (a daylight-saving gap) the instant just as far past the gap.
 */
export function toInstant(zone: Zone, wall: number): number {
  // Offsets in force within a day either side; zones change offset at most every few weeks.
  const offsetsNear = new Set([
    zoneOffset(zone, wall - DAY),
    zoneOffset(zone, wall),
    zoneOffset(zone, wall + DAY),
  ]);
  const candidates = [...offsetsNear].map((offset) => wall - offset);
  const exact = candidates.filter((t) => toWall(zone, t) === wall);
  return exact.length > 0 ? Math.min(...exact) : Math.max(...candidates);
}

/** True when this runtime knows the zone. */
export function isKnownZone(zone: string): boolean {
  if (zone === "local" || zone === "utc") return true;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** `YYYY-MM-DDTHH:mm` (an `<input type=datetime-local>`'s value) read in `zone`, as an ISO instant. */
export function wallInputToIso(zone: Zone, value: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return undefined;
  const wall = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6] ?? 0),
  );
  return Number.isNaN(wall) ? undefined : new Date(toInstant(zone, wall)).toISOString();
}
