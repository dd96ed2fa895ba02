// Notices: who read a trail (the meta-audit) and who was refused, each a log entry of its own, in
// plain words: who (their ID and role), what they did, what came of it. The log entry and the
// counts as the node recorded them (log entries sent, the key envelopes that open them included, so
// not the page's count of accesses) are in each row's details.

import { type ErrorCode, isErrorCode } from "../../../src/core/errors.js";
import type { NoticeRow } from "../lib/types.js";
import { TimeCell } from "./access-table.js";
import { formatCount } from "./format.js";
import { type Column, PagedTable } from "./paged-table.js";

export const ROLE_WORDS: Readonly<Record<string, string>> = {
  patient: "patient",
  auditor: "audit company",
  custodian: "privacy office",
  admin: "administrator",
  "ehr-source": "record system",
  node: "Custos node",
  witness: "witness",
};

/** A refusal's reason is the code the node refused with (src/identity/authorize.ts). */
const REASON_WORDS: Readonly<Partial<Record<ErrorCode, string>>> = {
  NOT_AUTHORIZED: "not allowed to read this trail",
  NOT_AUTHENTICATED: "their identity was revoked or replaced, or never enrolled",
};

/** The ID at the end of custos://<deployment>/<role>/<id>. */
function requesterId(uri: string): string {
  const parts = uri.split("/");
  return parts[parts.length - 1] || uri;
}

function what(row: NoticeRow): string {
  if (row.kind !== "refusal") return "Read the trail";
  if (!row.reason) return "Was refused";
  const words = isErrorCode(row.reason) ? REASON_WORDS[row.reason] : undefined;
  return `Was refused: ${words ?? "the node did not allow it"}`;
}

function Details(props: { row: NoticeRow }) {
  const { row } = props;
  return (
    <details class="row-details">
      <summary>
        Details<span class="visually-hidden"> of entry {row.index}</span>
      </summary>
      <dl>
        <div>
          <dt>Log entry</dt>
          <dd class="mono">#{row.index}</dd>
        </div>
        <div>
          <dt>Requester</dt>
          <dd class="mono">{row.requester}</dd>
        </div>
        <div>
          <dt>Request</dt>
          <dd class="mono">{row.operation}</dd>
        </div>
        {row.reason ? (
          <div>
            <dt>Refusal code</dt>
            <dd class="mono">{row.reason}</dd>
          </div>
        ) : null}
        {row.returned !== undefined ? (
          <div>
            <dt>Log entries sent</dt>
            <dd>{formatCount(row.returned)} (accesses and the keys that open them, one page of the trail)</dd>
          </div>
        ) : null}
      </dl>
    </details>
  );
}

/** The patient a notice concerns: their name and ID where known, else why they are not named. */
function PatientCell(props: { row: NoticeRow; name: string | undefined; byTag: boolean }) {
  const { row, name } = props;
  // The privacy office knows patients by tag only (as in the key audit): the same words for the same tag.
  if (props.byTag)
    return row.patientTag ? (
      <span class="mono">a patient (tag {row.patientTag.slice(0, 8)}…)</span>
    ) : (
      <span>No patient</span>
    );
  if (row.patientId)
    return (
      <span class="who-cell">
        {name ? <strong>{name}</strong> : null}
        <span class="mono">{row.patientId}</span>
      </span>
    );
  return row.patientTag ? (
    <span>One of your patients, not named yet: load your list of granted patients to name them</span>
  ) : (
    <span>No patient</span>
  );
}

export function NoticeTable(props: {
  readonly rows: readonly NoticeRow[];
  readonly caption: string;
  readonly showPatient?: boolean;
  /** Patients by tag only (the privacy office), never by ID or name. */
  readonly patientsByTag?: boolean;
  /** The signed-in identity's URI: its own rows say "You". */
  readonly self?: string;
  /** A patient's name for their ID (an audit company's own list), when it has one. */
  readonly patientName?: (row: NoticeRow) => string | undefined;
  readonly testId: string;
  readonly empty: string;
}) {
  const columns: Column<NoticeRow>[] = [
    { header: "When", rowHeader: true, cell: (row) => <TimeCell time={row.time} /> },
    {
      header: "Who",
      cell: (row) =>
        row.requester === props.self ? (
          <strong>You</strong>
        ) : (
          <span class="who-cell">
            <span class="mono">{requesterId(row.requester)}</span>
            <span class="who-role">{ROLE_WORDS[row.role] ?? row.role}</span>
          </span>
        ),
    },
    ...(props.showPatient
      ? [
          {
            header: "Patient",
            cell: (row: NoticeRow) => (
              <PatientCell row={row} name={props.patientName?.(row)} byTag={props.patientsByTag === true} />
            ),
          },
        ]
      : []),
    {
      header: "What happened",
      cell: (row) => <span class={`notice notice-${row.kind}`}>{what(row)}</span>,
    },
    { header: "Details", cell: (row) => <Details row={row} /> },
  ];
  return (
    <PagedTable
      caption={props.caption}
      columns={columns}
      rows={props.rows}
      rowKey={(row) => row.index}
      rowAttributes={(row) => ({
        "data-index": row.index,
        "data-kind": row.kind,
        "data-patient": row.patientId ?? undefined,
      })}
      pageSize={25}
      testId={props.testId}
      empty={props.empty}
    />
  );
}
