// Export what is shown (every row the filters keep, not only the page on screen) as files made in
// the page by the library (CSV, JSON with the checkpoint it was verified against, a FHIR R4 Bundle)
// and saved through a Blob: nothing is sent anywhere.

import { type ExportFile, exportAccesses, exportNotices } from "../lib/exports.js";
import type { AccessRow, NoticeRow, VerificationStatus } from "../lib/types.js";
import { downloadFile } from "./download.js";
import { plural } from "./format.js";

interface Choice {
  readonly label: string;
  readonly testId: string;
  readonly make: () => ExportFile;
}

function ExportButtons(props: {
  readonly legend: string;
  readonly choices: readonly Choice[];
  readonly none: boolean;
}) {
  return (
    <fieldset class="exports" data-testid="exports">
      <legend class="exports-label">{props.legend}</legend>
      {props.choices.map((choice) => (
        <button
          key={choice.label}
          type="button"
          disabled={props.none}
          data-testid={choice.testId}
          onClick={() => downloadFile(choice.make())}
        >
          Download {choice.label}
        </button>
      ))}
    </fieldset>
  );
}

export function AccessExports(props: {
  readonly rows: readonly AccessRow[];
  readonly status?: VerificationStatus;
}) {
  const { rows, status } = props;
  return (
    <ExportButtons
      legend={`Export the ${plural(rows.length, "access", "accesses")} shown:`}
      none={rows.length === 0}
      choices={[
        { label: "CSV", testId: "export-csv", make: () => exportAccesses(rows, "csv", status) },
        { label: "JSON", testId: "export-json", make: () => exportAccesses(rows, "json", status) },
        { label: "FHIR Bundle", testId: "export-fhir", make: () => exportAccesses(rows, "fhir", status) },
      ]}
    />
  );
}

export function NoticeExports(props: {
  readonly rows: readonly NoticeRow[];
  readonly status?: VerificationStatus;
}) {
  const { rows, status } = props;
  return (
    <ExportButtons
      legend={`Export the ${plural(rows.length, "entry", "entries")} shown:`}
      none={rows.length === 0}
      choices={[
        { label: "CSV", testId: "export-notices-csv", make: () => exportNotices(rows, "csv", status) },
        { label: "JSON", testId: "export-notices-json", make: () => exportNotices(rows, "json", status) },
      ]}
    />
  );
}
