// The page: sign-in until a session exists, then the view for the identity's role, with the
// verification status bar above every view. Signing out drops the session and every verification
// state with it (the provider is keyed by the session). Beside sign-in, "Open an archive" checks and
// opens an archive file in the page, without a session; closing it forgets it.

import { useEffect, useMemo, useState } from "preact/hooks";
import { siteOf } from "../lib/site.js";
import type { Session, SignedInIdentity } from "../lib/types.js";
import { ArchiveOpen, type ArchiveOutcome } from "./archive-open.js";
import { ArchiveRefused, ArchiveView } from "./archive-view.js";
import { AuditorView } from "./auditor-view.js";
import { setDisplayZone } from "./format.js";
import { ROLE_WORDS } from "./notice-table.js";
import { OfficeView } from "./office-view.js";
import { PatientView } from "./patient-view.js";
import { SignIn } from "./sign-in.js";
import { SiteProvider, useSite } from "./site.js";
import { useVerificationState, VerificationProvider } from "./verification.js";
import { VerificationBar } from "./verification-bar.js";
import { ViewHeading } from "./view-heading.js";

const TITLES: Readonly<Record<string, string>> = {
  patient: "My access trail",
  auditor: "Audit dashboard",
  admin: "Alerts",
  custodian: "Privacy office",
};

/** The privacy office's and administrators' view shows no trail, so nothing is proven there. */
const OFFICE_UNVERIFIED =
  "Nothing on this page is a verified trail: the key audit is shown as the node lists it from its log.";

function SignedIn(props: { session: Session; onSignOut: () => void }) {
  const { session } = props;
  const site = useMemo(() => siteOf(session.config), [session]);
  // Every time from here on is written in the deployment's zone (set before any view renders).
  setDisplayZone(site.timeZone);
  const [verification, reporter] = useVerificationState();
  const role = session.identity.role;
  useEffect(() => {
    document.title = `${TITLES[role] ?? "Custos"} — ${site.hospital}`;
  }, [role, site]);
  return (
    <SiteProvider site={site}>
      <VerificationProvider reporter={reporter} state={verification}>
        <Header session={session} onSignOut={props.onSignOut} />
        <VerificationBar
          state={verification}
          onShowAlerts={
            role === "auditor" ? () => document.getElementById("alerts-heading")?.scrollIntoView() : undefined
          }
          {...(role === "admin" || role === "custodian" ? { unverified: OFFICE_UNVERIFIED } : {})}
        />
        <main id="main">
          {role === "patient" ? (
            <PatientView session={session} />
          ) : role === "auditor" ? (
            <AuditorView session={session} />
          ) : role === "admin" || role === "custodian" ? (
            <OfficeView session={session} />
          ) : (
            <div class="view">
              <ViewHeading testId="unsupported-role-heading">Nothing to show for this identity</ViewHeading>
              <p>
                The portal serves patients, audit companies, the privacy office and admins. A {role} identity
                works with the <code>custos</code> command line.
              </p>
            </div>
          )}
        </main>
      </VerificationProvider>
    </SiteProvider>
  );
}

function OpenedArchive(props: { outcome: ArchiveOutcome; onClose: () => void }) {
  const { outcome } = props;
  const deployment =
    outcome.kind === "opened"
      ? outcome.archive.identity.deployment
      : (outcome.config?.deployment ?? "Custos");
  // The hospital's words come from the portal's settings only when it serves this deployment.
  const config = outcome.config?.deployment === deployment ? outcome.config : null;
  const site = useMemo(() => siteOf(config ?? { deployment }), [config, deployment]);
  setDisplayZone(site.timeZone);
  useEffect(() => {
    document.title = `Archive — ${site.hospital}`;
  }, [site]);
  return (
    <SiteProvider site={site}>
      <Header
        reader={outcome.kind === "opened" ? outcome.archive.identity : undefined}
        onSignOut={props.onClose}
        leave="Close archive"
      />
      {outcome.kind === "opened" ? (
        <ArchiveView archive={outcome.archive} />
      ) : (
        <ArchiveRefused refusal={outcome.refusal} />
      )}
    </SiteProvider>
  );
}

function Header(props: {
  session?: Session;
  /** Reading an archive as this identity (no session). */
  reader?: SignedInIdentity | undefined;
  onSignOut?: () => void;
  /** The leave button's words: "Sign out", or "Close archive". */
  leave?: string;
  hospital?: string;
}) {
  const identity = props.session?.identity ?? props.reader;
  const site = useSite();
  const hospital = props.session || props.leave ? site.hospital : props.hospital;
  return (
    <header class="site-header">
      <div class="brand">
        {hospital ? (
          <span class="brand-hospital" data-testid="hospital-name">
            {hospital}
          </span>
        ) : null}
        <span class="brand-name">Access trail portal</span>
      </div>
      {identity ? (
        <div class="who" data-testid="signed-in-as">
          <span>
            {props.session ? "Signed in as" : "Reading an archive as"}{" "}
            <strong class="mono">{identity.id}</strong> ({ROLE_WORDS[identity.role] ?? identity.role})
          </span>
          <button
            type="button"
            onClick={props.onSignOut}
            data-testid={props.session ? "sign-out" : "close-archive"}
          >
            {props.leave ?? "Sign out"}
          </button>
        </div>
      ) : props.leave ? (
        <div class="who">
          <button type="button" onClick={props.onSignOut} data-testid="close-archive">
            {props.leave}
          </button>
        </div>
      ) : null}
    </header>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [hospital, setHospital] = useState<string | undefined>(undefined);
  const [archiveMode, setArchiveMode] = useState(false);
  const [archive, setArchive] = useState<ArchiveOutcome | null>(null);
  useEffect(() => {
    if (session === null && archive === null)
      document.title = archiveMode
        ? `Open an archive — ${hospital ?? "Custos"}`
        : hospital
          ? `Sign in — ${hospital}`
          : "Sign in — Custos";
  }, [session, hospital, archiveMode, archive]);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      {archive !== null ? (
        <OpenedArchive
          outcome={archive}
          onClose={() => {
            // The opened records go with the state; the keys were wiped once the archive was opened.
            setArchive(null);
            setArchiveMode(false);
          }}
        />
      ) : session === null ? (
        <>
          <Header hospital={hospital} />
          <main id="main">
            {archiveMode ? (
              <ArchiveOpen onOutcome={setArchive} onBack={() => setArchiveMode(false)} />
            ) : (
              <SignIn
                onSignedIn={setSession}
                onHospital={setHospital}
                onOpenArchive={() => setArchiveMode(true)}
              />
            )}
          </main>
        </>
      ) : (
        <SignedIn
          key={session.identity.uri}
          session={session}
          onSignOut={() => {
            session.signOut();
            setSession(null);
          }}
        />
      )}
      <footer class="site-footer">
        <p>
          This page decrypts and verifies your trail in this browser (Custos): the server never sees your keys
          or the contents of a record.
        </p>
      </footer>
    </>
  );
}
