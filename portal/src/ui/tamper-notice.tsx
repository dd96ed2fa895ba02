// What a person reads when entries fail verification: what it means, what can still be shown safely
// and what cannot, what to do and whom to contact (the deployment's privacy contact), and a reference
// to quote (the entry and the checkpoint it was checked against). A failed integrity check is
// permanent, so there is no "Try again"; the internal code is in the technical details only.

import { listWords } from "../lib/site.js";
import type { VerificationProblem } from "../lib/types.js";
import { formatCount } from "./format.js";
import { useSite } from "./site.js";
import { useVerificationView } from "./verification.js";
import { useConfirmers } from "./verification-bar.js";

/** The root hash line of a checkpoint note, shortened for reading aloud. */
function rootHashPrefix(note: string): string | undefined {
  return note.split("\n")[2]?.slice(0, 12);
}

export function TamperNotice(props: {
  readonly problems: readonly VerificationProblem[];
  /** What is still shown because it verified on its own. */
  readonly stillShown: string;
  /** What is not shown. */
  readonly notShown: string;
  /** An archive file failed its checks (not the live log): its SHA-256 (hex) is the reference. */
  readonly archive?: { readonly sha256: string };
}) {
  const site = useSite();
  const { status } = useVerificationView();
  const confirmers = useConfirmers(status);
  const contact = site.privacyContact;
  const incomplete = props.problems.some((p) => p.code === "TRAIL_INCOMPLETE");
  const entries = props.problems.flatMap((p) => (p.index === undefined ? [] : [p.index]));
  const hash = status ? rootHashPrefix(status.note) : undefined;
  const reference = props.archive
    ? `Archive SHA-256 ${props.archive.sha256.slice(0, 16)}…${entries.length > 0 ? `, entry ${entries.join(", ")}` : ""}`
    : `${entries.length > 0 ? `Entry ${entries.join(", ")}` : "A reply"}` +
      (status ? `, checkpoint ${formatCount(status.size)}${hash ? ` (${hash}…)` : ""}` : "");
  const office = contact ? contact.name : `the privacy office of ${site.hospital}`;
  return (
    <section class="tamper-notice" aria-labelledby="tamper-heading" data-testid="tamper-notice">
      <h2 id="tamper-heading">
        {props.archive
          ? "This archive failed its integrity check"
          : incomplete
            ? "This trail is incomplete"
            : "Part of this trail failed its integrity check"}
      </h2>
      <h3>What this means</h3>
      {props.archive ? (
        <p>
          This archive file does not match what the log of {site.hospital} signed: it was changed after it was
          made, damaged while it was copied or stored, or it is not an archive of your identity's log. You did
          nothing wrong. A file that fails its check cannot be trusted in any part, so nothing in it is shown
          as verified.
        </p>
      ) : incomplete ? (
        <p>
          The log of {site.hospital}, signed
          {confirmers.length > 0 ? ` and confirmed by ${listWords(confirmers)}` : ""}, says this trail holds
          entries that the node did not send: it left some out. You did nothing wrong. This page cannot say
          who accessed the record in the entries left out.
        </p>
      ) : (
        <p>
          {entries.length === 1 ? "An entry" : "Entries"} in the audit log of {site.hospital} no longer{" "}
          {entries.length === 1 ? "matches" : "match"} what was signed
          {confirmers.length > 0 ? ` and confirmed by ${listWords(confirmers)}` : ""}: the stored log was
          changed after it was written. You did nothing wrong. It does not by itself mean that your health
          record was changed, but this page cannot say who accessed it in that entry.
        </p>
      )}
      <h3>What is still shown, and what is not</h3>
      <p data-testid="tamper-still-shown">{props.stillShown}</p>
      <p data-testid="tamper-not-shown">{props.notShown}</p>
      <h3>What to do</h3>
      {props.archive ? (
        <p>
          Opening it again will not change this: the change is in the file. Ask whoever gave you the archive
          for another copy (the reference below lets them compare theirs), and tell {office}, quoting the
          reference.
        </p>
      ) : (
        <p>
          This will not go away by reloading or signing in again: the change is in the stored log. Tell{" "}
          {office} and quote the reference below.
        </p>
      )}
      {contact ? (
        <ul class="contact" data-testid="privacy-contact">
          <li>
            <strong>{contact.name}</strong>
          </li>
          {contact.email ? (
            <li>
              Email: <a href={`mailto:${contact.email}`}>{contact.email}</a>
            </li>
          ) : null}
          {contact.phone ? (
            <li>
              Phone: <a href={`tel:${contact.phone.replace(/[^\d+]/g, "")}`}>{contact.phone}</a>
            </li>
          ) : null}
          {contact.url ? (
            <li>
              Web: <a href={contact.url}>{contact.url}</a>
            </li>
          ) : null}
        </ul>
      ) : null}
      <p class="reference">
        Reference to quote: <strong data-testid="tamper-reference">{reference}</strong>
      </p>
      <details>
        <summary>Technical details</summary>
        <ul>
          {props.problems.map((p) => (
            <li key={`${p.code}:${p.index}`}>
              <span class="code">{p.code}</span>: {p.message}
            </li>
          ))}
        </ul>
      </details>
    </section>
  );
}
