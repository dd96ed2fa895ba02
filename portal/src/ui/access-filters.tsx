// The filter form shared by the patient's timeline and the auditor's accesses. It holds what the
// person typed (local wall times, free text); `toAccessFilter` turns that into the library's filter.

import { useId } from "preact/hooks";
import { ACTIONS } from "../../../src/core/record/vocabulary.js";
import type { AccessFilter } from "../lib/types.js";
import { actionWords } from "../lib/vocabulary.js";
import { displayZone, localInputToIso } from "./format.js";

export interface FilterFields {
  readonly from: string;
  readonly to: string;
  readonly action: string;
  readonly user: string;
  readonly emergency: boolean;
  /** Auditors only: one patient, or "" for every granted patient. */
  readonly patient: string;
}

export const NO_FILTER: FilterFields = {
  from: "",
  to: "",
  action: "",
  user: "",
  emergency: false,
  patient: "",
};

export function toAccessFilter(fields: FilterFields): AccessFilter {
  const from = localInputToIso(fields.from);
  const to = localInputToIso(fields.to);
  const user = fields.user.trim();
  return {
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(fields.action ? { action: fields.action } : {}),
    ...(user ? { user } : {}),
    ...(fields.emergency ? { emergency: true } : {}),
    ...(fields.patient ? { patientIds: [fields.patient] } : {}),
  };
}

export function isFiltered(fields: FilterFields): boolean {
  return Object.keys(toAccessFilter(fields)).length > 0;
}

export function AccessFilters(props: {
  readonly value: FilterFields;
  readonly onChange: (next: FilterFields) => void;
  /** Offered as a patient filter (auditors). */
  readonly patients?: readonly string[];
  /** Names and user IDs in the loaded rows, suggested as the person types (any part matches). */
  readonly users?: readonly string[];
  readonly label: string;
}) {
  const id = useId();
  const { value, onChange } = props;
  const set = (patch: Partial<FilterFields>) => onChange({ ...value, ...patch });
  const badRange = value.from !== "" && value.to !== "" && value.from >= value.to;
  return (
    <form
      class="filters"
      aria-label={props.label}
      data-testid="access-filters"
      onSubmit={(event) => event.preventDefault()}
    >
      <div class="field">
        <label for={`${id}-from`}>From ({displayZone()} time)</label>
        <input
          id={`${id}-from`}
          name="from"
          type="datetime-local"
          value={value.from}
          onInput={(event) => set({ from: event.currentTarget.value })}
        />
      </div>
      <div class="field">
        <label for={`${id}-to`}>To, before ({displayZone()} time)</label>
        <input
          id={`${id}-to`}
          name="to"
          type="datetime-local"
          value={value.to}
          aria-invalid={badRange}
          aria-describedby={badRange ? `${id}-range` : undefined}
          onInput={(event) => set({ to: event.currentTarget.value })}
        />
      </div>
      <div class="field">
        <label for={`${id}-action`}>Action</label>
        <select
          id={`${id}-action`}
          name="action"
          value={value.action}
          onChange={(event) => set({ action: event.currentTarget.value })}
        >
          <option value="">All actions</option>
          {ACTIONS.map((action) => (
            <option key={action} value={action}>
              {actionWords(action).label}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for={`${id}-user`}>Search names and IDs</label>
        <input
          id={`${id}-user`}
          name="user"
          type="search"
          autocomplete="off"
          spellcheck={false}
          list={`${id}-users`}
          value={value.user}
          onInput={(event) => set({ user: event.currentTarget.value })}
        />
        <datalist id={`${id}-users`}>
          {(props.users ?? []).slice(0, 500).map((user) => (
            <option key={user} value={user} />
          ))}
        </datalist>
      </div>
      {props.patients ? (
        <div class="field">
          <label for={`${id}-patient`}>Patient</label>
          <select
            id={`${id}-patient`}
            name="patient"
            value={value.patient}
            onChange={(event) => set({ patient: event.currentTarget.value })}
          >
            <option value="">All granted patients</option>
            {props.patients.map((patient) => (
              <option key={patient} value={patient}>
                {patient}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <div class="field checkbox">
        <input
          id={`${id}-emergency`}
          name="emergency"
          type="checkbox"
          checked={value.emergency}
          onChange={(event) => set({ emergency: event.currentTarget.checked })}
        />
        <label for={`${id}-emergency`}>Emergency (break-the-glass) only</label>
      </div>
      <div class="field actions">
        <button type="button" onClick={() => onChange(NO_FILTER)} disabled={!isFiltered(value)}>
          Clear filters
        </button>
      </div>
      {badRange ? (
        <p class="field-error" id={`${id}-range`}>
          “To” is not after “From”: no access can match.
        </p>
      ) : null}
    </form>
  );
}
