// An audit company's own list of the patients it is granted (its contract's directory), loaded from a
// file into this page only: one patient per line, an ID and optionally a name (CSV "ID,name" or
// tab-separated). The page then asks the node for those patients by ID, so every one of them is named,
// the one whose trail fails verification too, and shows the names beside the IDs. Nothing is stored.

import { useState } from "preact/hooks";

export type PatientDirectory = ReadonlyMap<string, string | undefined>;

const MAX_BYTES = 1024 * 1024;
const MAX_PATIENTS = 5_000;

/** Parses "ID[,name]" lines; a first line "id,name" (any case) is a header. Quotes around a cell are dropped. */
export function parsePatientList(text: string): PatientDirectory {
  const directory = new Map<string, string | undefined>();
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    const cells = line.split(/[,;\t]/).map((c) =>
      c
        .trim()
        .replace(/^"(.*)"$/, "$1")
        .trim(),
    );
    const id = cells[0] ?? "";
    if (i === 0 && /^(patient ?)?id$/i.test(id)) continue;
    if (id === "" || id.length > 128) continue;
    directory.set(id, cells.slice(1).join(" ").trim() || undefined);
    if (directory.size >= MAX_PATIENTS) break;
  }
  return directory;
}

export function PatientListLoader(props: {
  directory: PatientDirectory | null;
  onLoad: (directory: PatientDirectory | null) => void;
}) {
  const [error, setError] = useState<string | null>(null);
  return (
    <div class="patient-list field">
      <label for="patient-list-file">Your list of granted patients (optional)</label>
      <p class="hint" id="patient-list-hint">
        A CSV or text file with one patient per line: the patient ID, and optionally their name (
        <code>MRN1001,Alice Example</code>). The node names patients only when asked by ID; with your list it
        names every one, a patient whose trail fails verification too. The file stays in this page.
      </p>
      <input
        id="patient-list-file"
        type="file"
        accept=".csv,.txt,text/csv,text/plain"
        aria-describedby="patient-list-hint"
        data-testid="patient-list-file"
        onChange={async (event) => {
          setError(null);
          const file = event.currentTarget.files?.[0];
          if (!file) return;
          if (file.size > MAX_BYTES) {
            setError("The file is too large for a patient list (1 MB at most).");
            return;
          }
          const directory = parsePatientList(await file.text());
          if (directory.size === 0) {
            setError("No patient ID found in this file.");
            return;
          }
          props.onLoad(directory);
        }}
      />
      {props.directory ? (
        <p data-testid="patient-list-loaded">
          {props.directory.size} patients from your list.{" "}
          <button type="button" class="link-button" onClick={() => props.onLoad(null)}>
            Forget the list
          </button>
        </p>
      ) : null}
      {error ? (
        <p class="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
