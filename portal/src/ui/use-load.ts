// Runs one of the session's calls and keeps its state for a view: loading, ready or failed. Every
// reply that carries a verification status moves the status bar; a verification failure (of the
// whole reply, or of the part of it listed in `problems`) is reported there in red as well as in the
// view.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { isVerificationFailure, VerificationFailureError } from "../lib/errors.js";
import type { VerificationProblem, VerificationStatus } from "../lib/types.js";
import { describeError, type ErrorMessage } from "./messages.js";
import { useVerification } from "./verification.js";

export type LoadState<T> =
  | { readonly kind: "loading"; readonly previous?: T }
  | { readonly kind: "ready"; readonly value: T }
  | {
      readonly kind: "failed";
      readonly error: ErrorMessage;
      readonly verification: boolean;
      /** The verification failure, when it is one (permanent: no retry). */
      readonly problem?: VerificationProblem;
    };

function statusOf(value: unknown): VerificationStatus | undefined {
  const status = (value as { status?: VerificationStatus } | null)?.status;
  return typeof status?.size === "number" ? status : undefined;
}

function problemsOf(value: unknown): readonly VerificationProblem[] {
  return (value as { problems?: readonly VerificationProblem[] } | null)?.problems ?? [];
}

/** `deps`: values the load reads; a change loads again. */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: readonly unknown[] = [],
): [LoadState<T>, () => void] {
  const verification = useVerification();
  const [state, setState] = useState<LoadState<T>>({ kind: "loading" });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((current) =>
      current.kind === "ready" ? { kind: "loading", previous: current.value } : { kind: "loading" },
    );
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        const status = statusOf(value);
        if (status) verification.verified(status);
        // Part of a reply failed verification while the rest verified: red in the bar all the same.
        for (const problem of problemsOf(value)) verification.failed(new VerificationFailureError(problem));
        setState({ kind: "ready", value });
      },
      (error: unknown) => {
        if (mine !== generation.current) return;
        const isVerification = verification.failed(error);
        setState({
          kind: "failed",
          error: describeError(error),
          verification: isVerification,
          ...(isVerificationFailure(error) ? { problem: error.problem } : {}),
        });
      },
    );
  }, [verification]);

  useEffect(() => {
    run();
    return () => {
      generation.current++;
    };
  }, [run, ...deps]);

  return [state, run];
}

export function currentValue<T>(state: LoadState<T>): T | undefined {
  return state.kind === "ready" ? state.value : state.kind === "loading" ? state.previous : undefined;
}
