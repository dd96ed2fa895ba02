// How the page writes times and numbers: in the reader's own language, but every time in the
// deployment's time zone (its settings; UTC without them) and with the zone written beside it, so two
// people reading the same trail see the same days. The exact ISO instant stays beside each time (a
// <time datetime> or a title). One date format for tables, chart and summaries alike.

import { wallInputToIso } from "../lib/zone.js";

const number = new Intl.NumberFormat();
let zone = "UTC";
let dateTime = make(zone);

function make(timeZone: string) {
  return {
    dateTime: new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone }),
    dateOnly: new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone }),
    zoneName: new Intl.DateTimeFormat(undefined, { timeZone, timeZoneName: "short" }),
  };
}

/** Every time the page writes from now on is in this IANA zone (set once the settings are known). */
export function setDisplayZone(timeZone: string): void {
  if (timeZone === zone) return;
  zone = timeZone;
  dateTime = make(timeZone);
}

export function displayZone(): string {
  return zone;
}

/** The zone's short name at that instant ("CET", "GMT+1", "UTC"). */
export function zoneAbbreviation(time: number): string {
  const part = dateTime.zoneName.formatToParts(new Date(time)).find((p) => p.type === "timeZoneName");
  return part?.value ?? zone;
}

/** "7 Dec 2026, 14:05 CET": date, time and the zone. */
export function formatTime(time: string | number): string {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return String(time);
  return `${dateTime.dateTime.format(date)} ${zoneAbbreviation(date.getTime())}`;
}

export function formatDate(time: number): string {
  return dateTime.dateOnly.format(new Date(time));
}

export function formatCount(value: number): string {
  return number.format(value);
}

/** `<input type=datetime-local>` holds a wall time, read in the display zone; the filters take an ISO instant. */
export function localInputToIso(value: string): string | undefined {
  if (value === "") return undefined;
  return wallInputToIso(zone, value);
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}
