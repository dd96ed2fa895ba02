// The patient's view: every access to my record, newest first, filtered and paged in memory (the
// whole trail is loaded and verified once), a chart of it by action, exports of what is shown, and
// who read my trail or was refused.

import { useMemo, useState } from "preact/hooks";
import { filterAccesses, filterChoices, splitOwnReads } from "../lib/summaries.js";
import type { Session } from "../lib/types.js";
import { AccessChart } from "./access-chart.js";
import { AccessFilters, NO_FILTER, toAccessFilter } from "./access-filters.js";
import { AccessTable } from "./access-table.js";
import { AccessExports, NoticeExports } from "./export-buttons.js";
import { formatCount, formatTime, plural } from "./format.js";
import { LoadStatus } from "./load-status.js";
import { NoticeTable } from "./notice-table.js";
import { SECURITY_EVENTS_ID } from "./office-view.js";
import { useSite } from "./site.js";
import { StaffDirectoryNote } from "./staff-directory-note.js";
import { TamperNotice } from "./tamper-notice.js";
import { currentValue, useLoad } from "./use-load.js";
import { ViewHeading } from "./view-heading.js";

/** The most accesses loaded at once; the page stays quick well past this. */
export const MAX_PATIENT_ROWS = 10_000;

export function PatientView(props: { session: Session }) {
  const { session } = props;
  const [accesses, reloadAccesses] = useLoad(() => session.myAccesses(undefined, MAX_PATIENT_ROWS));
  const [history, reloadHistory] = useLoad(() => session.queryHistory());
  const [fields, setFields] = useState(NO_FILTER);
  const site = useSite();
  const securityEvents = session.identity.id === SECURITY_EVENTS_ID;

  const loaded = currentValue(accesses);
  const filter = useMemo(() => toAccessFilter(fields), [fields]);
  const shown = useMemo(() => (loaded ? filterAccesses(loaded.rows, filter) : []), [loaded, filter]);
  const users = useMemo(() => (loaded ? filterChoices(loaded.rows).users : []), [loaded]);
  const historyLoaded = currentValue(history);
  const trailHistory = useMemo(
    () => (historyLoaded ? splitOwnReads(historyLoaded.rows, session.identity.uri) : undefined),
    [historyLoaded, session.identity.uri],
  );

  return (
    <div class="view patient-view">
      <ViewHeading testId="patient-view-heading">
        {securityEvents ? "Deployment security events" : "My access trail"}
      </ViewHeading>
      <p class="lede">
        {securityEvents
          ? `Security events at ${site.hospital} that name no patient (logins, security alerts), decrypted and verified in this browser, newest first.`
          : `Everyone who opened, changed, printed or copied your health record at ${site.hospital}, and why, decrypted and verified in this browser, newest first.`}{" "}
        Times are in {site.timeZone} time.
      </p>
      {accesses.kind === "failed" && accesses.problem ? (
        <TamperNotice
          problems={[accesses.problem]}
          stillShown="Who read your trail and which requests were refused (further down) are checked on their own and are still shown."
          notShown="The accesses to your record are not shown: one entry cannot be trusted, and showing the others could hide which one was changed."
        />
      ) : null}
      {loaded && trailHistory ? (
        <p class="at-a-glance" data-testid="at-a-glance">
          <a href="#timeline-heading">{plural(loaded.rows.length, "access", "accesses")} to your record</a>
          {" · "}
          <a href="#history-heading">
            {plural(
              trailHistory.others.filter((r) => r.kind === "query").length,
              "read of your trail by others",
              "reads of your trail by others",
            )}
            , {plural(trailHistory.others.filter((r) => r.kind === "refusal").length, "refused request")}
          </a>
        </p>
      ) : null}
      <div class="toolbar">
        <button
          type="button"
          onClick={() => {
            reloadAccesses();
            reloadHistory();
          }}
        >
          Refresh
        </button>
      </div>

      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Accesses to my record</h2>
        <LoadStatus state={accesses} what="accesses to your record" onRetry={reloadAccesses} />
        {loaded ? (
          <>
            <p class="summary" data-testid="access-summary">
              {plural(loaded.rows.length, "access", "accesses")} loaded
              {shown.length !== loaded.rows.length ? `, ${formatCount(shown.length)} match the filters` : ""}.
              {loaded.rows.length >= MAX_PATIENT_ROWS
                ? ` Only the newest ${formatCount(MAX_PATIENT_ROWS)} are loaded: narrow the time range to see older ones.`
                : ""}
              {loaded.notReadable > 0
                ? ` ${plural(loaded.notReadable, "entry", "entries")} could not be opened with your keys.`
                : ""}
            </p>
            <StaffDirectoryNote session={session} />
            <AccessFilters
              label="Filter accesses to my record"
              value={fields}
              onChange={setFields}
              users={users}
            />
            <AccessChart rows={shown} title="Accesses over time, by action" testId="access-chart" />
            <AccessExports rows={shown} status={loaded.status} />
            <AccessTable
              rows={shown}
              caption="Accesses to my record, newest first"
              empty={
                loaded.rows.length === 0
                  ? "No one has accessed your record yet."
                  : "No access matches these filters."
              }
            />
          </>
        ) : null}
      </section>

      <section aria-labelledby="history-heading">
        <h2 id="history-heading">Who looked at my trail</h2>
        <p class="hint">
          Reading an audit trail is itself recorded. These are the people and systems that read yours, and the
          requests that were refused.
        </p>
        <LoadStatus state={history} what="history of your trail" onRetry={reloadHistory} />
        {historyLoaded && trailHistory ? (
          <>
            <NoticeExports rows={historyLoaded.rows} status={historyLoaded.status} />
            <NoticeTable
              rows={trailHistory.others}
              self={session.identity.uri}
              caption="Reads of my trail by others, and refused requests, newest first"
              testId="query-history-table"
              empty="No one else has read your trail, and no request for it was refused."
            />
            {trailHistory.own.length > 0 ? (
              <details class="own-reads" data-testid="own-reads" data-count={trailHistory.own.length}>
                <summary>
                  You viewed your trail {plural(trailHistory.own.length, "time")}, most recently on{" "}
                  {formatTime(trailHistory.own[0]!.time)} (one line per page of the trail your browser read).
                </summary>
                <NoticeTable
                  rows={trailHistory.own}
                  self={session.identity.uri}
                  caption="My own reads of my trail, newest first"
                  testId="own-reads-table"
                  empty=""
                />
              </details>
            ) : null}
          </>
        ) : null}
      </section>
    </div>
  );
}
