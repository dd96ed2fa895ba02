// The audit company's view: the patients it is granted (with each one's error, if any), their
// accesses under the same filters as a patient's plus a patient filter, the summaries an auditor
// looks for, refused requests, and the witnesses' fork alerts with their evidence.

import { useMemo, useState } from "preact/hooks";
import { listWords } from "../lib/site.js";
import { filterAccesses, filterChoices, namePatients, refusals } from "../lib/summaries.js";
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
import { type PatientDirectory, PatientListLoader } from "./patient-list.js";
import { useSite } from "./site.js";
import { StaffDirectoryNote } from "./staff-directory-note.js";
import { SummaryTables } from "./summary-tables.js";
import { TamperNotice } from "./tamper-notice.js";
import { currentValue, type LoadState, useLoad } from "./use-load.js";
import { ViewHeading } from "./view-heading.js";

/** The most accesses loaded across all granted patients. */
export const MAX_AUDIT_ROWS = 50_000;

interface PatientLine {
  readonly patientId: string | null;
  readonly error?: string;
  readonly accesses: number;
  /** From the audit company's own patient list, when it loaded one. */
  readonly name?: string;
}

const PATIENT_COLUMNS: readonly Column<PatientLine>[] = [
  {
    header: "Patient",
    rowHeader: true,
    cell: (row) =>
      row.patientId === null ? (
        <span>Not named by the node: load your patient list to name this patient</span>
      ) : (
        <span class="who-cell">
          {row.name ? <strong>{row.name}</strong> : null}
          <span class="mono">{row.patientId}</span>
        </span>
      ),
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
  ["summaries", "Summaries"],
  ["patients", "Granted patients"],
  ["alerts", "Alerts"],
  ["refusals", "Refused requests"],
  ["accesses", "All accesses"],
] as const;

/** In place of what is computed from the accesses, until they are loaded (or if they failed to). */
function Pending(props: { state: LoadState<unknown> }) {
  return props.state.kind === "failed" ? (
    <p class="empty">Not available: the accesses did not load (see Summaries above).</p>
  ) : (
    <p class="loading">Waiting for the accesses…</p>
  );
}

export function AuditorView(props: { session: Session }) {
  const { session } = props;
  // The audit company's own list of the patients it is granted (IDs, optionally names): asked for by
  // ID, the node names each patient in its reply, the one whose trail fails verification included.
  const [directory, setDirectory] = useState<PatientDirectory | null>(null);
  const [accesses, reloadAccesses] = useLoad(
    () =>
      session.patientAccesses(directory ? { patientIds: [...directory.keys()] } : undefined, MAX_AUDIT_ROWS),
    [directory],
  );
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
    return (loaded?.patients ?? []).map((p) => {
      const name = p.patientId === null ? undefined : directory?.get(p.patientId);
      return { ...p, accesses: counts.get(p.patientId) ?? 0, ...(name ? { name } : {}) };
    });
  }, [loaded, rows, directory]);
  const patientIds = useMemo(
    () => patients.flatMap((p) => (p.patientId === null ? [] : [p.patientId])).sort(),
    [patients],
  );
  const noticesLoaded = currentValue(notices);
  const refused = useMemo(
    () => namePatients(refusals(noticesLoaded?.rows ?? []), loaded?.patients ?? []),
    [noticesLoaded, loaded],
  );
  const failedPatients = patients.filter((p) => p.error !== undefined).length;
  const failedProblems = loaded?.problems ?? [];
  const failedNamed = patients.flatMap((p) =>
    p.error !== undefined && p.patientId !== null
      ? [p.name ? `${p.name} (${p.patientId})` : p.patientId]
      : [],
  );
  const site = useSite();

  return (
    <div class="view auditor-view">
      <ViewHeading testId="auditor-view-heading">Audit dashboard</ViewHeading>
      <p class="lede">
        Accesses to the records of the patients {session.identity.id} is granted at {site.hospital}, decrypted
        and verified in this browser. Times are in {site.timeZone} time.
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
      {failedProblems.length > 0 ? (
        <TamperNotice
          problems={failedProblems}
          stillShown={`The other patients' accesses verified on their own and are shown${
            failedNamed.length > 0 ? "" : ""
          }.`}
          notShown={`Nothing is shown of ${
            failedNamed.length > 0 ? listWords(failedNamed) : "the patient concerned"
          }: one of their entries cannot be trusted, and showing the others could hide which one was changed.`}
        />
      ) : null}

      <section aria-labelledby="summaries-heading">
        <h2 id="summaries-heading">Summaries</h2>
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
            <StaffDirectoryNote session={session} />
            <AccessFilters
              label="Filter accesses of your patients"
              value={fields}
              onChange={setFields}
              patients={patientIds}
              users={choices.users}
            />
            <p class="hint">
              The summaries, the chart and the table of all accesses show what these filters keep.
            </p>
            <SummaryTables rows={shown} />
          </>
        ) : (
          <Pending state={accesses} />
        )}
      </section>

      <section aria-labelledby="patients-heading">
        <h2 id="patients-heading">Granted patients</h2>
        <PatientListLoader directory={directory} onLoad={setDirectory} />
        {loaded ? (
          <PagedTable
            caption="Patients you are granted"
            columns={PATIENT_COLUMNS}
            rows={patients}
            rowKey={(row) => row.patientId ?? `(unnamed) ${row.error ?? ""}`}
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

      <section aria-labelledby="alerts-heading">
        <h2 id="alerts-heading">Alerts</h2>
        <p class="hint">
          A witness refuses a checkpoint that does not extend the history it already cosigned: the log may
          have been forked or rewritten. Both signed checkpoints are kept as evidence. Acknowledge an alert
          with a note on what was checked or done.
        </p>
        <AlertsPanel session={session} />
      </section>

      <section aria-labelledby="refusals-heading">
        <h2 id="refusals-heading">Refused requests</h2>
        <p class="hint">
          Requests the node refused, for your patients' trails. Each names its patient once that patient's
          trail has loaded (or from your list of granted patients).
        </p>
        <LoadStatus state={notices} what="refused requests" onRetry={reloadNotices} />
        {noticesLoaded ? (
          <>
            <NoticeExports rows={refused} status={noticesLoaded.status} />
            <NoticeTable
              rows={refused}
              showPatient
              patientName={(row) => (row.patientId ? directory?.get(row.patientId) : undefined)}
              caption="Refused requests, newest first"
              testId="refusals-table"
              empty="No request was refused."
            />
          </>
        ) : null}
      </section>

      <section aria-labelledby="accesses-heading">
        <h2 id="accesses-heading">All accesses</h2>
        {loaded ? (
          <>
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
        ) : (
          <Pending state={accesses} />
        )}
      </section>
    </div>
  );
}
