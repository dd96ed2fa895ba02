// One way to fail: every error Custos raises on purpose is a CustosError with a stable code.
// The API maps codes to HTTP status in one table; the CLI prints `error: <message>` and exits non-zero.

export const ERROR_CODES = [
  "BAD_ARGUMENT",
  "BAD_ENCODING",
  "BAD_NOTE",
  "BAD_SIGNATURE",
  "UNKNOWN_KEY",
  "BAD_KEY",
  "BAD_PROOF",
  "BAD_CHECKPOINT",
  "INVALID_RECORD",
  "TAMPERED_ENTRY",
  // A trail reply that does not end at the head the checkpoint's trail map commits to.
  "TRAIL_INCOMPLETE",
  "DECRYPTION_FAILED",
  "KEY_MISSING",
  "KEYSTORE_LOCKED",
  "STORE_NOT_FOUND",
  "STORE_EXISTS",
  "STORE_CORRUPT",
  "STORE_BUSY",
  "UNAVAILABLE",
  "NOT_FOUND",
  "NOT_AUTHORIZED",
  "NOT_AUTHENTICATED",
  "BAD_CERTIFICATE",
  "UNKNOWN_CA",
  "CERT_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "WRONG_DEPLOYMENT",
  "BAD_PASSPHRASE",
  "BAD_CHALLENGE",
  "BAD_TOKEN",
  "TOKEN_EXPIRED",
  "TOO_LARGE",
  "RATE_LIMITED",
  "CONFLICT",
  "LEGAL_HOLD",
  "NO_BLIND_INDEX",
  "CONFIG",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

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
