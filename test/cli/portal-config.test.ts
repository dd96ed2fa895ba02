// `custos portal config` writes DIR/portal.json, and a running node serves it in /portal/config.json
// (the file re-read when it changes): the hospital, time zone, working hours, privacy contact and
// witness names the portal shows. Bad settings are refused with a one-line error naming the setting.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { PortalSettingsSource, readPortalSettings } from "../../src/service/portal-settings.js";
import { tempDir } from "../helpers/temp.js";

const BIN = fileURLToPath(new URL("../../bin/custos.js", import.meta.url));
const temp = tempDir("custos-portal-config-");
afterAll(() => temp.cleanup());

function custos(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
}

describe("custos portal config", () => {
  it("writes the settings, merges later changes, and prints them", () => {
    const dir = temp.dir;
    const first = custos(
      "portal",
      "config",
      "--data",
      dir,
      "--hospital",
      "St Mary's Hospital",
      "--time-zone",
      "Europe/Berlin",
      "--working-hours",
      "08:00-18:00",
      "--working-days",
      "mon-fri",
      "--privacy-name",
      "Privacy Office",
      "--privacy-email",
      "privacy@stmary.example",
      "--witness-name",
      "witness.acme.example=Acme Audit",
    );
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(first.stdout).toContain("time zone: Europe/Berlin");
    const second = custos(
      "portal",
      "config",
      "--data",
      dir,
      "--working-days",
      "sat-mon",
      "--privacy-phone",
      "+49 30 1234",
      "--json",
    );
    expect(second.status).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({
      hospital: "St Mary's Hospital",
      timeZone: "Europe/Berlin",
      workingHours: { start: "08:00", end: "18:00", days: ["sun", "mon", "sat"] },
      privacyContact: { name: "Privacy Office", email: "privacy@stmary.example", phone: "+49 30 1234" },
      witnesses: { "witness.acme.example": "Acme Audit" },
    });
    expect(readPortalSettings(dir)).toEqual(JSON.parse(second.stdout));
  });

  it("refuses bad settings with one line naming the setting, and writes nothing", () => {
    const before = readFileSync(join(temp.dir, "portal.json"), "utf8");
    for (const [args, message] of [
      [["--time-zone", "Mars/Base"], /"timeZone" must be an IANA time zone/],
      [["--working-hours", "18:00-08:00"], /start must be before end/],
      [["--working-hours", "8-18"], /"workingHours.start" must be a time/],
      [["--working-days", "funday"], /"funday" is not a day/],
      [["--privacy-email", "not an address"], /"privacyContact.email" must be an email address/],
      [["--witness-name", "no-equals"], /KEY-OR-URL=NAME/],
    ] as const) {
      const result = custos("portal", "config", "--data", temp.dir, ...args);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(readFileSync(join(temp.dir, "portal.json"), "utf8")).toBe(before);
  });

  it("is re-read by a running node when the file changes, keeping the last good settings if it turns bad", () => {
    const warnings: string[] = [];
    const source = new PortalSettingsSource(temp.dir, (message) => warnings.push(message));
    expect(source.current().hospital).toBe("St Mary's Hospital");
    writeFileSync(
      join(temp.dir, "portal.json"),
      JSON.stringify({ hospital: "St Elsewhere", padding: "x".repeat(10) }),
    );
    expect(source.current().hospital).toBe("St Mary's Hospital");
    expect(warnings[0]).toMatch(/unknown setting "padding"; the portal keeps the settings it had/);
    writeFileSync(join(temp.dir, "portal.json"), JSON.stringify({ hospital: "St Elsewhere General" }));
    expect(source.current()).toEqual({ hospital: "St Elsewhere General" });
  });
});
