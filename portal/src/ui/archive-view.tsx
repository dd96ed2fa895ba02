// An opened archive: the bar saying what was verified, then the records the reader's key opens with
// the portal's own filters, chart, summaries (for audit companies and the privacy office), exports and
// table. A refused archive: the red bar and the tamper page naming what failed, nothing else.

import { useMemo, useState } from "preact/hooks";
import type { ArchiveRefusedError, OpenedArchiveView } from "../lib/archive.js";
import { listWords } from "../lib/site.js";
import { filterAccesses, filterChoices } from "../lib/summaries.js";
import { AccessChart } from "./access-chart.js";
import { AccessFilters, NO_FILTER, toAccessFilter } from "./access-filters.js";
import { AccessTable } from "./access-table.js";
import { ArchiveBar, ArchiveRefusedBar, rangeWords } from "./archive-bar.js";
import { AccessExports } from "./export-buttons.js";
import { formatCount, formatTime, plural } from "./format.js";
import { useSite } from "./site.js";
import { SummaryTables } from "./summary-tables.js";
import { TamperNotice } from "./tamper-notice.js";
import { ViewHeading } from "./view-heading.js";

export function ArchiveView(props: { archive: OpenedArchiveView }) {
  const { archive } = props;
  const { summary } = archive;
  const site = useSite();
  const [fields, setFields] = useState(NO_FILTER);
  const rows = archive.rows;
  const filter = useMemo(() => toAccessFilter(fields), [fields]);
  const shown = useMemo(() => filterAccesses(rows, filter), [rows, filter]);
  const choices = useMemo(() => filterChoices(rows), [rows]);
  const patients = useMemo(() => [...new Set(rows.map((r) => r.record.patientId))].sort(), [rows]);
  const patientView = archive.identity.role === "patient";
  const others = archive.notReadable - archive.erased;
  return (
    <>
      <ArchiveBar archive={archive} />
      <main id="main">
        <div class="view archive-view">
          <ViewHeading testId="archive-view-heading">
            Archive of accesses, {rangeWords(summary.from, summary.to)}
          </ViewHeading>
          <p class="lede">
            From the audit log of {site.hospital}, made on {formatTime(summary.createdAt)} for{" "}
            {listWords([...summary.readers]) || "no named reader"}. Checked and decrypted in this browser;
            nothing was sent anywhere. Times are in {site.timeZone} time.
          </p>
          <p class="summary" data-testid="access-summary" data-opened={rows.length}>
            {plural(rows.length, "access", "accesses")} opened with your key
            {!patientView && patients.length > 0 ? ` across ${plural(patients.length, "patient")}` : ""}
            {shown.length !== rows.length ? `, ${formatCount(shown.length)} match the filters` : ""}.
            {archive.addressedToMe
              ? ""
              : " This archive is not made for you: it names other readers, and holds no key for yours."}
            {others > 0
              ? ` ${plural(others, "other record")} in the archive ${others === 1 ? "is" : "are"} not readable with your key.`
              : ""}
            {archive.erased > 0
              ? ` ${plural(archive.erased, "record")} ${archive.erased === 1 ? "was" : "were"} erased before the archive was made: ${archive.erased === 1 ? "its entry is" : "their entries are"} proven, ${archive.erased === 1 ? "its" : "their"} content is gone.`
              : ""}
          </p>
          <AccessFilters
            label="Filter the archive's accesses"
            value={fields}
            onChange={setFields}
            users={choices.users}
            {...(patientView ? {} : { patients })}
          />
          {patientView ? null : (
            <section aria-labelledby="archive-summaries-heading">
              <h2 id="archive-summaries-heading">Summaries</h2>
              <SummaryTables rows={shown} />
            </section>
          )}
          <section aria-labelledby="archive-accesses-heading">
            <h2 id="archive-accesses-heading">Accesses</h2>
            <AccessChart rows={shown} title="Accesses over time, by action" testId="access-chart" />
            <AccessExports rows={shown} status={archive.status} />
            <AccessTable
              rows={shown}
              showPatient={!patientView}
              caption="Accesses in the archive, newest first"
              empty={
                rows.length === 0
                  ? "Your key opens no record in this archive."
                  : "No access matches these filters."
              }
            />
          </section>
        </div>
      </main>
    </>
  );
}

export function ArchiveRefused(props: { refusal: ArchiveRefusedError }) {
  const { refusal } = props;
  return (
    <>
      <ArchiveRefusedBar refusal={refusal} />
      <main id="main">
        <div class="view archive-view">
          <ViewHeading testId="archive-refused-heading">This archive cannot be trusted</ViewHeading>
          <TamperNotice
            problems={refusal.problems}
            archive={{ sha256: refusal.file.sha256 }}
            stillShown="Nothing from this archive is shown."
            notShown={`Not shown: every record in ${refusal.file.name}. A record from a file that fails its check could be made up or changed.`}
          />
        </div>
      </main>
    </>
  );
}
