// The portal's CSV export opened the way a privacy officer would: in a real spreadsheet (Debian's
// LibreOffice Calc, headless), with formula evaluation on and the comma or the semicolon as the
// separator. No cell may come out as a formula, whatever the record's text held.

import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { accessesToCsv } from "../../portal/src/lib/exports.js";
import type { AccessRow } from "../../portal/src/lib/types.js";
import { parseAuditRecord } from "../../src/core/record/index.js";

const SOFFICE = "/usr/bin/soffice";
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "custos-csv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOSTILE = [
  "note;=2+5",
  "=1+1",
  "a|+3",
  "x\t-4",
  "@SUM(1;2)",
  'q,=HYPERLINK("http://example.invalid")',
  "+49 30 1234",
  "-2",
  "ok;text,more",
];

function rows(): AccessRow[] {
  return HOSTILE.map((detail, index) => {
    const record = parseAuditRecord({
      time: "2026-03-02T10:00:00Z",
      patientId: "P001",
      userId: index % 2 === 0 ? "=cmd" : "dr.house",
      action: "query",
      purposeOfUse: "TREAT;=1",
      detail,
    });
    return { index, patientId: record.patientId, record };
  });
}

/** Opens the CSV in LibreOffice Calc with formulas evaluated and returns the sheet as flat ODF XML. */
async function openInCalc(csv: string, separator: number, name: string): Promise<string> {
  const file = join(dir, `${name}.csv`);
  writeFileSync(file, csv);
  // CSV filter tokens: separator, text delimiter ("), UTF-8, first line 1, default cell format,
  // en-US, quoted as text off, special numbers off, 3 export-only tokens, sheet -1, evaluate formulas ON.
  const filter = `CSV:${separator},34,76,1,,1033,false,false,false,false,false,-1,true`;
  await run(
    SOFFICE,
    [
      "--headless",
      `-env:UserInstallation=file://${join(dir, "profile")}`,
      `--infilter=${filter}`,
      "--convert-to",
      "fods",
      "--outdir",
      dir,
      file,
    ],
    { timeout: 240_000, env: { ...process.env, HOME: dir } },
  );
  return readFileSync(join(dir, `${name}.fods`), "utf8");
}

describe("the CSV export opened in a spreadsheet", () => {
  it("needs Debian's LibreOffice Calc", () => {
    expect(existsSync(SOFFICE), `${SOFFICE} is missing: apt-get install libreoffice-calc-nogui`).toBe(true);
  });

  it("holds no formula with the comma or the semicolon as separator", { timeout: 600_000 }, async () => {
    const csv = accessesToCsv(rows());
    for (const [separator, name] of [
      [44, "comma"],
      [59, "semicolon"],
    ] as const) {
      const sheet = await openInCalc(csv, separator, name);
      expect(sheet, `the ${name} sheet was not written`).toContain("<table:table ");
      expect(sheet.match(/table:formula="[^"]*"/g) ?? [], `formulas with the ${name} separator`).toEqual([]);
      // The text is still there for a person to read: each hostile detail shows behind its apostrophe
      // (whole with the comma; with the semicolon the line splits at it, the part after it still
      // behind its apostrophe).
      expect(sheet).toContain(separator === 44 ? "note;&apos;=2+5" : "<text:p>&apos;=2+5");
    }
  });
});
