// The key audit for administrators and the privacy office: who was enrolled or revoked, which audit
// company was granted which patients and until when, which reader was given which key, what was
// erased or held, and what the operator did. As the node lists it from its log, newest first, with
// a filter by party (ROLE/ID) and by kind; a patient appears only by tag.

import { useId, useMemo, useState } from "preact/hooks";
import { KEY_AUDIT_WORDS, type KeyAuditEvent, readKeyAudit } from "../lib/key-audit.js";
import type { Session } from "../lib/types.js";
import { TimeCell } from "./access-table.js";
import { formatCount, formatTime, plural } from "./format.js";
import { LoadStatus } from "./load-status.js";
import { ROLE_WORDS } from "./notice-table.js";
import { type Column, PagedTable } from "./paged-table.js";
import { currentValue, useLoad } from "./use-load.js";

/** The most events the page loads (the listing is narrowed with a party for more). */
export const MAX_KEY_AUDIT_EVENTS = 5_000;

/** "acme-audit (audit company)"; a patient, named by tag only, as "a patient (tag 1a2b3c4d…)". */
export function partyWords(party: string): string {
  const slash = party.indexOf("/");
  const role = party.slice(0, slash);
  const subject = party.slice(slash + 1);
  if (role === "patient" && subject.startsWith("tag:")) return `a patient (tag ${subject.slice(4, 12)}…)`;
  return `${subject} (${ROLE_WORDS[role] ?? role})`;
}

const COLUMNS: readonly Column<KeyAuditEvent>[] = [
  {
    header: "When",
    rowHeader: true,
    cell: (e) =>
      e.timeFrom === "entry" ? (
        <TimeCell time={e.time} />
      ) : (
        <span title="A key envelope carries no time: dated by the first checkpoint that covers it, to the hour">
          logged by {formatTime(e.time)}
        </span>
      ),
  },
  { header: "What", cell: (e) => KEY_AUDIT_WORDS[e.kind] ?? e.kind },
  {
    header: "Who",
    cell: (e) => (
      <ul class="plain-list">
        {e.parties.map((p) => (
          <li key={p}>{partyWords(p)}</li>
        ))}
      </ul>
    ),
  },
  {
    header: "Details",
    cell: (e) => (
      <span>
        {e.detail} <span class="mono">(entry {e.index})</span>
      </span>
    ),
  },
];

export function KeyAuditPanel(props: { session: Session }) {
  const { session } = props;
  const id = useId();
  const [draft, setDraft] = useState("");
  const [party, setParty] = useState("");
  const [kind, setKind] = useState("");
  const [audit, reload] = useLoad(
    () => readKeyAudit((q) => session.keyAudit(q), party ? { party } : {}, MAX_KEY_AUDIT_EVENTS),
    [party],
  );
  const loaded = currentValue(audit);
  const kinds = useMemo(() => [...new Set((loaded?.events ?? []).map((e) => e.kind))].sort(), [loaded]);
  const shown = useMemo(
    () => (loaded?.events ?? []).filter((e) => kind === "" || e.kind === kind),
    [loaded, kind],
  );
  return (
    <div class="key-audit">
      <form
        class="filters"
        aria-label="Filter the key audit"
        onSubmit={(event) => {
          event.preventDefault();
          setParty(draft.trim());
        }}
      >
        <div class="field">
          <label for={`${id}-party`}>Party (role/ID, e.g. auditor/acme-audit)</label>
          <input
            id={`${id}-party`}
            name="party"
            value={draft}
            pattern="[a-z-]+/[^/]+"
            onInput={(event) => setDraft(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for={`${id}-kind`}>What</label>
          <select id={`${id}-kind`} value={kind} onChange={(event) => setKind(event.currentTarget.value)}>
            <option value="">Everything</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {KEY_AUDIT_WORDS[k] ?? k}
              </option>
            ))}
          </select>
        </div>
        <div class="field actions">
          <button type="submit">Show</button>
          {party ? (
            <button
              type="button"
              onClick={() => {
                setDraft("");
                setParty("");
              }}
            >
              Show every party
            </button>
          ) : null}
        </div>
      </form>
      {audit.kind === "loading" ? (
        <p class="loading" role="status" aria-live="polite">
          Loading the key audit…
        </p>
      ) : (
        <LoadStatus state={audit} what="key audit" onRetry={reload} />
      )}
      {loaded ? (
        <>
          <p class="summary" data-testid="key-audit-summary">
            {plural(loaded.events.length, "event")}
            {party ? ` concerning ${partyWords(party)}` : ""} in the log of {formatCount(loaded.size)}{" "}
            entries, newest first
            {loaded.complete
              ? "."
              : `: only the first ${formatCount(MAX_KEY_AUDIT_EVENTS)} are loaded; name a party to narrow it.`}{" "}
            The node lists them from its log's entries; this page shows them as the node sends them.
          </p>
          <PagedTable
            caption="Key audit, newest first"
            columns={COLUMNS}
            rows={shown}
            rowKey={(e) => `${e.index} ${e.kind} ${e.parties.join(" ")}`}
            rowAttributes={(e) => ({ "data-index": e.index, "data-kind": e.kind })}
            pageSize={50}
            testId="key-audit-table"
            empty="Nothing in the log matches."
          />
        </>
      ) : null}
    </div>
  );
}
