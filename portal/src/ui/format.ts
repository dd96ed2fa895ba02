// How the page writes times and numbers: in the reader's own locale and time zone, with the exact
// ISO instant kept beside it (a <time datetime> or a title) so nothing is lost to rounding.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const number = new Intl.NumberFormat();

export function formatTime(time: string | number): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? String(time) : dateTime.format(date);
}

export function formatDate(time: number): string {
  return dateOnly.format(new Date(time));
}

export function formatCount(value: number): string {
  return number.format(value);
}

/** `<input type=datetime-local>` holds a local wall time; the filters take an ISO instant. */
export function localInputToIso(value: string): string | undefined {
  if (value === "") return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}
