// One way to fail: every error Custos raises on purpose is a CustosError with a stable code.
// The table below is the one vocabulary: each code with the HTTP status a reply carrying it has and a
// short title for people. The service maps codes to status from it (src/service/errors.ts), the SDK
// and the portal read codes and titles from it; nothing else lists codes. Browser-safe: no node: imports.

export interface ErrorDescription {
  /** The HTTP status of a reply with this code; 500 means the reply says only INTERNAL. */
  readonly status: number;
  /** One short sentence for people (the portal may say more, keyed by the same code). */
  readonly title: string;
  /** Raised in the browser portal only: never in a node's reply. */
  readonly browserOnly?: true;
}

export const ERROR_TABLE = {
  BAD_ARGUMENT: { status: 400, title: "The request is not valid." },
  BAD_ENCODING: { status: 400, title: "The data is not encoded as expected." },
  BAD_NOTE: { status: 500, title: "A signed note is malformed." },
  BAD_SIGNATURE: { status: 400, title: "A signature does not verify." },
  UNKNOWN_KEY: { status: 500, title: "A signature is by a key that is not known." },
  BAD_KEY: { status: 400, title: "A key is malformed." },
  BAD_PROOF: { status: 400, title: "A proof does not verify." },
  BAD_CHECKPOINT: { status: 500, title: "A checkpoint is malformed or does not verify." },
  INVALID_RECORD: { status: 400, title: "The access record is not valid." },
  TAMPERED_ENTRY: { status: 500, title: "An entry of the log has been altered." },
  // A trail reply that does not end at the head the checkpoint's trail map commits to.
  TRAIL_INCOMPLETE: { status: 500, title: "The trail is not complete." },
  DECRYPTION_FAILED: { status: 500, title: "The data could not be decrypted." },
  // A patient without an enrolled key, or no custodian: the request is well-formed but cannot be sealed.
  KEY_MISSING: { status: 422, title: "A key needed for this is missing." },
  KEYSTORE_LOCKED: { status: 500, title: "The keystore is locked." },
  STORE_NOT_FOUND: { status: 500, title: "The store does not exist." },
  STORE_EXISTS: { status: 500, title: "The store already exists." },
  STORE_CORRUPT: { status: 500, title: "The store is damaged." },
  // Retry-After says when: the store is failing or another node sequences.
  STORE_BUSY: { status: 503, title: "The node is busy. Try again in a moment." },
  // Also a connection that failed (refused, dropped, unknown host): try again or another node.
  UNAVAILABLE: { status: 503, title: "The node is unavailable. Try again in a moment." },
  NOT_FOUND: { status: 404, title: "Not found." },
  NOT_AUTHORIZED: { status: 403, title: "Not allowed." },
  NOT_AUTHENTICATED: { status: 401, title: "Not signed in." },
  BAD_CERTIFICATE: { status: 401, title: "The certificate is not valid." },
  UNKNOWN_CA: { status: 401, title: "The certificate was issued by an unknown authority." },
  CERT_EXPIRED: { status: 401, title: "The certificate has expired." },
  CERT_NOT_YET_VALID: { status: 401, title: "The certificate is not valid yet." },
  CERT_REVOKED: { status: 401, title: "The certificate has been revoked." },
  WRONG_DEPLOYMENT: { status: 401, title: "The identity belongs to another deployment." },
  BAD_PASSPHRASE: { status: 500, title: "The passphrase is wrong." },
  BAD_CHALLENGE: { status: 401, title: "The login challenge is not valid." },
  BAD_TOKEN: { status: 401, title: "The session token is not valid." },
  TOKEN_EXPIRED: { status: 401, title: "The session has expired." },
  TOO_LARGE: { status: 413, title: "Too large." },
  RATE_LIMITED: { status: 429, title: "Too many requests. Wait a moment and try again." },
  CONFLICT: { status: 409, title: "This conflicts with the current state." },
  // An erasure or expiry refused while a legal hold stands: lift the hold first.
  LEGAL_HOLD: { status: 409, title: "A legal hold prevents this." },
  // A mirror asked for a patient by ID: it holds no blind-index key to turn the ID into the patient's tag.
  NO_BLIND_INDEX: { status: 422, title: "This server cannot look patients up by ID." },
  CONFIG: { status: 500, title: "The configuration is not usable." },
  INTERNAL: { status: 500, title: "Something went wrong." },

  // Raised in the browser portal (never in a node's reply); the status is what a reply would carry. The
  // portal names its other failures with the codes above (BAD_PASSPHRASE, CERT_EXPIRED, CERT_REVOKED,
  // CONFIG, ...), the same word the node and the SDK use; only the page's wording for people differs.
  /** The file is not a Custos identity bundle, or a part of it is malformed. */
  BAD_BUNDLE: { status: 400, title: "This file is not a usable identity bundle.", browserOnly: true },
  /** The login did not complete: the node's challenge or reply is not what the page expects (the message says which). */
  LOGIN_FAILED: { status: 401, title: "The login could not be completed.", browserOnly: true },
  /** This browser lacks a primitive the portal needs (Ed25519 in WebCrypto). */
  UNSUPPORTED_BROWSER: {
    status: 500,
    title: "This browser lacks a feature the portal needs.",
    browserOnly: true,
  },
  /** The session was signed out. */
  SIGNED_OUT: { status: 401, title: "You have signed out.", browserOnly: true },
  /** A form sent without its file, passphrase or note. */
  NO_FILE: { status: 400, title: "Choose a file first.", browserOnly: true },
  NO_PASSPHRASE: { status: 400, title: "Type the passphrase first.", browserOnly: true },
  NO_NOTE: { status: 400, title: "Write a note first.", browserOnly: true },
} as const satisfies Readonly<Record<string, ErrorDescription>>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** Every code, in the table's order. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(ERROR_TABLE) as ErrorCode[]);

/**
 * The codes a node's (or a mirror's) reply can carry: those of a 4xx or 503 status, and INTERNAL, which
 * stands for every 500 (a reply never names the code of a server-side failure). The OpenAPI document's
 * error schema lists these.
 */
export const REPLY_ERROR_CODES: readonly ErrorCode[] = Object.freeze(
  ERROR_CODES.filter((code) => {
    const entry: ErrorDescription = ERROR_TABLE[code];
    return code === "INTERNAL" || (entry.status !== 500 && entry.browserOnly !== true);
  }),
);

/** True for a code in the table (a reply's code is hostile input: own keys only, never the prototype's). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_TABLE, value);
}

/** The HTTP status of a reply carrying `code` (500 for a code outside the table). */
export function errorStatus(code: ErrorCode): number {
  return isErrorCode(code) ? ERROR_TABLE[code].status : ERROR_TABLE.INTERNAL.status;
}

/** The title for people of `code` (INTERNAL's for a code outside the table). */
export function errorTitle(code: ErrorCode): string {
  return isErrorCode(code) ? ERROR_TABLE[code].title : ERROR_TABLE.INTERNAL.title;
}

export class CustosError extends Error {
  readonly code: ErrorCode;
  /** For retryable failures (STORE_BUSY, UNAVAILABLE): when trying again makes sense, in seconds. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CustosError";
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export function isCustosError(value: unknown): value is CustosError {
  return value instanceof CustosError;
}
