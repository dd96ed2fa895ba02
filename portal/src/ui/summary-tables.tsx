// The summaries an auditor looks for, over the accesses the filters keep, from the library's pure
// functions: accesses per user (table and a chart of the busiest), users touching unusually many
// patients (with the rule that flagged them), accesses outside working hours, emergency
// (break-the-glass) accesses, and print and copy events.

import { useMemo } from "preact/hooks";
import {
  DEFAULT_WORKING_HOURS,
  emergencyAccesses,
  outsideWorkingHours,
  perUser,
  printAndCopy,
  type UserSummary,
  unusualUsers,
} from "../lib/summaries.js";
import type { AccessRow } from "../lib/types.js";
import { AccessTable } from "./access-table.js";
import { BarChart } from "./bar-chart.js";
import { formatCount } from "./format.js";
import { type Column, PagedTable } from "./paged-table.js";

type Flagged = ReturnType<typeof unusualUsers>["users"][number];

const count = (n: number) => formatCount(n);

const USER_COLUMNS: readonly Column<UserSummary>[] = [
  { header: "User", rowHeader: true, cell: (row) => <span class="mono">{row.userId}</span> },
  { header: "Accesses", cell: (row) => count(row.accesses), className: "number" },
  { header: "Patients", cell: (row) => count(row.patients), className: "number" },
  { header: "Emergency", cell: (row) => count(row.emergency), className: "number" },
  { header: "Outside working hours", cell: (row) => count(row.outsideHours), className: "number" },
  { header: "Print or copy", cell: (row) => count(row.printOrCopy), className: "number" },
];

const FLAGGED_COLUMNS: readonly Column<Flagged>[] = [
  { header: "User", rowHeader: true, cell: (row) => <span class="mono">{row.userId}</span> },
  { header: "Patients accessed", cell: (row) => count(row.patients), className: "number" },
];

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function workingHoursText(): string {
  const { startHour, endHour, workDays } = DEFAULT_WORKING_HOURS;
  const days =
    workDays.length === 5 && [1, 2, 3, 4, 5].every((d) => workDays.includes(d))
      ? "Monday to Friday"
      : workDays.map((d) => DAY_NAMES[d]).join(", ");
  const hh = (h: number) => `${String(h).padStart(2, "0")}:00`;
  return `${days}, ${hh(startHour)} to ${hh(endHour)} in this browser's time zone`;
}

export function SummaryTables(props: { rows: readonly AccessRow[] }) {
  const { rows } = props;
  const users = useMemo(() => perUser(rows), [rows]);
  const flagged = useMemo(() => unusualUsers(rows), [rows]);
  const outside = useMemo(() => outsideWorkingHours(rows), [rows]);
  const emergency = useMemo(() => emergencyAccesses(rows), [rows]);
  const printed = useMemo(() => printAndCopy(rows), [rows]);
  const top = users.slice(0, 10).map((row) => ({ label: row.userId, value: row.accesses }));

  return (
    <div class="summaries" data-testid="summaries">
      <h3>Accesses per user</h3>
      <div class="summary-grid">
        <PagedTable
          caption="Accesses per user, most first"
          columns={USER_COLUMNS}
          rows={users}
          rowKey={(row) => row.userId}
          rowAttributes={(row) => ({ "data-user": row.userId })}
          pageSize={25}
          testId="per-user-table"
          empty="No accesses."
        />
        <BarChart title="The ten users with the most accesses" items={top} testId="per-user-chart" />
      </div>

      <h3>Users touching unusually many patients</h3>
      <p class="hint" data-testid="unusual-rule">
        Flagged above {formatCount(flagged.threshold)} patients: the larger of 10 and the median (
        {formatCount(flagged.median)}) plus three times the median absolute deviation (
        {formatCount(flagged.mad)}) over all users shown.
      </p>
      <PagedTable
        caption="Users who accessed unusually many patients"
        columns={FLAGGED_COLUMNS}
        rows={flagged.users}
        rowKey={(row) => row.userId}
        rowAttributes={(row) => ({ "data-user": row.userId })}
        pageSize={25}
        testId="unusual-users-table"
        empty="No user touched unusually many patients."
      />

      <h3>Accesses outside working hours</h3>
      <p class="hint">Working hours: {workingHoursText()}.</p>
      <AccessTable
        rows={outside}
        showPatient
        pageSize={10}
        caption="Accesses outside working hours, newest first"
        empty="No access outside working hours."
        testId="outside-hours-table"
      />

      <h3>Emergency (break-the-glass) accesses</h3>
      <AccessTable
        rows={emergency}
        showPatient
        pageSize={10}
        caption="Emergency accesses, newest first"
        empty="No emergency access."
        testId="emergency-table"
      />

      <h3>Print and copy events</h3>
      <AccessTable
        rows={printed}
        showPatient
        pageSize={10}
        caption="Print and copy events, newest first"
        empty="No print or copy event."
        testId="print-copy-table"
      />
    </div>
  );
}
