// Sign-in: the person picks (or drops) their identity bundle file and types its passphrase; the
// library unlocks the keys in this page and logs in with a signed challenge. Nothing is stored here:
// the passphrase field is cleared whatever the outcome, the file's text lives only in this component.

import { useEffect, useRef, useState } from "preact/hooks";
import { signIn } from "../lib/session.js";
import type { Session } from "../lib/types.js";
import { describeError, type ErrorMessage } from "./messages.js";

/** A bundle is a few kilobytes; refuse to read anything far larger into the page. */
const MAX_FILE_BYTES = 1024 * 1024;

interface ChosenFile {
  readonly name: string;
  readonly text: string;
}

export function SignIn(props: { onSignedIn: (session: Session) => void }) {
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
      <h1 data-testid="sign-in-heading">Sign in to Custos</h1>
      <p class="lede">
        See who accessed your health record, verified and decrypted in this browser. Your keys and your
        passphrase never leave this page.
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
            The file you were given when your identity was created. You can also drop it here.
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
        {error ? (
          <div class="error-box" role="alert" data-testid="sign-in-error" data-code={error.code}>
            <p>
              <strong>{error.title}</strong>
            </p>
            {error.detail ? <p class="detail">{error.detail}</p> : null}
          </div>
        ) : null}
      </form>
    </div>
  );
}
