// `custos portal config`: what the browser portal tells people about the deployment (DIR/portal.json,
// src/service/portal-settings.ts): the hospital's name, time zone, working hours, privacy contact and
// the organisation behind each witness. A running node picks up the change on the page's next load.
// `custos portal staff-directory FILE --server URL --as ADMIN`: the hospital's staff directory, sealed by
// the node to the readers (src/service/routes/staff-directory-routes.ts).

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { parseStaffCsv } from "../../import/index.js";
import {
  type PortalSettings,
  parsePortalSettings,
  portalSettingsPath,
  readPortalSettings,
  WEEKDAYS,
  writePortalSettings,
} from "../../service/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, requireData } from "../options.js";
import { adminClient, type RemoteAdminOptions } from "./admin-remote.js";

interface ConfigOptions {
  data?: string;
  hospital?: string;
  timeZone?: string;
  workingHours?: string;
  workingDays?: string;
  privacyName?: string;
  privacyEmail?: string;
  privacyPhone?: string;
  privacyUrl?: string;
  witnessName: string[];
  clearWitnessNames?: boolean;
  json?: boolean;
}

/** "mon-fri", "mon,wed,fri", "sat-sun" -> the days in order. */
export function parseDays(value: string): (typeof WEEKDAYS)[number][] {
  const index = (day: string) => {
    const i = WEEKDAYS.indexOf(day.trim().toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]);
    if (i < 0) throw new UsageError(`--working-days: "${day}" is not a day (mon, tue, ... sun)`);
    return i;
  };
  const days = new Set<number>();
  for (const part of value.split(",")) {
    const [from, to] = part.split("-");
    if (to === undefined) days.add(index(from!));
    else
      for (let d = index(from!); ; d = (d + 1) % 7) {
        days.add(d);
        if (d === index(to)) break;
      }
  }
  return [...days].sort((a, b) => a - b).map((d) => WEEKDAYS[d]!);
}

function describe(settings: PortalSettings): string[] {
  const hours = settings.workingHours;
  const contact = settings.privacyContact;
  return [
    `hospital: ${settings.hospital ?? "(not set: the page shows the deployment's name)"}`,
    `time zone: ${settings.timeZone ?? "(not set: UTC)"}`,
    `working hours: ${hours ? `${hours.days.join(",")} ${hours.start}-${hours.end}` : "(not set: mon-fri 07:00-19:00)"}`,
    `privacy contact: ${contact ? [contact.name, contact.email, contact.phone, contact.url].filter(Boolean).join(", ") : "(not set)"}`,
    ...Object.entries(settings.witnesses ?? {}).map(([key, name]) => `witness ${key}: ${name}`),
  ];
}

/** Largest staff directory file read (the node takes at most 100,000 people). */
const MAX_STAFF_FILE = 32 * 1024 * 1024;

export function registerPortalCommands(program: Command, io: Io): void {
  const portal = program.command("portal").description("what the browser portal shows about this deployment");
  portal
    .command("staff-directory <file>")
    .description(
      "upload the hospital's staff directory (CSV: user ID, name, role, department) through a running node, which seals it to the readers, so records that carry only a user ID read with a name",
    )
    .option("--server <url>", "a running node (https://host:port), with --as", process.env.CUSTOS_SERVER)
    .option("--as <bundle>", "an admin's identity bundle")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .action(async (file: string, options: RemoteAdminOptions) => {
      let text: string;
      try {
        const bytes = readFileSync(file);
        if (bytes.length > MAX_STAFF_FILE)
          throw new CustosError("BAD_ARGUMENT", `the staff directory ${file} is larger than 32 MB`);
        text = bytes.toString("utf8");
      } catch (error) {
        if (error instanceof CustosError) throw error;
        throw new CustosError("NOT_FOUND", `cannot read the staff directory ${file}`);
      }
      const people = parseStaffCsv(text);
      const reply = await adminClient(options).uploadStaffDirectory(people);
      const { patient, auditor, custodian } = reply.readers;
      io.out(
        `uploaded the staff directory: ${reply.people} people, log entry ${reply.index}, sealed to ${patient} patients, ${auditor} audit companies and ${custodian} privacy offices`,
      );
    });
  portal
    .command("config")
    .description(
      "set the hospital's name, time zone, working hours, privacy contact and witness names the portal shows (DIR/portal.json); with no setting, print them",
    )
    .option(...DATA)
    .option("--hospital <name>", "the hospital's name, shown on sign-in and every page")
    .option(
      "--time-zone <zone>",
      "IANA time zone for every time shown and for working hours, e.g. Europe/Berlin",
    )
    .option("--working-hours <HH:MM-HH:MM>", "working hours in that zone, e.g. 07:00-19:00")
    .option("--working-days <days>", "working days, e.g. mon-fri or mon,tue,thu")
    .option("--privacy-name <name>", "whom patients contact about their record's privacy")
    .option("--privacy-email <address>", "the privacy contact's email address")
    .option("--privacy-phone <number>", "the privacy contact's phone number")
    .option("--privacy-url <https-url>", "the privacy contact's web page")
    .option(
      "--witness-name <key-or-url=name>",
      "the organisation running a witness, by its key name or URL (repeatable)",
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option("--clear-witness-names", "forget every witness name first")
    .option("--json", "print the settings as JSON")
    .action((options: ConfigOptions) => {
      const dir = requireData(options.data);
      const current = readPortalSettings(dir);
      const next: Record<string, unknown> = { ...current };
      let changed = false;
      const set = (key: string, value: unknown) => {
        next[key] = value;
        changed = true;
      };
      if (options.hospital !== undefined) set("hospital", options.hospital);
      if (options.timeZone !== undefined) set("timeZone", options.timeZone);
      if (options.workingHours !== undefined || options.workingDays !== undefined) {
        const [start, end] = (options.workingHours ?? "").split("-");
        const base = current.workingHours ?? { start: "07:00", end: "19:00", days: parseDays("mon-fri") };
        if (options.workingHours !== undefined && (start === undefined || end === undefined))
          throw new UsageError("--working-hours takes a range such as 07:00-19:00");
        set("workingHours", {
          start: options.workingHours !== undefined ? start : base.start,
          end: options.workingHours !== undefined ? end : base.end,
          days: options.workingDays !== undefined ? parseDays(options.workingDays) : base.days,
        });
      }
      const contactFlags = [
        options.privacyName,
        options.privacyEmail,
        options.privacyPhone,
        options.privacyUrl,
      ];
      if (contactFlags.some((v) => v !== undefined)) {
        const base = current.privacyContact;
        const name = options.privacyName ?? base?.name;
        if (name === undefined)
          throw new UsageError("--privacy-name is needed with the first privacy contact");
        const email = options.privacyEmail ?? base?.email;
        const phone = options.privacyPhone ?? base?.phone;
        const url = options.privacyUrl ?? base?.url;
        set("privacyContact", {
          name,
          ...(email ? { email } : {}),
          ...(phone ? { phone } : {}),
          ...(url ? { url } : {}),
        });
      }
      if (options.clearWitnessNames || options.witnessName.length > 0) {
        const witnesses: Record<string, string> = options.clearWitnessNames ? {} : { ...current.witnesses };
        for (const pair of options.witnessName) {
          const at = pair.lastIndexOf("=");
          if (at <= 0 || at === pair.length - 1)
            throw new UsageError(`--witness-name takes KEY-OR-URL=NAME, got "${pair}"`);
          witnesses[pair.slice(0, at)] = pair.slice(at + 1);
        }
        set("witnesses", witnesses);
      }
      const settings = changed ? parsePortalSettings(next) : current;
      if (changed) writePortalSettings(dir, settings);
      if (options.json) io.out(JSON.stringify(settings));
      else {
        for (const line of describe(settings)) io.out(line);
        if (changed)
          io.out(`written to ${portalSettingsPath(dir)}; the node serves it from the page's next load`);
      }
    });
}
