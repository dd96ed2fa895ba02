// The one error vocabulary: every code has an HTTP status and a title for people, and the service's
// replies follow the table (a 500 says only INTERNAL).

import { describe, expect, it } from "vitest";
import {
  CustosError,
  ERROR_CODES,
  ERROR_TABLE,
  errorStatus,
  errorTitle,
  isErrorCode,
} from "../../src/core/errors.js";
import { errorReply } from "../../src/service/errors.js";

describe("the error table", () => {
  it("gives every code an HTTP error status and a title for people", () => {
    expect(ERROR_CODES.length).toBeGreaterThan(0);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      expect(code, code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      const status = errorStatus(code);
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`).toBe(true);
      const title = errorTitle(code);
      expect(title.trim().length, code).toBeGreaterThan(0);
      // One sentence for people: capitalised, ending in a full stop, no code in it.
      expect(title, code).toMatch(/^[A-Z].*\.$/);
      expect(title, code).not.toMatch(/\b[A-Z]{2,}_[A-Z_]+\b/);
    }
    expect(Object.keys(ERROR_TABLE)).toEqual([...ERROR_CODES]);
  });

  it("knows only its own codes, never the prototype's", () => {
    expect(isErrorCode("BAD_PROOF")).toBe(true);
    for (const value of [
      "constructor",
      "toString",
      "__proto__",
      "hasOwnProperty",
      "bad_proof",
      "",
      1,
      null,
      undefined,
    ]) {
      expect(isErrorCode(value), String(value)).toBe(false);
    }
    expect(errorStatus("constructor" as never)).toBe(500);
  });

  it("is what the service replies with: the status, and INTERNAL in place of any 500", () => {
    for (const code of ERROR_CODES) {
      const reply = errorReply(new CustosError(code, "details"));
      expect(reply.status, code).toBe(errorStatus(code));
      expect(reply.body.error.code, code).toBe(reply.status === 500 ? "INTERNAL" : code);
      expect(reply.retryAfterSeconds !== undefined, code).toBe(reply.status === 503);
    }
  });
});
