// The audit company's view: the patients it is granted (with each one's error, if any), their
// accesses under the same filters as a patient's plus a patient filter, the summaries an auditor
// looks for, refused requests, and the witnesses' fork alerts with their evidence.

import { useMemo, useState } from "preact/hooks";
import { filterAccesses, filterChoices, refusals } from "../lib/summaries.js";
import type { AccessRow, Session } from "../lib/types.js";
import { AccessChart } from "./access-chart.js";
import { AccessFilters, NO_FILTER, toAccessFilter } from "./access-filters.js";
import { AccessTable } from "./access-table.js";
import { AlertsPanel } from "./alerts-panel.js";
import { AccessExports, NoticeExports } from "./export-buttons.js";
import { formatCount, plural } from "./format.js";
import { LoadStatus } from "./load-status.js";
import { NoticeTable } from "./notice-table.js";
import { type Column, PagedTable } from "./paged-table.js";
import { SummaryTables } from "./summary-tables.js";
import { currentValue, type LoadState, useLoad } from "./use-load.js";
import { ViewHeading } from "./view-heading.js";

/** The most accesses loaded across all granted patients. */
export const MAX_AUDIT_ROWS = 50_000;

interface PatientLine {
  readonly patientId: string | null;
  readonly error?: string;
  readonly accesses: number;
}

const PATIENT_COLUMNS: readonly Column<PatientLine>[] = [
  {
    header: "Patient",
    rowHeader: true,
    cell: (row) => <span class="mono">{row.patientId ?? "(not named by the node)"}</span>,
  },
  { header: "Accesses loaded", cell: (row) => formatCount(row.accesses), className: "number" },
  {
    header: "Status",
    cell: (row) =>
      row.error ? (
        <span class="status-bad">Failed: {row.error}</span>
      ) : (
        <span class="status-ok">Verified</span>
      ),
  },
];

const SECTIONS = [
  ["accesses", "Accesses"],
  ["summaries", "Summaries"],
  ["patients", "Granted patients"],
  ["refusals", "Refused requests"],
  ["alerts", "Alerts"],
] as const;

/** In place of what is computed from the accesses, until they are loaded (or if they failed to). */
function Pending(props: { state: LoadState<unknown> }) {
  return props.state.kind === "failed" ? (
    <p class="empty">Not available: the accesses did not load (see Accesses above).</p>
  ) : (
    <p class="loading">Waiting for the accesses…</p>
  );
}

export function AuditorView(props: { session: Session }) {
  const { session } = props;
  const [accesses, reloadAccesses] = useLoad(() => session.patientAccesses(undefined, MAX_AUDIT_ROWS));
  const [notices, reloadNotices] = useLoad(() => session.queryHistory());
  const [fields, setFields] = useState(NO_FILTER);

  const loaded = currentValue(accesses);
  const rows: readonly AccessRow[] = loaded?.rows ?? [];
  const filter = useMemo(() => toAccessFilter(fields), [fields]);
  const shown = useMemo(() => (loaded ? filterAccesses(loaded.rows, filter) : []), [loaded, filter]);
  const choices = useMemo(() => filterChoices(rows), [rows]);
  const patients = useMemo((): PatientLine[] => {
    const counts = new Map<string | null, number>();
    for (const row of rows) counts.set(row.patientId, (counts.get(row.patientId) ?? 0) + 1);
    return (loaded?.patients ?? []).map((p) => ({ ...p, accesses: counts.get(p.patientId) ?? 0 }));
  }, [loaded, rows]);
  const patientIds = useMemo(
    () => patients.flatMap((p) => (p.patientId === null ? [] : [p.patientId])).sort(),
    [patients],
  );
  const noticesLoaded = currentValue(notices);
  const refused = useMemo(() => refusals(noticesLoaded?.rows ?? []), [noticesLoaded]);
  const failedPatients = patients.filter((p) => p.error !== undefined).length;

  return (
    <div class="view auditor-view">
      <ViewHeading testId="auditor-view-heading">Audit dashboard</ViewHeading>
      <p class="lede">
        Accesses to the records of the patients {session.identity.id} is granted at{" "}
        {session.config.deployment}, decrypted and verified in this browser.
      </p>
      <nav class="section-nav" aria-label="Dashboard sections">
        <ul>
          {SECTIONS.map(([id, label]) => (
            <li key={id}>
              <a href={`#${id}-heading`}>{label}</a>
            </li>
          ))}
        </ul>
      </nav>
      <div class="toolbar">
        <button
          type="button"
          onClick={() => {
            reloadAccesses();
            reloadNotices();
          }}
        >
          Refresh
        </button>
      </div>

      <section aria-labelledby="accesses-heading">
        <h2 id="accesses-heading">Accesses</h2>
        <LoadStatus state={accesses} what="accesses of your patients" onRetry={reloadAccesses} />
        {loaded ? (
          <>
            <p class="summary" data-testid="access-summary">
              {plural(rows.length, "access", "accesses")} loaded across {plural(patients.length, "patient")}
              {shown.length !== rows.length ? `, ${formatCount(shown.length)} match the filters` : ""}.
              {rows.length >= MAX_AUDIT_ROWS
                ? ` Only the newest ${formatCount(MAX_AUDIT_ROWS)} are loaded.`
                : ""}
              {loaded.notReadable > 0
                ? ` ${plural(loaded.notReadable, "entry", "entries")} could not be opened with your keys.`
                : ""}
              {failedPatients > 0
                ? ` ${plural(failedPatients, "patient")} could not be loaded (see Granted patients).`
                : ""}
            </p>
            <AccessFilters
              label="Filter accesses of your patients"
              value={fields}
              onChange={setFields}
              patients={patientIds}
              users={choices.users}
            />
            <AccessChart rows={shown} title="Accesses over time, by action" testId="access-chart" />
            <AccessExports rows={shown} status={loaded.status} />
            <AccessTable
              rows={shown}
              showPatient
              caption="Accesses across granted patients, newest first"
              empty={
                rows.length === 0
                  ? "No accesses recorded for your patients yet."
                  : "No access matches these filters."
              }
            />
          </>
        ) : null}
      </section>

      <section aria-labelledby="summaries-heading">
        <h2 id="summaries-heading">Summaries</h2>
        <p class="hint">Over the accesses that match the filters above.</p>
        {loaded ? <SummaryTables rows={shown} /> : <Pending state={accesses} />}
      </section>

      <section aria-labelledby="patients-heading">
        <h2 id="patients-heading">Granted patients</h2>
        {loaded ? (
          <PagedTable
            caption="Patients you are granted"
            columns={PATIENT_COLUMNS}
            rows={patients}
            rowKey={(row) => row.patientId ?? "(unnamed)"}
            rowAttributes={(row) => ({
              "data-patient": row.patientId ?? undefined,
              "data-error": row.error ? "true" : undefined,
            })}
            pageSize={50}
            testId="patients-table"
            empty="You are not granted any patient yet."
          />
        ) : (
          <Pending state={accesses} />
        )}
      </section>

      <section aria-labelledby="refusals-heading">
        <h2 id="refusals-heading">Refused requests</h2>
        <p class="hint">Requests the node refused, for your patients' trails.</p>
        <LoadStatus state={notices} what="refused requests" onRetry={reloadNotices} />
        {noticesLoaded ? (
          <>
            <NoticeExports rows={refused} status={noticesLoaded.status} />
            <NoticeTable
              rows={refused}
              showPatient
              caption="Refused requests, newest first"
              testId="refusals-table"
              empty="No request was refused."
            />
          </>
        ) : null}
      </section>

      <section aria-labelledby="alerts-heading">
        <h2 id="alerts-heading">Alerts</h2>
        <p class="hint">
          A witness refuses a checkpoint that does not extend the history it already cosigned: the log may
          have been forked or rewritten. Both signed checkpoints are kept as evidence.
        </p>
        <AlertsPanel session={session} />
      </section>
    </div>
  );
}
