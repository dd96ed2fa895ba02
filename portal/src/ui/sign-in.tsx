// Sign-in: the person picks (or drops) their identity bundle file and types its passphrase; the
// library unlocks the keys in this page and logs in with a signed challenge. Nothing is stored here:
// the passphrase field is cleared whatever the outcome, the file's text lives only in this component.

import { useEffect, useRef, useState } from "preact/hooks";
import { signIn } from "../lib/session.js";
import { checkSiteSettings, type Site, siteOf } from "../lib/site.js";
import type { PortalConfig, Session } from "../lib/types.js";
import { describeError, type ErrorMessage } from "./messages.js";

/** A bundle is a few kilobytes; refuse to read anything far larger into the page. */
const MAX_FILE_BYTES = 1024 * 1024;

interface ChosenFile {
  readonly name: string;
  readonly text: string;
}

/** The deployment's settings before sign-in (the open config route), to name the hospital. */
function useSiteBeforeSignIn(onHospital?: (name: string) => void): Site | undefined {
  const [site, setSite] = useState<Site | undefined>(undefined);
  useEffect(() => {
    let live = true;
    fetch(new URL("portal/config.json", document.baseURI), { cache: "no-store" })
      .then((reply) => (reply.ok ? (reply.json() as Promise<PortalConfig>) : undefined))
      .then((config) => {
        if (!live || !config || typeof config.deployment !== "string") return;
        const found = siteOf({ deployment: config.deployment, site: checkSiteSettings(config.site) });
        setSite(found);
        onHospital?.(found.hospital);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [onHospital]);
  return site;
}

function LostHelp(props: { site: Site | undefined }) {
  const contact = props.site?.privacyContact;
  const office = contact?.name ?? `the privacy office of ${props.site?.hospital ?? "your hospital"}`;
  return (
    <details class="sign-in-help" data-testid="sign-in-help">
      <summary>Lost your file or forgot the passphrase?</summary>
      <p>
        Nobody can open your identity bundle without its passphrase, not even the hospital: there is no reset.
        Ask {office} for a new identity. They will check who you are, revoke the old one (so a lost file
        cannot be used) and give you a new file and passphrase; your whole trail stays readable with the new
        one.
      </p>
      {contact ? (
        <p data-testid="sign-in-contact">
          {contact.name}
          {contact.email ? (
            <>
              {", "}
              <a href={`mailto:${contact.email}`}>{contact.email}</a>
            </>
          ) : null}
          {contact.phone ? `, ${contact.phone}` : ""}
        </p>
      ) : null}
    </details>
  );
}

export function SignIn(props: {
  onSignedIn: (session: Session) => void;
  onHospital?: (name: string) => void;
  /** Shows "Open an archive" (an archive file checked and read in the page, no sign-in). */
  onOpenArchive?: () => void;
}) {
  const site = useSiteBeforeSignIn(props.onHospital);
  const [file, setFile] = useState<ChosenFile | null>(null);
  const [passphrase, setPassphrase] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorMessage | null>(null);
  const [dragging, setDragging] = useState(false);
  const passphraseInput = useRef<HTMLInputElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // After a refusal, focus goes where the fix is (once the inputs are enabled again).
  useEffect(() => {
    if (error === null || busy) return;
    const fileProblem = error.code === "BAD_BUNDLE" || error.code === "NO_FILE";
    (fileProblem ? fileInput : passphraseInput).current?.focus();
  }, [error, busy]);

  async function choose(picked: File | undefined) {
    setError(null);
    if (picked === undefined) return;
    if (picked.size > MAX_FILE_BYTES) {
      setFile(null);
      setError({
        code: "BAD_BUNDLE",
        title: describeError({ code: "BAD_BUNDLE" }).title,
        detail: "The file is too large to be an identity bundle.",
      });
      return;
    }
    try {
      setFile({ name: picked.name, text: await picked.text() });
      passphraseInput.current?.focus();
    } catch (cause) {
      setFile(null);
      setError({ code: "BAD_BUNDLE", title: "This file could not be read.", detail: String(cause) });
    }
  }

  async function submit(event: Event) {
    event.preventDefault();
    if (busy) return;
    if (file === null) {
      setError({ code: "NO_FILE", title: "Choose your identity bundle file first." });
      return;
    }
    if (passphrase === "") {
      setError({ code: "NO_PASSPHRASE", title: "Type the passphrase of your identity bundle." });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const session = await signIn(file.text, passphrase);
      setPassphrase("");
      props.onSignedIn(session);
    } catch (cause) {
      setPassphrase("");
      setBusy(false);
      setError(describeError(cause));
    }
  }

  return (
    <div class="sign-in">
      <h1 data-testid="sign-in-heading">
        Sign in to {site ? `${site.hospital}'s` : "the"} access trail portal
      </h1>
      <p class="lede">
        See who accessed your health record{site ? ` at ${site.hospital}` : ""}, and why, checked and
        decrypted in this browser. Your keys and your passphrase never leave this page.
      </p>
      <form
        class={`card sign-in-form${dragging ? " dragging" : ""}`}
        aria-label="Sign in"
        aria-busy={busy}
        onSubmit={submit}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(event) => {
          event.preventDefault();
          setDragging(false);
          void choose(event.dataTransfer?.files[0]);
        }}
      >
        <div class="field dropzone">
          <label for="bundle-file">Identity bundle file</label>
          <p class="hint" id="bundle-file-hint">
            The file ending in <code>.custos-id</code> that {site?.hospital ?? "the hospital"} gave you with
            your passphrase. It holds your keys, locked by the passphrase. You can also drop it here.
          </p>
          <input
            id="bundle-file"
            name="bundle"
            type="file"
            aria-describedby="bundle-file-hint"
            ref={fileInput}
            disabled={busy}
            onChange={(event) => void choose(event.currentTarget.files?.[0])}
          />
          {file ? (
            <p class="chosen" data-testid="chosen-bundle">
              Chosen: <strong>{file.name}</strong>
            </p>
          ) : null}
        </div>
        <div class="field">
          <label for="passphrase">Passphrase</label>
          <input
            id="passphrase"
            name="passphrase"
            type="password"
            autocomplete="current-password"
            ref={passphraseInput}
            value={passphrase}
            disabled={busy}
            onInput={(event) => setPassphrase(event.currentTarget.value)}
          />
        </div>
        <button type="submit" class="primary" disabled={busy} data-testid="sign-in-button">
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p class="busy" role="status" aria-live="polite" data-testid="sign-in-busy">
          {busy ? "Unlocking your keys and checking your identity. This can take a few seconds." : ""}
        </p>
        <LostHelp site={site} />
        {error ? (
          <div class="error-box" role="alert" data-testid="sign-in-error" data-code={error.code}>
            <p>
              <strong>{error.title}</strong>
            </p>
            {error.detail ? <p class="detail">{error.detail}</p> : null}
          </div>
        ) : null}
      </form>
      {props.onOpenArchive ? (
        <section class="card archive-entry" aria-labelledby="archive-entry-heading">
          <h2 id="archive-entry-heading">Given an archive?</h2>
          <p>
            A regulator, an audit company or a patient given an archive file of the audit log can check it and
            read the records their key opens here, without signing in. Nothing is sent: the archive is checked
            in this browser.
          </p>
          <button type="button" onClick={props.onOpenArchive} data-testid="open-archive">
            Open an archive
          </button>
        </section>
      ) : null}
    </div>
  );
}
