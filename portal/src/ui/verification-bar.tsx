// The verification status shown on every view, as one state in plain words: checking (or, on a view
// that shows nothing proven against the log, saying so); "This list is
// complete and unaltered, confirmed by <the witnesses' organisations>"; or, in red and never beside a
// green mark, an entry that failed its integrity check or a possible fork of the log. The checkpoint,
// the witness count and quorum and the signed note are technical details, shown on request.

import { useState } from "preact/hooks";
import { listWords } from "../lib/site.js";
import type { AlertRow, VerificationProblem, VerificationStatus } from "../lib/types.js";
import { formatCount, formatTime } from "./format.js";
import { useSite } from "./site.js";
import type { VerificationState } from "./verification.js";

/** The organisations whose witnesses cosigned, by the deployment's names for them. */
export function useConfirmers(status: VerificationStatus | null): string[] {
  const site = useSite();
  return [...new Set((status?.cosigned ?? []).map((c) => site.witnessName(c.name)))];
}

function technicalSentence(status: VerificationStatus): string {
  const times = status.cosigned.map((c) => c.time);
  const at = times.length > 0 ? `, at ${formatTime(Math.max(...times))}` : "";
  const behind = status.behind
    ? ` The node's newest checkpoint is ${formatCount(status.behind.entries)} entries and ${formatCount(status.behind.seconds)} seconds ahead of it and not yet cosigned by the quorum.`
    : "";
  return (
    `Checkpoint of ${formatCount(status.size)} entries, cosigned by ${status.cosigned.length} of ` +
    `${status.witnessCount} witnesses (quorum ${status.quorum})${at}.${behind}`
  );
}

/** "7 minutes", "2 hours": how long ago, in words, from seconds. */
export function durationWords(seconds: number): string {
  const unit = (n: number, one: string) => `${formatCount(n)} ${one}${n === 1 ? "" : "s"}`;
  if (seconds < 60) return "less than a minute";
  if (seconds < 3600) return unit(Math.round(seconds / 60), "minute");
  if (seconds < 86_400) return unit(Math.round(seconds / 3600), "hour");
  return unit(Math.round(seconds / 86_400), "day");
}

/**
 * When the reply was proven against an older checkpoint than the log's newest (a witness has not yet
 * cosigned the newest): what that means for the list, in words.
 */
export function behindSentence(behind: { entries: number; seconds: number }): string {
  return (
    `The hospital's log has ${formatCount(behind.entries)} newer ${behind.entries === 1 ? "entry" : "entries"}, ` +
    `from the last ${durationWords(behind.seconds)}, that not every witness has confirmed yet (one may be ` +
    "down or slow), so any access among them is not shown yet. Look again later."
  );
}

/** The entry a problem concerns, in words: "Entry 3,119 failed its integrity check". */
export function problemHeadline(problem: VerificationProblem): string {
  if (problem.code === "TRAIL_INCOMPLETE") return "The trail the node sent is incomplete";
  return problem.index === undefined
    ? "A reply from the log failed its integrity check"
    : `Entry ${problem.index} failed its integrity check`;
}

function AlertItem(props: { alert: AlertRow }) {
  const site = useSite();
  const { alert } = props;
  return (
    <li data-alert-id={alert.id}>
      {site.witnessName(alert.witness)} found a conflicting checkpoint on {formatTime(alert.time)}.
    </li>
  );
}

export function VerificationBar(props: {
  state: VerificationState;
  onShowAlerts?: () => void;
  /** For a view that shows nothing proven against the log: said instead of "Checking…". */
  unverified?: string;
}) {
  const { status, problems, openAlerts } = props.state;
  const [details, setDetails] = useState(false);
  const confirmers = useConfirmers(status);
  const state =
    problems.length > 0
      ? "tampered"
      : openAlerts.length > 0
        ? "forked"
        : status !== null
          ? "ok"
          : props.unverified
            ? "unverified"
            : "pending";
  return (
    <section class="verification" aria-label="Verification status">
      <div
        class={`verification-status ${state === "ok" ? "ok" : state === "pending" || state === "unverified" ? "pending" : "stale"}`}
        data-testid="verification-status"
        data-state={state}
        data-size={status?.size}
        data-behind={state === "ok" && status?.behind ? status.behind.entries : undefined}
        role="status"
        aria-live="polite"
      >
        <span class="verification-mark" aria-hidden="true">
          {state === "ok" ? "✓" : state === "pending" ? "…" : state === "unverified" ? "i" : "!"}
        </span>
        <span class="verification-text">
          {state === "unverified"
            ? props.unverified
            : state === "pending"
              ? "Checking that this list is complete and unaltered…"
              : state === "ok"
                ? status?.behind
                  ? `This list is unaltered and complete up to about ${durationWords(status.behind.seconds)} ago, confirmed by ${listWords(confirmers) || "the log's signature"}. ${behindSentence(status.behind)}`
                  : `This list is complete and unaltered, confirmed by ${listWords(confirmers) || "the log's signature"}.`
                : state === "tampered"
                  ? problems.every((p) => p.code === "TRAIL_INCOMPLETE")
                    ? "This list could not be confirmed: the node left out entries the hospital's signed log holds."
                    : "This list could not be confirmed: part of the hospital's log failed its integrity check."
                  : "This list could not be confirmed: the hospital's log may have been forked."}
        </span>
        {status !== null ? (
          <button
            type="button"
            class="link-button"
            aria-expanded={details}
            onClick={() => setDetails(!details)}
          >
            {details ? "Hide technical details" : "Technical details"}
          </button>
        ) : null}
      </div>
      {details && status !== null ? (
        <div class="verification-details" data-testid="verification-details">
          <p>
            {state === "ok" ? "" : "Last verified: "}
            {technicalSentence(status)} Every entry shown was proven part of this checkpoint, which the log
            signed and the witnesses cosigned.
          </p>
          <pre class="checkpoint-note" data-testid="checkpoint-note">
            {status.note}
          </pre>
        </div>
      ) : null}
      {problems.length > 0 ? (
        <div class="verification-problem" role="alert" data-testid="verification-problem">
          <p class="problem-title">Do not rely on this page until the hospital has explained this.</p>
          <ul>
            {problems.map((problem) => (
              <li
                key={`${problem.code}:${problem.index}:${problem.message}`}
                data-code={problem.code}
                data-index={problem.index}
              >
                <strong>{problemHeadline(problem)}</strong>: {problem.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {openAlerts.length > 0 ? (
        <div class="verification-problem" role="alert" data-testid="fork-alert-warning">
          <p class="problem-title">
            The log may have been forked: the node showed{" "}
            {openAlerts.length === 1 ? "a checkpoint" : "checkpoints"} that conflict with what a witness
            holds.
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
