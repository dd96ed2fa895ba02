// What the portal tells people about the deployment that runs it, kept in the data directory as
// DIR/portal.json (docs/portal.md, "The deployment's settings for the page"): the hospital's name,
// its time zone (IANA) and working hours, whom to contact about privacy, and the organisation behind
// each witness. None of it is secret and none of it is trusted for verification: the page shows it
// beside what it verified. Without the file the page falls back to the deployment's name, UTC and
// Monday to Friday 07:00-19:00.

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CustosError } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";

export const PORTAL_SETTINGS_FILE_NAME = "portal.json";

export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

const HH_MM = /^([01]\d|2[0-4]):([0-5]\d)$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const PLAIN = /^[^\u0000-\u001f\u007f]*$/;
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { error: "must not be empty" })
    .max(max, { error: `must be at most ${max} characters` })
    .regex(PLAIN, { error: "must not contain control characters" });

/** True for a time zone this runtime knows by its IANA name ("Europe/Berlin", "UTC"). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function minutes(value: string): number {
  const m = HH_MM.exec(value);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
}

export const PortalSettingsSchema = z
  .object({
    hospital: text(120).optional(),
    timeZone: z
      .string()
      .refine(isTimeZone, { error: 'must be an IANA time zone name such as "Europe/Berlin" or "UTC"' })
      .optional(),
    workingHours: z
      .object({
        start: z.string().regex(HH_MM, { error: 'must be a time such as "07:00"' }),
        end: z.string().regex(HH_MM, { error: 'must be a time such as "19:00" (24:00 for midnight)' }),
        days: z
          .array(z.enum(WEEKDAYS, { error: `expected one of ${WEEKDAYS.join(", ")}` }))
          .min(1, { error: "must name at least one day" })
          .max(7),
      })
      .strict()
      .refine((h) => minutes(h.start) < minutes(h.end), { error: "start must be before end" })
      .optional(),
    privacyContact: z
      .object({
        name: text(120),
        email: z.email({ error: "must be an email address" }).max(254).optional(),
        phone: text(40).optional(),
        url: z
          .url({ protocol: /^https$/, error: "must be an https:// address" })
          .max(500)
          .optional(),
      })
      .strict()
      .optional(),
    witnesses: z
      .record(text(500), text(120))
      .refine((w) => Object.keys(w).length <= 64, { error: "at most 64 witnesses" })
      .optional(),
  })
  .strict();

export type PortalSettings = z.output<typeof PortalSettingsSchema>;

/** Validates settings from the file or the command line; CONFIG errors name the setting. */
export function parsePortalSettings(value: unknown): PortalSettings {
  const parsed = PortalSettingsSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length > 0 ? `"${issue.path.map(String).join(".")}" ` : "";
  const what =
    issue.code === "unrecognized_keys" ? `unknown setting "${issue.keys[0]}"` : `${where}${issue.message}`;
  throw new CustosError("CONFIG", `${PORTAL_SETTINGS_FILE_NAME}: ${what}`);
}

export function portalSettingsPath(dir: string): string {
  return join(dir, PORTAL_SETTINGS_FILE_NAME);
}

/** The settings in DIR/portal.json, or none when there is no file; CONFIG if it is not valid. */
export function readPortalSettings(dir: string): PortalSettings {
  const file = portalSettingsPath(dir);
  if (!existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new CustosError("CONFIG", `${PORTAL_SETTINGS_FILE_NAME} is not valid JSON (${file})`);
  }
  return parsePortalSettings(json);
}

export function writePortalSettings(dir: string, settings: PortalSettings): void {
  const checked = parsePortalSettings(settings);
  writeFileAtomic(portalSettingsPath(dir), `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o644 });
}

/**
 * The settings as the node serves them: read at start (an invalid file stops the node there) and
 * again whenever the file changes, so `custos portal config` takes effect without a restart. A file
 * made invalid while the node runs is reported and the last valid settings stay in force.
 */
export class PortalSettingsSource {
  readonly #dir: string;
  readonly #warn: (message: string) => void;
  #settings: PortalSettings;
  #stamp: string;

  constructor(dir: string, warn: (message: string) => void = () => {}) {
    this.#dir = dir;
    this.#warn = warn;
    this.#stamp = this.#fileStamp();
    this.#settings = readPortalSettings(dir);
  }

  #fileStamp(): string {
    try {
      const s = statSync(portalSettingsPath(this.#dir));
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return "none";
    }
  }

  current(): PortalSettings {
    const stamp = this.#fileStamp();
    if (stamp !== this.#stamp) {
      this.#stamp = stamp;
      try {
        this.#settings = readPortalSettings(this.#dir);
      } catch (error) {
        this.#warn(`${(error as Error).message}; the portal keeps the settings it had`);
      }
    }
    return this.#settings;
  }
}
