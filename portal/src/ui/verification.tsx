// The page's one record of where verification stands: the last checkpoint every shown entry was
// proven against, every verification failure any call raised (kept until sign-out: a tampered entry
// stays tampered however many later calls succeed), and the open fork alerts. Views report into it
// through `useVerification()`; the status bar reads it.

import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useMemo, useState } from "preact/hooks";
import { isVerificationFailure } from "../lib/errors.js";
import type { AlertRow, VerificationProblem, VerificationStatus } from "../lib/types.js";

export interface VerificationState {
  readonly status: VerificationStatus | null;
  readonly problems: readonly VerificationProblem[];
  readonly openAlerts: readonly AlertRow[];
}

export interface VerificationReporter {
  /** A reply verified against this checkpoint. */
  verified(status: VerificationStatus): void;
  /** Records the error if it is a verification failure; true if it was one. */
  failed(error: unknown): boolean;
  alerts(rows: readonly AlertRow[]): void;
}

const Reporter = createContext<VerificationReporter | null>(null);
const View = createContext<VerificationState>({ status: null, problems: [], openAlerts: [] });

/** Where verification stands, for views that explain it (the tamper notice). */
export function useVerificationView(): VerificationState {
  return useContext(View);
}

export function useVerification(): VerificationReporter {
  const reporter = useContext(Reporter);
  if (reporter === null) throw new Error("useVerification outside <VerificationProvider>");
  return reporter;
}

const sameProblem = (a: VerificationProblem, b: VerificationProblem) =>
  a.code === b.code && a.index === b.index && a.message === b.message;

export function useVerificationState(): [VerificationState, VerificationReporter] {
  const [status, setStatus] = useState<VerificationStatus | null>(null);
  const [problems, setProblems] = useState<readonly VerificationProblem[]>([]);
  const [openAlerts, setOpenAlerts] = useState<readonly AlertRow[]>([]);

  const verified = useCallback((next: VerificationStatus) => {
    // A reply proven against an older checkpoint than one already shown does not move the bar back.
    setStatus((current) => (current !== null && current.size > next.size ? current : next));
  }, []);
  const failed = useCallback((error: unknown) => {
    if (!isVerificationFailure(error)) return false;
    const problem = error.problem;
    setProblems((current) =>
      current.some((p) => sameProblem(p, problem)) ? current : [...current, problem],
    );
    return true;
  }, []);
  const alerts = useCallback((rows: readonly AlertRow[]) => {
    setOpenAlerts(rows.filter((row) => !row.acknowledged));
  }, []);

  const reporter = useMemo(() => ({ verified, failed, alerts }), [verified, failed, alerts]);
  return [{ status, problems, openAlerts }, reporter];
}

export function VerificationProvider(props: {
  reporter: VerificationReporter;
  state: VerificationState;
  children: ComponentChildren;
}) {
  return (
    <Reporter.Provider value={props.reporter}>
      <View.Provider value={props.state}>{props.children}</View.Provider>
    </Reporter.Provider>
  );
}
