// The page: sign-in until a session exists, then the view for the identity's role, with the
// verification status bar above every view. Signing out drops the session and every verification
// state with it (the provider is keyed by the session).

import { useEffect, useState } from "preact/hooks";
import type { Session } from "../lib/types.js";
import { AuditorView } from "./auditor-view.js";
import { PatientView } from "./patient-view.js";
import { SignIn } from "./sign-in.js";
import { useVerificationState, VerificationProvider } from "./verification.js";
import { VerificationBar } from "./verification-bar.js";
import { ViewHeading } from "./view-heading.js";

const TITLES: Readonly<Record<string, string>> = {
  patient: "My access trail — Custos",
  auditor: "Audit dashboard — Custos",
};

function SignedIn(props: { session: Session; onSignOut: () => void }) {
  const { session } = props;
  const [verification, reporter] = useVerificationState();
  const role = session.identity.role;
  useEffect(() => {
    document.title = TITLES[role] ?? "Custos";
  }, [role]);
  return (
    <VerificationProvider reporter={reporter}>
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
        ) : (
          <div class="view">
            <ViewHeading testId="unsupported-role-heading">Nothing to show for this identity</ViewHeading>
            <p>
              The portal serves patients and audit companies. A {role} identity works with the{" "}
              <code>custos</code> command line.
            </p>
          </div>
        )}
      </main>
    </VerificationProvider>
  );
}

function Header(props: { session?: Session; onSignOut?: () => void }) {
  const identity = props.session?.identity;
  return (
    <header class="site-header">
      <div class="brand">
        <span class="brand-name">Custos</span>
        {props.session ? <span class="brand-deployment">{props.session.config.deployment}</span> : null}
      </div>
      {identity ? (
        <div class="who" data-testid="signed-in-as">
          <span>
            Signed in as <strong class="mono">{identity.id}</strong> ({identity.role})
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
  useEffect(() => {
    if (session === null) document.title = "Sign in — Custos";
  }, [session]);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      {session === null ? (
        <>
          <Header />
          <main id="main">
            <SignIn onSignedIn={setSession} />
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
          Custos decrypts and verifies your trail in this browser: the server never sees your keys or the
          contents of a record.
        </p>
      </footer>
    </>
  );
}
