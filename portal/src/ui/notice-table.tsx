// Notices: who read a trail (the meta-audit) and who was refused, each a log entry of its own.

import type { NoticeRow } from "../lib/types.js";
import { TimeCell } from "./access-table.js";
import { formatCount } from "./format.js";
import { type Column, PagedTable } from "./paged-table.js";

const KIND_LABEL = { query: "Read the trail", refusal: "Refused" } as const;

function result(row: NoticeRow): string {
  if (row.kind === "refusal") return row.reason ? `Refused: ${row.reason}` : "Refused";
  return row.returned === undefined ? "Read" : `Received ${formatCount(row.returned)} entries`;
}

export function NoticeTable(props: {
  readonly rows: readonly NoticeRow[];
  readonly caption: string;
  readonly showPatient?: boolean;
  /** The signed-in identity's URI: its own rows say "You". */
  readonly self?: string;
  readonly testId: string;
  readonly empty: string;
}) {
  const columns: Column<NoticeRow>[] = [
    { header: "Time", rowHeader: true, cell: (row) => <TimeCell time={row.time} /> },
    {
      header: "What happened",
      cell: (row) => <span class={`notice notice-${row.kind}`}>{KIND_LABEL[row.kind]}</span>,
    },
    {
      header: "Who",
      cell: (row) =>
        row.requester === props.self ? <strong>You</strong> : <span class="mono">{row.requester}</span>,
    },
    { header: "Role", cell: (row) => row.role },
    ...(props.showPatient
      ? [{ header: "Patient", cell: (row: NoticeRow) => <span class="mono">{row.patientId ?? "—"}</span> }]
      : []),
    { header: "Request", cell: (row) => row.operation },
    { header: "Result", cell: result },
    { header: "Entry", cell: (row) => `#${row.index}`, className: "number" },
  ];
  return (
    <PagedTable
      caption={props.caption}
      columns={columns}
      rows={props.rows}
      rowKey={(row) => row.index}
      rowAttributes={(row) => ({ "data-index": row.index, "data-kind": row.kind })}
      pageSize={25}
      testId={props.testId}
      empty={props.empty}
    />
  );
}
