// The page: sign-in until a session exists, then the view for the identity's role, with the
// verification status bar above every view. Signing out drops the session and every verification
// state with it (the provider is keyed by the session).

import { useEffect, useMemo, useState } from "preact/hooks";
import { siteOf } from "../lib/site.js";
import type { Session } from "../lib/types.js";
import { AuditorView } from "./auditor-view.js";
import { setDisplayZone } from "./format.js";
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

const ROLE_WORDS: Readonly<Record<string, string>> = {
  patient: "patient",
  auditor: "audit company",
  custodian: "privacy office",
  admin: "administrator",
};

function Header(props: { session?: Session; onSignOut?: () => void; hospital?: string }) {
  const identity = props.session?.identity;
  const site = useSite();
  const hospital = props.session ? site.hospital : props.hospital;
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
            Signed in as <strong class="mono">{identity.id}</strong> (
            {ROLE_WORDS[identity.role] ?? identity.role})
          </span>
          <button type="button" onClick={props.onSignOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      ) : null}
    </header>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [hospital, setHospital] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (session === null) document.title = hospital ? `Sign in — ${hospital}` : "Sign in — Custos";
  }, [session, hospital]);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      {session === null ? (
        <>
          <Header hospital={hospital} />
          <main id="main">
            <SignIn onSignedIn={setSession} onHospital={setHospital} />
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
