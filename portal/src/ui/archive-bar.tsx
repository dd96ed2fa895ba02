// The verification status of an opened archive, in plain words: what was checked (the archive's
// signature, its checkpoints and their cosignatures, every entry's inclusion proof, the contents, the
// time range), against which keys, and what an archive does not prove. A refused archive shows only
// the red state naming each failed check: nothing of it is called verified.

import { useState } from "preact/hooks";
import { type ArchiveRefusedError, archiveProblemHeadline, type OpenedArchiveView } from "../lib/archive.js";
import { keyName, listWords } from "../lib/site.js";
import { formatCount, formatTime, plural } from "./format.js";
import { useSite } from "./site.js";

/** The range as the archive defines it: records whose hour lies in [hour of from, to). */
export function rangeWords(from: number, to: number): string {
  return `${formatTime(Math.floor(from / 3_600_000) * 3_600_000)} to ${formatTime(to)}`;
}

export function ArchiveBar(props: { archive: OpenedArchiveView }) {
  const { archive } = props;
  const { summary, trust } = archive;
  const site = useSite();
  const [details, setDetails] = useState(false);
  const confirmers = [...new Set(summary.cosigners.map((name) => site.witnessName(name)))];
  const entries = summary.records + summary.envelopes + summary.erasures;
  const checked = (id: string, text: string, ok = true) => (
    <li data-check={id} data-checked={ok ? "true" : "false"}>
      <span class="verification-mark-small" aria-hidden="true">
        {ok ? "✓" : "–"}
      </span>{" "}
      {text}
    </li>
  );
  return (
    <section class="verification" aria-label="Verification status">
      <div
        class="verification-status ok"
        data-testid="verification-status"
        data-state="ok"
        data-size={summary.size}
        role="status"
      >
        <span class="verification-mark" aria-hidden="true">
          ✓
        </span>
        <span class="verification-text">
          This archive is authentic and unaltered: signed with the log's key from your identity bundle
          {confirmers.length > 0 ? `, confirmed by ${listWords(confirmers)}` : ""}.
        </span>
        <button
          type="button"
          class="link-button"
          aria-expanded={details}
          onClick={() => setDetails(!details)}
        >
          {details ? "Hide technical details" : "Technical details"}
        </button>
      </div>
      <ul class="archive-checks" data-testid="archive-checks">
        {checked(
          "signature",
          `The archive's signature: the log of ${site.hospital} signed this very file (${keyName(trust.logKey)}, the key in your identity bundle); any change to it would break the signature.`,
        )}
        {checked(
          "checkpoints",
          `Checkpoints: the log signed the checkpoint of ${formatCount(summary.size)} entries the archive is proven against${
            archive.checkpoints > 0
              ? `, and ${plural(archive.checkpoints, "earlier checkpoint")} ${archive.checkpoints === 1 ? "is" : "are"} proven consistent with it (the log's history was not rewritten in between)`
              : ""
          }.`,
        )}
        {trust.noWitnesses === undefined
          ? checked(
              "cosignatures",
              `Cosignatures: ${listWords(confirmers)} cosigned the checkpoint of ${formatCount(summary.witnessedSize)} entries (${summary.cosigners.length} of ${trust.witnessKeys.length} witnesses, ${trust.quorum} required; their keys are the ones this portal names for this log).${
                summary.unwitnessed > 0
                  ? ` ${plural(summary.unwitnessed, "entry", "entries")} of the archive came after it and ${summary.unwitnessed === 1 ? "rests" : "rest"} on the log's signature alone.`
                  : ""
              }`,
            )
          : checked("cosignatures", `Not checked: ${trust.noWitnesses}`, false)}
        {checked(
          "inclusion",
          `Inclusion proofs: each of its ${plural(entries, "entry", "entries")} (${plural(summary.records, "access record")}, ${plural(summary.envelopes, "key envelope")}, ${plural(summary.erasures, "erasure entry", "erasure entries")}) is proven part of the log.`,
        )}
        {checked(
          "contents",
          `Contents: every record's encrypted content matches what its log entry commits to${
            summary.erasedContents > 0
              ? `; ${plural(summary.erasedContents, "erased item")} ${summary.erasedContents === 1 ? "is" : "are"} left out, each named by an erasure entry in the archive`
              : ""
          }.`,
        )}
        {checked(
          "range",
          `Time range: every record is from ${rangeWords(summary.from, summary.to)} (${site.timeZone} time), the range the archive was made for.`,
        )}
        {checked(
          "limits",
          "Not proven by an archive: that no record of this range was left out of it. It proves that each record it holds is in the log, unaltered.",
          false,
        )}
      </ul>
      {details ? (
        <div class="verification-details" data-testid="verification-details">
          <p>
            File {archive.file.name}, {formatCount(archive.file.bytes)} bytes, SHA-256{" "}
            <span class="mono" data-testid="archive-sha256">
              {archive.file.sha256}
            </span>
            ; made {formatTime(summary.createdAt)} for {listWords([...summary.readers]) || "no named reader"}.
          </p>
          <p>
            Log key: <span class="mono">{trust.logKey}</span>
          </p>
          {trust.witnessKeys.length > 0 ? (
            <p>
              Witness keys: <span class="mono">{trust.witnessKeys.join(", ")}</span>
            </p>
          ) : null}
          <p>The archive's checkpoint:</p>
          <pre class="checkpoint-note" data-testid="checkpoint-note">
            {archive.status.note}
          </pre>
          {archive.witnessedNote !== undefined && archive.witnessedNote !== archive.status.note ? (
            <>
              <p>The checkpoint the witnesses cosigned:</p>
              <pre class="checkpoint-note">{archive.witnessedNote}</pre>
            </>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

export function ArchiveRefusedBar(props: { refusal: ArchiveRefusedError }) {
  const { problems } = props.refusal;
  return (
    <section class="verification" aria-label="Verification status">
      <div
        class="verification-status stale"
        data-testid="verification-status"
        data-state="tampered"
        role="status"
      >
        <span class="verification-mark" aria-hidden="true">
          !
        </span>
        <span class="verification-text">
          This archive could not be confirmed: it failed its integrity check, and nothing in it is shown.
        </span>
      </div>
      <div class="verification-problem" role="alert" data-testid="verification-problem">
        <p class="problem-title">Do not rely on this archive.</p>
        <ul>
          {problems.map((problem) => (
            <li
              key={`${problem.code}:${problem.index}:${problem.message}`}
              data-code={problem.code}
              data-index={problem.index}
            >
              <strong>{archiveProblemHeadline(problem)}</strong>: {problem.message}
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}
