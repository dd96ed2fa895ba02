// The privacy office's (custodian) and an administrator's view: what their role lets the node serve
// them here. Both read the key audit (who was enrolled, granted, given keys; what was erased or held);
// an administrator reads and acknowledges the fork alerts; the privacy office reads every refused
// request (sealed to it) and the deployment's security events trail (sealed to it like every record),
// both verified and opened in the page, and a patient's trail for a lawful request with `custos read`
// on the node's data (the node does not serve it patients' trails here).

import type { Session } from "../lib/types.js";
import { AccessTable } from "./access-table.js";
import { AlertsPanel } from "./alerts-panel.js";
import { AccessExports, NoticeExports } from "./export-buttons.js";
import { KeyAuditPanel } from "./key-audit-panel.js";
import { LoadStatus } from "./load-status.js";
import { NoticeTable } from "./notice-table.js";
import { useSite } from "./site.js";
import { currentValue, useLoad } from "./use-load.js";
import { ViewHeading } from "./view-heading.js";

/** The deployment's security events trail, read by the privacy office's own key (custodians). */
function OfficeSecurityEvents(props: { session: Session }) {
  const [events, reload] = useLoad(() => props.session.securityEvents());
  const loaded = currentValue(events);
  return (
    <section aria-labelledby="office-security-heading">
      <h2 id="office-security-heading">Security events</h2>
      <p class="hint">
        The deployment's security events that name no patient (logins and security alerts the hospital's
        systems reported, the trail <code>{SECURITY_EVENTS_ID}</code>), newest first, checked and opened in
        this page with the privacy office's key. Reading them is recorded in that trail's query history.
      </p>
      <LoadStatus state={events} what="security events" onRetry={reload} />
      {loaded ? (
        <>
          <AccessExports rows={loaded.rows} status={loaded.status} />
          <AccessTable
            rows={loaded.rows}
            audience="auditor"
            caption="Security events, newest first"
            testId="office-security-table"
            empty="No security event recorded yet."
          />
        </>
      ) : null}
    </section>
  );
}

/** Every refused request sealed to the privacy office: who asked, for which patient (by tag), why not. */
function OfficeRefusals(props: { session: Session }) {
  const [refusals, reload] = useLoad(() => props.session.officeRefusals());
  const loaded = currentValue(refusals);
  return (
    <section aria-labelledby="office-refusals-heading">
      <h2 id="office-refusals-heading">Refused requests</h2>
      <p class="hint">
        Every request the node refused, for any patient's trail or for something that concerns no patient,
        newest first (up to 1,000). Each is a log entry sealed to the privacy office, checked and opened in
        this page. Patients appear by tag only, as in the key audit.
      </p>
      <LoadStatus state={refusals} what="refused requests" onRetry={reload} />
      {loaded ? (
        <>
          <NoticeExports rows={loaded.rows} status={loaded.status} />
          <NoticeTable
            rows={loaded.rows}
            showPatient
            patientsByTag
            caption="Refused requests, newest first"
            testId="office-refusals-table"
            empty="No request was refused."
          />
        </>
      ) : null}
    </section>
  );
}

export const SECURITY_EVENTS_ID = "custos.security-events";

export function OfficeView(props: { session: Session }) {
  const { session } = props;
  const site = useSite();
  const admin = session.identity.role === "admin";
  return (
    <div class="view office-view">
      <ViewHeading testId="office-view-heading">
        {admin ? "Alerts for administrators" : "Privacy office"}
      </ViewHeading>
      <p class="lede">
        {admin
          ? `Signed in as an administrator of ${site.hospital}. Administrators see the log's fork alerts here and acknowledge them with a note, and the key audit. Times are in ${site.timeZone} time.`
          : `Signed in as the privacy office of ${site.hospital}: every refused request, the deployment's security events, the key audit, and where to read the rest. Times are in ${site.timeZone} time.`}
      </p>
      {admin ? (
        <section aria-labelledby="alerts-heading">
          <h2 id="alerts-heading">Alerts</h2>
          <p class="hint">
            A witness refuses a checkpoint that does not extend the history it already cosigned: the log may
            have been forked or rewritten. Both signed checkpoints are kept as evidence.
          </p>
          <AlertsPanel session={session} />
        </section>
      ) : null}
      {admin ? null : <OfficeRefusals session={session} />}
      {admin ? null : <OfficeSecurityEvents session={session} />}
      <section aria-labelledby="key-audit-heading">
        <h2 id="key-audit-heading">Key audit</h2>
        <p class="hint">
          Every act on keys and access the log holds: identities enrolled and revoked, audit companies granted
          patients and those grants ended, keys given to a reader (a patient, an audit company, the privacy
          office), erasures, legal holds and the operator's actions. Patients appear by tag only, never by
          name or ID.
        </p>
        <KeyAuditPanel session={session} />
      </section>
      <section aria-labelledby="office-what-heading">
        <h2 id="office-what-heading">
          What {admin ? "administrators" : "the privacy office"} can read, and where
        </h2>
        <ul class="office-list" data-testid="office-what">
          <li>
            <strong>The deployment's security events</strong> (logins, security alerts that name no patient)
            are the trail <code>{SECURITY_EVENTS_ID}</code>:{" "}
            {admin ? "the privacy office reads them here, " : "shown above; also readable "}
            by signing in with that trail's own identity file (<code>security-events.custos-id</code>), or
            with <code>custos query --as security-events.custos-id</code>.
          </li>
          {admin ? null : (
            <li>
              <strong>Any patient's trail</strong> is sealed to the privacy office too. The node does not
              serve patients' trails to the privacy office over this portal: read one for a documented lawful
              request with <code>custos read --lawful-request</code> on the node's machine, where reading it
              is itself recorded.
            </li>
          )}
          <li>
            <strong>Alerts</strong> (a possible fork of the log) go to the audit companies and to
            administrators.
          </li>
        </ul>
      </section>
    </div>
  );
}
