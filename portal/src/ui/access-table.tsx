// The accesses table of both views: newest first, one page at a time, each row carrying its log
// index (data-index) so a person, and a test, can name the exact entry.

import type { AccessRow } from "../lib/types.js";
import { formatTime } from "./format.js";
import { type Column, PagedTable } from "./paged-table.js";

export const PAGE_SIZE = 50;

export function TimeCell(props: { time: string }) {
  return (
    <time dateTime={props.time} title={props.time}>
      {formatTime(props.time)}
    </time>
  );
}

const COLUMNS: readonly Column<AccessRow>[] = [
  { header: "Time", rowHeader: true, cell: (row) => <TimeCell time={row.record.time} /> },
  { header: "User", cell: (row) => <span class="mono">{row.record.userId}</span> },
  {
    header: "Action",
    cell: (row) => <span class={`action action-${row.record.action}`}>{row.record.action}</span>,
  },
  {
    header: "Emergency",
    cell: (row) => (row.record.emergency ? <span class="flag">Break the glass</span> : "No"),
  },
  { header: "Purpose", cell: (row) => row.record.purposeOfUse ?? "—" },
  { header: "Outcome", cell: (row) => row.record.outcome ?? "—" },
  { header: "Source", cell: (row) => row.record.sourceSystem ?? "—" },
  { header: "Detail", cell: (row) => row.record.detail ?? "—", className: "detail" },
  { header: "Entry", cell: (row) => `#${row.index}`, className: "number" },
];

const PATIENT_COLUMN: Column<AccessRow> = {
  header: "Patient",
  cell: (row) => <span class="mono">{row.patientId ?? row.record.patientId}</span>,
};

export function AccessTable(props: {
  readonly rows: readonly AccessRow[];
  readonly caption: string;
  readonly showPatient?: boolean;
  readonly empty: string;
  readonly testId?: string;
  readonly pageSize?: number;
}) {
  const columns = props.showPatient ? [COLUMNS[0]!, PATIENT_COLUMN, ...COLUMNS.slice(1)] : COLUMNS;
  return (
    <PagedTable
      caption={props.caption}
      columns={columns}
      rows={props.rows}
      rowKey={(row) => row.index}
      rowAttributes={(row) => ({
        "data-index": row.index,
        "data-action": row.record.action,
        "data-emergency": row.record.emergency ? "true" : undefined,
      })}
      pageSize={props.pageSize ?? PAGE_SIZE}
      testId={props.testId ?? "access-table"}
      empty={props.empty}
    />
  );
}
