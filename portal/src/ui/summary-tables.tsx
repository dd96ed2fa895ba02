// The summaries an auditor looks for, over the accesses the filters keep, from the library's pure
// functions: accesses per user (table and a chart of the busiest), users touching unusually many
// patients (with the rule that flagged them), accesses outside working hours, emergency
// (break-the-glass) accesses, and print and copy events.

import { useMemo } from "preact/hooks";
import { describeWorkingHours } from "../lib/site.js";
import {
  emergencyAccesses,
  outsideWorkingHours,
  perUser,
  printAndCopy,
  type UserSummary,
  unusualUsers,
} from "../lib/summaries.js";
import type { AccessRow } from "../lib/types.js";
import { whoOf } from "../lib/vocabulary.js";
import { AccessTable } from "./access-table.js";
import { BarChart } from "./bar-chart.js";
import { formatCount } from "./format.js";
import { type Column, PagedTable } from "./paged-table.js";
import { useSite } from "./site.js";

type Flagged = ReturnType<typeof unusualUsers>["users"][number];

const count = (n: number) => formatCount(n);

type Names = ReadonlyMap<string, { name: string; about: string }>;

function UserCell(props: { userId: string; names: Names }) {
  const who = props.names.get(props.userId);
  return who ? (
    <span class="who-cell">
      <strong>{who.name}</strong>
      <span class="who-role">{[who.about, props.userId].filter(Boolean).join(" · ")}</span>
    </span>
  ) : (
    <span class="mono">{props.userId}</span>
  );
}

function userColumns(names: Names): Column<UserSummary>[] {
  return [
    { header: "User", rowHeader: true, cell: (row) => <UserCell userId={row.userId} names={names} /> },
    { header: "Accesses", cell: (row) => count(row.accesses), className: "number" },
    { header: "Patients", cell: (row) => count(row.patients), className: "number" },
    { header: "Emergency", cell: (row) => count(row.emergency), className: "number" },
    { header: "Outside working hours", cell: (row) => count(row.outsideHours), className: "number" },
    { header: "Print or copy", cell: (row) => count(row.printOrCopy), className: "number" },
  ];
}

function flaggedColumns(names: Names): Column<Flagged>[] {
  return [
    { header: "User", rowHeader: true, cell: (row) => <UserCell userId={row.userId} names={names} /> },
    { header: "Patients accessed", cell: (row) => count(row.patients), className: "number" },
  ];
}

/** Display names, roles and departments by user ID, from the records that carry them. */
function namesOf(rows: readonly AccessRow[]): Names {
  const names = new Map<string, { name: string; about: string }>();
  for (const row of rows) {
    if (names.has(row.record.userId)) continue;
    const who = whoOf(row);
    if (who.named)
      names.set(who.userId, { name: who.name, about: [who.role, who.department].filter(Boolean).join(", ") });
  }
  return names;
}

export function SummaryTables(props: { rows: readonly AccessRow[] }) {
  const { rows } = props;
  const { workingHours } = useSite();
  const names = useMemo(() => namesOf(rows), [rows]);
  const users = useMemo(() => perUser(rows, workingHours), [rows, workingHours]);
  const flagged = useMemo(() => unusualUsers(rows), [rows]);
  const outside = useMemo(() => outsideWorkingHours(rows, workingHours), [rows, workingHours]);
  const emergency = useMemo(() => emergencyAccesses(rows), [rows]);
  const printed = useMemo(() => printAndCopy(rows), [rows]);
  const top = users
    .slice(0, 10)
    .map((row) => ({ label: names.get(row.userId)?.name ?? row.userId, value: row.accesses }));

  return (
    <div class="summaries" data-testid="summaries">
      <h3>Accesses per user</h3>
      <div class="summary-grid">
        <PagedTable
          caption="Accesses per user, most first"
          columns={userColumns(names)}
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
        columns={flaggedColumns(names)}
        rows={flagged.users}
        rowKey={(row) => row.userId}
        rowAttributes={(row) => ({ "data-user": row.userId })}
        pageSize={25}
        testId="unusual-users-table"
        empty="No user touched unusually many patients."
      />

      <h3>Accesses outside working hours</h3>
      <p class="hint" data-testid="working-hours">
        Working hours: {describeWorkingHours(workingHours)}. {formatCount(outside.length)} of{" "}
        {formatCount(rows.length)} accesses fall outside them.
      </p>
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
