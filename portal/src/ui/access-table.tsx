// The accesses table of both views, newest first, one page at a time, in plain words: when (with the
// zone), who (name, role and department; the user ID when the record names no one), what they did and
// why ("Viewed your record, for your treatment"; research and payment marked), and from which system.
// The entry number and the raw codes are in each row's details. Each row carries its log index
// (data-index) so a person, and a test, can name the exact entry.

import type { AccessRow } from "../lib/types.js";
import { actionWords, purposeWords, recordExtras, whoOf } from "../lib/vocabulary.js";
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

export function WhoCell(props: { row: AccessRow }) {
  const who = whoOf(props.row);
  const about = [who.role, who.department].filter(Boolean).join(", ");
  return (
    <span
      class="who-cell"
      data-testid="access-who"
      data-name-from={who.fromDirectory ? "staff-directory" : who.named ? "record" : "id"}
    >
      {who.named ? <strong>{who.name}</strong> : <span class="mono">{who.name}</span>}
      {about ? <span class="who-role">{about}</span> : null}
    </span>
  );
}

function PurposeBadge(props: { code: string | undefined }) {
  const words = purposeWords(props.code);
  if (!words) return null;
  const notable = words.kind === "research" || words.kind === "payment" || words.kind === "marketing";
  return (
    <span
      class={`purpose purpose-${words.kind}`}
      data-testid="access-purpose"
      data-purpose-kind={words.kind}
      title={words.sentence}
    >
      {notable ? (
        <span class="purpose-mark">{words.kind[0]!.toUpperCase() + words.kind.slice(1)}</span>
      ) : null}
      for {words.phrase}
    </span>
  );
}

function WhatCell(props: { row: AccessRow; audience: "patient" | "auditor" }) {
  const { record } = props.row;
  const words = actionWords(record.action);
  return (
    <span class="what-cell" data-testid="access-what">
      <span class={`action action-${record.action}`}>
        {props.audience === "patient"
          ? words.patient[0]!.toUpperCase() + words.patient.slice(1)
          : words.label}
      </span>{" "}
      <PurposeBadge code={record.purposeOfUse} />
      {record.emergency ? <span class="flag">Emergency (break the glass)</span> : null}
      {record.sourceSystem ? <span class="source">in {record.sourceSystem}</span> : null}
    </span>
  );
}

function DetailsCell(props: { row: AccessRow }) {
  const { row } = props;
  const { record } = row;
  const purpose = purposeWords(record.purposeOfUse);
  const items: [string, string][] = [
    ["Log entry", `#${row.index}`],
    ["User ID", record.userId],
    ...(whoOf(row).fromDirectory
      ? [
          ["Name from", "the hospital's staff directory (the record gives only the user ID)"] as [
            string,
            string,
          ],
        ]
      : []),
    ["Action code", record.action],
    ...(record.purposeOfUse
      ? [["Purpose code", `${record.purposeOfUse}: ${purpose?.sentence ?? ""}`] as [string, string]]
      : []),
    ...(record.outcome ? [["Outcome", record.outcome] as [string, string]] : []),
    ...(record.sourceSystem ? [["Source system", record.sourceSystem] as [string, string]] : []),
    ...(record.sourceEventId ? [["Source event ID", record.sourceEventId] as [string, string]] : []),
    ...recordExtras(row).map((e) => [e.label, e.value] as [string, string]),
    ...(record.detail ? [["Detail", record.detail] as [string, string]] : []),
  ];
  return (
    <details class="row-details">
      <summary>
        Details<span class="visually-hidden"> of entry {row.index}</span>
      </summary>
      <dl>
        {items.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd class={label === "Detail" ? "detail" : "mono"}>{value}</dd>
          </div>
        ))}
      </dl>
    </details>
  );
}

function columns(audience: "patient" | "auditor", showPatient: boolean): Column<AccessRow>[] {
  return [
    { header: "When", rowHeader: true, cell: (row) => <TimeCell time={row.record.time} /> },
    ...(showPatient
      ? [
          {
            header: "Patient",
            cell: (row: AccessRow) => <span class="mono">{row.patientId ?? row.record.patientId}</span>,
          },
        ]
      : []),
    { header: "Who", cell: (row) => <WhoCell row={row} /> },
    { header: "What and why", cell: (row) => <WhatCell row={row} audience={audience} /> },
    { header: "Details", cell: (row) => <DetailsCell row={row} /> },
  ];
}

export function AccessTable(props: {
  readonly rows: readonly AccessRow[];
  readonly caption: string;
  readonly showPatient?: boolean;
  readonly empty: string;
  readonly testId?: string;
  readonly pageSize?: number;
  /** Whose words: "Viewed your record" (patient) or "Viewed" (anyone else); by default from showPatient. */
  readonly audience?: "patient" | "auditor";
}) {
  const audience = props.audience ?? (props.showPatient ? "auditor" : "patient");
  return (
    <PagedTable
      caption={props.caption}
      columns={columns(audience, props.showPatient === true)}
      rows={props.rows}
      rowKey={(row) => row.index}
      rowAttributes={(row) => ({
        "data-index": row.index,
        "data-action": row.record.action,
        "data-emergency": row.record.emergency ? "true" : undefined,
        "data-time": row.record.time,
      })}
      pageSize={props.pageSize ?? PAGE_SIZE}
      testId={props.testId ?? "access-table"}
      empty={props.empty}
    />
  );
}
