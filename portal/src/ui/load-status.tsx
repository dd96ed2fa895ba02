// What a section shows while its data loads or after it failed to: a polite status, or an alert
// with the reason and a way to try again. A failed integrity check is permanent: the view explains it
// (tamper-notice.tsx) and offers no retry.

import type { LoadState } from "./use-load.js";

export function LoadStatus<T>(props: { state: LoadState<T>; what: string; onRetry: () => void }) {
  const { state } = props;
  if (state.kind === "loading") {
    return (
      <p class="loading" role="status" aria-live="polite">
        Loading and verifying {props.what}…
      </p>
    );
  }
  if (state.kind === "failed" && state.verification) {
    return (
      <p class="error-box" data-testid="load-error" data-code={state.error.code}>
        <strong>The {props.what} cannot be shown: they failed their integrity check (see above).</strong>
      </p>
    );
  }
  if (state.kind === "failed") {
    return (
      <div class="error-box" role="alert" data-testid="load-error" data-code={state.error.code}>
        <p>
          <strong>
            Could not load the {props.what}: {state.error.title}
          </strong>
        </p>
        {state.error.detail ? <p class="detail">{state.error.detail}</p> : null}
        <button type="button" onClick={props.onRetry}>
          Try again
        </button>
      </div>
    );
  }
  return null;
}
