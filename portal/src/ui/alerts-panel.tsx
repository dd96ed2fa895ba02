// Fork and tamper alerts: a witness refused the node's checkpoint and kept both signed notes. Each
// alert shows both notes as evidence; an auditor acknowledges it once it is dealt with (the node
// records who did). Open alerts also turn the status bar red.

import { useEffect, useState } from "preact/hooks";
import type { AlertRow, Session } from "../lib/types.js";
import { formatTime } from "./format.js";
import { LoadStatus } from "./load-status.js";
import { describeError, type ErrorMessage } from "./messages.js";
import { useSite } from "./site.js";
import { currentValue, useLoad } from "./use-load.js";
import { useVerification } from "./verification.js";

function evidenceLabels(alert: AlertRow): string[] {
  return alert.source === "gossip"
    ? ["The node's own signed checkpoint", `The conflicting checkpoint, shown by ${alert.witness}`]
    : ["Checkpoint the node signed", "Checkpoint the witness holds"];
}

function AlertCard(props: { alert: AlertRow; onAcknowledge: (id: number, note: string) => Promise<void> }) {
  const { alert } = props;
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState("");
  const noteId = `alert-${alert.id}-note`;
  const [error, setError] = useState<ErrorMessage | null>(null);
  const headingId = `alert-${alert.id}-heading`;
  const site = useSite();
  return (
    <article
      class={`alert-card${alert.acknowledged ? " acknowledged" : ""}`}
      aria-labelledby={headingId}
      data-testid="alert"
      data-alert-id={alert.id}
      data-acknowledged={alert.acknowledged ? "true" : "false"}
    >
      <h3 id={headingId}>
        {alert.source === "gossip"
          ? `Alert ${alert.id}: a split view, found by comparing with ${site.witnessName(alert.witness)}`
          : `Alert ${alert.id}: ${site.witnessName(alert.witness)}'s witness refused a checkpoint`}
        {alert.acknowledged ? " (acknowledged)" : ""}
      </h3>
      <p>
        <time dateTime={new Date(alert.time).toISOString()}>{formatTime(alert.time)}</time>: {alert.message}
      </p>
      {alert.evidence.length > 0 ? (
        <div class="evidence">
          {alert.evidence.map((note, i) => (
            <figure key={evidenceLabels(alert)[i] ?? i}>
              <figcaption>
                {evidenceLabels(alert)[i] ?? `Evidence ${i + 1}`}:{" "}
                {alert.evidenceSigned[i] ? (
                  <span class="status-good" data-testid="evidence-signed">
                    signed by the log's key (checked in this browser)
                  </span>
                ) : (
                  <span class="status-bad" data-testid="evidence-unsigned">
                    not signed by the log's key
                  </span>
                )}
              </figcaption>
              <pre data-testid="alert-evidence">{note}</pre>
            </figure>
          ))}
        </div>
      ) : (
        <p class="empty">The node kept no evidence with this alert.</p>
      )}
      {alert.acknowledged ? (
        alert.acknowledgedNote ? (
          <p class="ack-note" data-testid="ack-note">
            Your note: {alert.acknowledgedNote}
          </p>
        ) : null
      ) : (
        <form
          class="ack-form"
          aria-label={`Acknowledge alert ${alert.id}`}
          onSubmit={async (event) => {
            event.preventDefault();
            if (note.trim() === "") {
              setError({
                code: "NO_NOTE",
                title: "Write a note first: what was checked or done about this alert.",
              });
              return;
            }
            setBusy(true);
            setError(null);
            try {
              await props.onAcknowledge(alert.id, note.trim());
            } catch (cause) {
              setError(describeError(cause));
              setBusy(false);
            }
          }}
        >
          <label for={noteId}>Note (what was checked or done about it)</label>
          <textarea
            id={noteId}
            name="note"
            rows={2}
            maxLength={1000}
            aria-required="true"
            value={note}
            disabled={busy}
            onInput={(event) => setNote(event.currentTarget.value)}
          />
          <button type="submit" disabled={busy} aria-label={`Acknowledge alert ${alert.id}`}>
            {busy ? "Acknowledging…" : "Acknowledge"}
          </button>
        </form>
      )}
      {error ? (
        <p class="error-box" role="alert">
          Could not acknowledge: {error.title} {error.detail ?? ""}
        </p>
      ) : null}
    </article>
  );
}

export function AlertsPanel(props: { session: Session }) {
  const { session } = props;
  const verification = useVerification();
  const [showAll, setShowAll] = useState(false);
  const [state, reload] = useLoad(() => session.alerts(showAll), [showAll]);
  const alerts = currentValue(state);

  useEffect(() => {
    if (alerts) verification.alerts(alerts);
  }, [alerts, verification]);

  return (
    <>
      <div class="toolbar">
        <div class="field checkbox">
          <input
            id="alerts-show-all"
            type="checkbox"
            checked={showAll}
            onChange={(event) => setShowAll(event.currentTarget.checked)}
          />
          <label for="alerts-show-all">Show acknowledged alerts too</label>
        </div>
        <button type="button" onClick={reload}>
          Check for alerts
        </button>
      </div>
      <LoadStatus state={state} what="alerts" onRetry={reload} />
      {alerts ? (
        alerts.length === 0 ? (
          <p class="empty" data-testid="no-alerts">
            {showAll ? "No witness has ever refused this log's checkpoints." : "No open alerts."}
          </p>
        ) : (
          <div data-testid="alerts">
            {alerts.map((alert) => (
              <AlertCard
                key={alert.id}
                alert={alert}
                onAcknowledge={async (id, note) => {
                  await session.acknowledgeAlert(id, note);
                  reload();
                }}
              />
            ))}
          </div>
        )
      ) : null}
    </>
  );
}
