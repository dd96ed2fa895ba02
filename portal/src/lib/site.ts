// The deployment's settings as the page uses them, with the fallbacks stated: the hospital's name (the
// deployment's name), the time zone every time is shown and judged in (UTC), working hours (Monday to
// Friday, 07:00-19:00), the privacy contact (none) and each witness's organisation (its key name).

import { DEFAULT_WORKING_HOURS, type WorkingHours } from "./summaries.js";
import type { PortalConfig, SiteSettings } from "./types.js";
import { isKnownZone } from "./zone.js";

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

export interface Site {
  readonly hospital: string;
  /** An IANA zone this browser knows. */
  readonly timeZone: string;
  /** Whether the zone came from the deployment's settings (otherwise UTC by default). */
  readonly zoneConfigured: boolean;
  readonly workingHours: WorkingHours;
  readonly privacyContact?: NonNullable<SiteSettings["privacyContact"]>;
  /** The organisation behind a witness, by its key name or URL; the key name when not configured. */
  witnessName(keyNameOrUrl: string): string;
}

function hhmm(value: string): { hour: number; minute: number } | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(value);
  return m ? { hour: Number(m[1]), minute: Number(m[2]) } : undefined;
}

/** The key name of a C2SP verifier key ("name+hash+key"), or the text as given. */
export function keyName(verifierKeyOrName: string): string {
  return verifierKeyOrName.split("+")[0] ?? verifierKeyOrName;
}

export function siteOf(config: Pick<PortalConfig, "deployment" | "site">): Site {
  const site = config.site ?? {};
  const zoneConfigured = site.timeZone !== undefined && isKnownZone(site.timeZone);
  const timeZone = zoneConfigured ? site.timeZone! : "UTC";
  const start = site.workingHours ? hhmm(site.workingHours.start) : undefined;
  const end = site.workingHours ? hhmm(site.workingHours.end) : undefined;
  const days = site.workingHours?.days.map((d) => DAYS.indexOf(d)).filter((d) => d >= 0);
  const workingHours: WorkingHours =
    start && end && days && days.length > 0
      ? {
          startHour: start.hour,
          startMinute: start.minute,
          endHour: end.hour,
          endMinute: end.minute,
          workDays: days,
          zone: timeZone,
        }
      : { ...DEFAULT_WORKING_HOURS, zone: timeZone };
  const names = new Map<string, string>();
  for (const [key, name] of Object.entries(site.witnesses ?? {})) {
    names.set(key, name);
    names.set(keyName(key), name);
  }
  return {
    hospital: site.hospital ?? config.deployment,
    timeZone,
    zoneConfigured,
    workingHours,
    ...(site.privacyContact ? { privacyContact: site.privacyContact } : {}),
    witnessName: (key) =>
      names.get(key) ?? names.get(keyName(key)) ?? names.get(key.replace(/\/+$/, "")) ?? keyName(key),
  };
}

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** "Monday to Friday, 07:00 to 19:00 (Europe/Berlin time)". */
export function describeWorkingHours(hours: WorkingHours): string {
  const days = [...hours.workDays].sort((a, b) => a - b);
  const run = days.every((d, i) => i === 0 || d === days[i - 1]! + 1);
  const dayText =
    days.length > 2 && run
      ? `${DAY_NAMES[days[0]!]} to ${DAY_NAMES[days[days.length - 1]!]}`
      : days.map((d) => DAY_NAMES[d]).join(", ");
  const t = (h: number, m = 0) => `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
  const zone = hours.zone === "local" ? "this browser's time zone" : `${hours.zone} time`;
  return `${dayText}, ${t(hours.startHour, hours.startMinute)} to ${t(hours.endHour, hours.endMinute)} (${zone})`;
}

/** "Acme Audit and Northwind Assurance", "A, B and C". */
export function listWords(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

const text = (value: unknown, max: number): string | undefined =>
  typeof value === "string" && value.trim() !== "" && value.length <= max ? value : undefined;

/** Keeps only well-formed settings from the node's reply (each field checked; anything else dropped). */
export function checkSiteSettings(value: unknown): SiteSettings {
  if (typeof value !== "object" || value === null) return {};
  const v = value as Record<string, unknown>;
  const hospital = text(v.hospital, 120);
  const timeZone = text(v.timeZone, 64);
  const hours = v.workingHours as { start?: unknown; end?: unknown; days?: unknown } | undefined;
  const start = text(hours?.start, 5);
  const end = text(hours?.end, 5);
  const days = Array.isArray(hours?.days)
    ? hours.days.filter((d): d is string => DAYS.includes(d as string))
    : [];
  const contact = v.privacyContact as Record<string, unknown> | undefined;
  const contactName = text(contact?.name, 120);
  const email = text(contact?.email, 254);
  const phone = text(contact?.phone, 40);
  const url = text(contact?.url, 500);
  const witnesses: Record<string, string> = {};
  if (typeof v.witnesses === "object" && v.witnesses !== null) {
    for (const [key, name] of Object.entries(v.witnesses as Record<string, unknown>).slice(0, 64)) {
      const checked = text(name, 120);
      if (checked && key.length <= 500) witnesses[key] = checked;
    }
  }
  return {
    ...(hospital ? { hospital } : {}),
    ...(timeZone ? { timeZone } : {}),
    ...(start && end && days.length > 0 ? { workingHours: { start, end, days } } : {}),
    ...(contactName
      ? {
          privacyContact: {
            name: contactName,
            ...(email ? { email } : {}),
            ...(phone ? { phone } : {}),
            ...(url?.startsWith("https://") ? { url } : {}),
          },
        }
      : {}),
    ...(Object.keys(witnesses).length > 0 ? { witnesses } : {}),
  };
}
