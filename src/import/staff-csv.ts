// The hospital's staff directory as a CSV file (docs/portal.md "Staff directory"): a header naming
// the columns (user ID, name, role, department, in any order, any case; the delimiter `,`, `;`, tab or
// `|` read from the header), then one person per line. Checked whole before anything is sent.

import { CustosError } from "../core/index.js";
import { checkStaff, type StaffMember } from "../records/browser.js";
import { parseCsv } from "./csv-reader.js";

const COLUMNS: Readonly<Record<"id" | "name" | "role" | "department", readonly string[]>> = {
  id: ["user id", "userid", "user_id", "user", "id", "login"],
  name: ["name", "display name", "displayname", "full name", "user name", "username"],
  role: ["role", "job title", "title"],
  department: ["department", "dept", "unit", "ward"],
};

function delimiterOf(header: string): string {
  let best = ",";
  let most = 0;
  for (const d of [",", ";", "\t", "|"]) {
    const n = header.split(d).length - 1;
    if (n > most) {
      best = d;
      most = n;
    }
  }
  return best;
}

export function parseStaffCsv(text: string): StaffMember[] {
  const firstLine = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  const rows = parseCsv(text, delimiterOf(firstLine)).filter(
    (row) => !(row.length === 1 && row[0]!.trim() === ""),
  );
  const header = rows.shift();
  if (!header) throw new CustosError("BAD_ARGUMENT", "the staff directory file is empty");
  const names = header.map((h) => h.trim().toLowerCase());
  const column = (key: keyof typeof COLUMNS): number => names.findIndex((n) => COLUMNS[key].includes(n));
  const id = column("id");
  const name = column("name");
  if (id < 0 || name < 0)
    throw new CustosError(
      "BAD_ARGUMENT",
      "the staff directory's first line must name its columns: user ID and name (role and department optional)",
    );
  const role = column("role");
  const department = column("department");
  const cell = (row: string[], i: number) => (i < 0 ? undefined : row[i]);
  try {
    return checkStaff(
      rows.map((row) => ({
        id: cell(row, id),
        name: cell(row, name),
        role: cell(row, role),
        department: cell(row, department),
      })),
    );
  } catch (error) {
    // checkStaff counts people from 1; the file's lines count the header too.
    if (error instanceof CustosError)
      throw new CustosError(
        error.code,
        error.message.replace(/^person (\d+):/, (_, n: string) => `line ${Number(n) + 1}:`),
      );
    throw error;
  }
}
