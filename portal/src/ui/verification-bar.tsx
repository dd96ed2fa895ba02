// The verification status shown on every view: green while every reply verified against a checkpoint
// cosigned by the witness quorum; red, naming the entry and the check that failed, as soon as any
// reply did not, and while a witness's fork alert is open.

import { useState } from "preact/hooks";
import type { AlertRow, VerificationProblem, VerificationStatus } from "../lib/types.js";
import { formatCount, formatTime } from "./format.js";
import type { VerificationState } from "./verification.js";

function statusSentence(status: VerificationStatus): string {
  const times = status.cosigned.map((c) => c.time);
  const at = times.length > 0 ? `, at ${formatTime(Math.max(...times))}` : "";
  return (
    `checkpoint of ${formatCount(status.size)} entries, cosigned by ${status.cosigned.length} of ` +
    `${status.witnessCount} witnesses (quorum ${status.quorum})${at}`
  );
}

function problemSentence(problem: VerificationProblem): string {
  // The library's sentence usually names the entry already; say it only where it does not.
  const named = problem.index === undefined || new RegExp(`\\b${problem.index}\\b`).test(problem.message);
  const entry = named ? "" : ` (entry ${problem.index})`;
  return `${problem.message}${entry}`;
}

function ProblemItem(props: { problem: VerificationProblem }) {
  const { problem } = props;
  return (
    <li data-code={problem.code} data-index={problem.index}>
      <strong>{problemSentence(problem)}</strong> <span class="code">{problem.code}</span>
    </li>
  );
}

function AlertItem(props: { alert: AlertRow }) {
  const { alert } = props;
  return (
    <li data-alert-id={alert.id}>
      <strong>
        Witness {alert.witness} refused a checkpoint at {formatTime(alert.time)}: {alert.message}
      </strong>
    </li>
  );
}

export function VerificationBar(props: { state: VerificationState; onShowAlerts?: () => void }) {
  const { status, problems, openAlerts } = props.state;
  const [showNote, setShowNote] = useState(false);
  const failing = problems.length > 0;
  return (
    <section class="verification" aria-label="Verification status">
      <div
        class={`verification-status ${status === null ? "pending" : failing ? "stale" : "ok"}`}
        data-testid="verification-status"
        data-size={status?.size}
        role="status"
        aria-live="polite"
      >
        {status === null ? (
          <span>Not verified yet: waiting for the first reply from the log.</span>
        ) : (
          <>
            <span class="verification-mark" aria-hidden="true">
              {failing ? "!" : "✓"}
            </span>
            <span>
              {failing ? "Last verified: " : "Verified: "}
              {statusSentence(status)}
            </span>
            <button
              type="button"
              class="link-button"
              aria-expanded={showNote}
              onClick={() => setShowNote(!showNote)}
            >
              {showNote ? "Hide checkpoint" : "Show checkpoint"}
            </button>
          </>
        )}
      </div>
      {showNote && status !== null ? (
        <pre class="checkpoint-note" data-testid="checkpoint-note">
          {status.note}
        </pre>
      ) : null}
      {failing ? (
        <div class="verification-problem" role="alert" data-testid="verification-problem">
          <p class="problem-title">
            Verification failed: do not trust what this page shows until this is explained.
          </p>
          <ul>
            {problems.map((problem) => (
              <ProblemItem key={`${problem.code}:${problem.index}:${problem.message}`} problem={problem} />
            ))}
          </ul>
        </div>
      ) : null}
      {openAlerts.length > 0 ? (
        <div class="verification-problem" role="alert" data-testid="fork-alert-warning">
          <p class="problem-title">
            The log may have been forked: {openAlerts.length === 1 ? "a witness" : "witnesses"} refused{" "}
            {openAlerts.length === 1 ? "a checkpoint" : `${openAlerts.length} checkpoints`}.
          </p>
          <ul>
            {openAlerts.map((alert) => (
              <AlertItem key={alert.id} alert={alert} />
            ))}
          </ul>
          {props.onShowAlerts ? (
            <button type="button" class="link-button" onClick={props.onShowAlerts}>
              See the evidence
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
