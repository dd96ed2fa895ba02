// What the page tells a person when something fails: the shared table's code (src/core/errors.ts), a
// title (the page's own longer wording where a person needs to know what to do, else the table's),
// and the library's own sentence as the detail. Verification failures are not here: they carry a
// problem the status bar shows in red (verification-bar.tsx).

import { type ErrorCode, errorTitle, isErrorCode } from "../../../src/core/errors.js";

export interface ErrorMessage {
  readonly code: ErrorCode;
  readonly title: string;
  readonly detail?: string;
}

/** The patient-facing wording, keyed by the shared codes; any other code shows the table's title. */
const EXPLANATIONS: Readonly<Partial<Record<ErrorCode, string>>> = {
  BAD_BUNDLE: "This file is not a usable Custos identity bundle. Choose the bundle file you were given.",
  BAD_PASSPHRASE: "The passphrase does not open this identity bundle. Check it and try again.",
  WRONG_DEPLOYMENT: "This identity bundle belongs to another Custos deployment than this portal's.",
  UNKNOWN_CA: "This identity bundle belongs to another Custos deployment than this portal's.",
  CERT_EXPIRED: "This identity has expired. Ask the organization that issued it for a new one.",
  CERT_NOT_YET_VALID: "This identity is not valid yet. Check that this device's date and time are right.",
  CERT_REVOKED: "This identity has been revoked. Ask the organization that issued it for a new one.",
  LOGIN_FAILED: "Signing in to the Custos node could not be completed.",
  UNAVAILABLE: "The Custos node could not be reached. Check your connection and try again.",
  STORE_BUSY: "The Custos node is busy right now. Try again in a moment.",
  CONFIG: "This portal's configuration is unusable. Tell the organization that runs it.",
  UNSUPPORTED_BROWSER:
    "This browser lacks a feature the portal needs. Use a current Chrome, Edge or Firefox.",
  SIGNED_OUT: "You have been signed out. Sign in again.",
  // An identity the node does not know (revoked or replaced, at sign-in or since, or never enrolled).
  NOT_AUTHENTICATED:
    "The Custos node does not accept this identity: it was revoked or replaced, or never enrolled. Ask the organization that issued it.",
  TOKEN_EXPIRED: "Your session has ended. Sign in again.",
  BAD_TOKEN: "Your session has ended. Sign in again.",
  NOT_AUTHORIZED: "You are not allowed to see this.",
  RATE_LIMITED: "Too many requests right now. Wait a moment and try again.",
};

/** The title the page shows for `code`. */
export function titleOf(code: ErrorCode): string {
  return EXPLANATIONS[code] ?? errorTitle(code);
}

/**
 * Turns anything thrown into a message; a failed `fetch` (TypeError) is UNAVAILABLE, anything without a
 * code from the table is INTERNAL.
 */
export function describeError(error: unknown): ErrorMessage {
  if (error instanceof TypeError && /fetch|network|load failed/i.test(error.message)) {
    return { code: "UNAVAILABLE", title: titleOf("UNAVAILABLE"), detail: error.message };
  }
  const raw = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  const code: ErrorCode = isErrorCode(raw) ? raw : "INTERNAL";
  const detail = error instanceof Error ? error.message : String(error);
  const title = titleOf(code);
  return { code, title, ...(detail && !title.startsWith(detail.replace(/\.$/, "")) ? { detail } : {}) };
}
