// "Open an archive": a regulator, patient or audit company picks an archive file (`custos archive`),
// their identity bundle and its passphrase; the page verifies the archive and opens what their key
// reads, here in the browser. No sign-in and nothing sent: the archive and the keys never leave the
// page (the only request is the portal's open settings, for the witness keys of this log).

import { useEffect, useRef, useState } from "preact/hooks";
import {
  ArchiveRefusedError,
  MAX_ARCHIVE_FILE_BYTES,
  type OpenedArchiveView,
  openArchiveFile,
} from "../lib/archive.js";
import { checkPortalConfig } from "../lib/session.js";
import { siteOf } from "../lib/site.js";
import type { PortalConfig } from "../lib/types.js";
import { describeError, type ErrorMessage } from "./messages.js";
import { ViewHeading } from "./view-heading.js";

/** A bundle is a few kilobytes. */
const MAX_BUNDLE_BYTES = 1024 * 1024;

/** The portal's open settings (no login): the witness keys of its log, the hospital's words. */
export function usePortalConfig(): PortalConfig | null | undefined {
  const [config, setConfig] = useState<PortalConfig | null | undefined>(undefined);
  useEffect(() => {
    let live = true;
    fetch(new URL("portal/config.json", document.baseURI), { cache: "no-store" })
      .then((reply) => (reply.ok ? reply.json() : null))
      .then((json: unknown) => {
        if (live) setConfig(json === null ? null : checkPortalConfig(json));
      })
      .catch(() => {
        if (live) setConfig(null);
      });
    return () => {
      live = false;
    };
  }, []);
  return config;
}

export type ArchiveOutcome =
  | { readonly kind: "opened"; readonly archive: OpenedArchiveView; readonly config: PortalConfig | null }
  | { readonly kind: "refused"; readonly refusal: ArchiveRefusedError; readonly config: PortalConfig | null };

interface Picked<T> {
  readonly name: string;
  readonly value: T;
}

export function ArchiveOpen(props: { onOutcome: (outcome: ArchiveOutcome) => void; onBack: () => void }) {
  const config = usePortalConfig();
  const site = config ? siteOf(config) : undefined;
  const [archive, setArchive] = useState<Picked<Uint8Array> | null>(null);
  const [bundle, setBundle] = useState<Picked<string> | null>(null);
  const [passphrase, setPassphrase] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorMessage | null>(null);
  const passphraseInput = useRef<HTMLInputElement>(null);

  async function chooseArchive(file: File | undefined) {
    setError(null);
    setArchive(null);
    if (file === undefined) return;
    if (file.size > MAX_ARCHIVE_FILE_BYTES) {
      setError({
        code: "TOO_LARGE",
        title: "This archive is larger than this page opens.",
        detail: "Open it with custos read --archive on a computer.",
      });
      return;
    }
    try {
      setArchive({ name: file.name, value: new Uint8Array(await file.arrayBuffer()) });
    } catch (cause) {
      setError({ code: "NO_FILE", title: "This file could not be read.", detail: String(cause) });
    }
  }

  async function chooseBundle(file: File | undefined) {
    setError(null);
    setBundle(null);
    if (file === undefined) return;
    if (file.size > MAX_BUNDLE_BYTES) {
      setError({ code: "BAD_BUNDLE", title: "The file is too large to be an identity bundle." });
      return;
    }
    try {
      setBundle({ name: file.name, value: await file.text() });
      passphraseInput.current?.focus();
    } catch (cause) {
      setError({ code: "BAD_BUNDLE", title: "This file could not be read.", detail: String(cause) });
    }
  }

  async function submit(event: Event) {
    event.preventDefault();
    if (busy || config === undefined) return;
    if (archive === null) return setError({ code: "NO_FILE", title: "Choose the archive file first." });
    if (bundle === null) return setError({ code: "NO_FILE", title: "Choose your identity bundle file." });
    if (passphrase === "")
      return setError({ code: "NO_PASSPHRASE", title: "Type the passphrase of your identity bundle." });
    setBusy(true);
    setError(null);
    try {
      const opened = await openArchiveFile(
        { name: archive.name, bytes: archive.value },
        bundle.value,
        passphrase,
        config,
      );
      setPassphrase("");
      props.onOutcome({ kind: "opened", archive: opened, config });
    } catch (cause) {
      setPassphrase("");
      setBusy(false);
      if (cause instanceof ArchiveRefusedError) props.onOutcome({ kind: "refused", refusal: cause, config });
      else setError(describeError(cause));
    }
  }

  return (
    <div class="sign-in archive-open">
      <ViewHeading testId="archive-open-heading">
        Open an archive{site ? ` of ${site.hospital}'s audit log` : ""}
      </ViewHeading>
      <p class="lede">
        An archive is one signed file holding a period of the audit log, made for named readers: a regulator,
        an audit company, a patient. This page checks it and opens the records your key reads, here in this
        browser: the archive, your keys and your passphrase are not sent anywhere, and you do not sign in.
      </p>
      <form class="card sign-in-form" aria-label="Open an archive" aria-busy={busy} onSubmit={submit}>
        <div class="field">
          <label for="archive-file">Archive file</label>
          <p class="hint" id="archive-file-hint">
            The file <code>custos archive</code> wrote (often ending in <code>.custos-archive</code>).
          </p>
          <input
            id="archive-file"
            type="file"
            aria-describedby="archive-file-hint"
            disabled={busy}
            onChange={(event) => void chooseArchive(event.currentTarget.files?.[0])}
          />
          {archive ? (
            <p class="chosen" data-testid="chosen-archive">
              Chosen: <strong>{archive.name}</strong>
            </p>
          ) : null}
        </div>
        <div class="field">
          <label for="archive-bundle-file">Your identity bundle file</label>
          <p class="hint" id="archive-bundle-hint">
            The <code>.custos-id</code> file you were given: it carries the log's key the archive is checked
            against, and your key that opens it.
          </p>
          <input
            id="archive-bundle-file"
            type="file"
            aria-describedby="archive-bundle-hint"
            disabled={busy}
            onChange={(event) => void chooseBundle(event.currentTarget.files?.[0])}
          />
          {bundle ? (
            <p class="chosen" data-testid="chosen-archive-bundle">
              Chosen: <strong>{bundle.name}</strong>
            </p>
          ) : null}
        </div>
        <div class="field">
          <label for="archive-passphrase">Passphrase</label>
          <input
            id="archive-passphrase"
            type="password"
            autocomplete="current-password"
            ref={passphraseInput}
            value={passphrase}
            disabled={busy}
            onInput={(event) => setPassphrase(event.currentTarget.value)}
          />
        </div>
        <button
          type="submit"
          class="primary"
          disabled={busy || config === undefined}
          data-testid="open-archive-button"
        >
          {busy ? "Checking the archive…" : "Check and open the archive"}
        </button>
        <p class="busy" role="status" aria-live="polite" data-testid="archive-busy">
          {busy
            ? "Checking every signature and proof, then unlocking your keys. This can take a few seconds."
            : ""}
        </p>
        {error ? (
          <div class="error-box" role="alert" data-testid="archive-error" data-code={error.code}>
            <p>
              <strong>{error.title}</strong>
            </p>
            {error.detail ? <p class="detail">{error.detail}</p> : null}
          </div>
        ) : null}
      </form>
      <p>
        <button type="button" class="link-button" onClick={props.onBack} data-testid="back-to-sign-in">
          Back to sign-in
        </button>
      </p>
    </div>
  );
}
