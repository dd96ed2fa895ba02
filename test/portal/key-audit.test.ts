// The key audit in the page: words for every kind the node lists, the request path, and a reply of
// the wrong shape refused rather than shown. (Read from a real node in session.test.ts and the browser
// tests.)

import { describe, expect, it } from "vitest";
import { checkKeyAuditPage, KEY_AUDIT_WORDS, keyAuditPath } from "../../portal/src/lib/key-audit.js";
import { KEY_AUDIT_KINDS } from "../../src/core/wire/index.js";

const event = {
  index: 7,
  kind: "grant",
  time: "2026-12-07T10:00:00.000Z",
  timeFrom: "entry",
  parties: ["auditor/acme", "admin/it"],
  detail: "auditor/acme granted 3 patient(s) from 2026-12-07, by admin/it",
};

describe("the key audit in the page", () => {
  it("has words for every kind the node lists", () => {
    for (const kind of KEY_AUDIT_KINDS) expect(KEY_AUDIT_WORDS[kind], kind).toMatch(/^[A-Z]/);
  });

  it("asks for one page with the party, where to go on and the limit", () => {
    expect(keyAuditPath()).toBe("/v1/admin/key-audit");
    expect(keyAuditPath({ party: "auditor/acme audit", after: 12, limit: 1000 })).toBe(
      "/v1/admin/key-audit?party=auditor%2Facme+audit&after=12&limit=1000",
    );
  });

  it("takes a well-formed page and refuses a malformed one", () => {
    expect(checkKeyAuditPage({ events: [event], next: 8, size: 20, scanned: { from: 0, to: 8 } })).toEqual({
      events: [event],
      next: 8,
      size: 20,
    });
    expect(checkKeyAuditPage({ events: [], size: 0 })).toEqual({ events: [], size: 0 });
    for (const bad of [
      null,
      "events",
      { events: {}, size: 1 },
      { events: [], size: -1 },
      { events: [], size: 1, next: "2" },
      { events: [{ ...event, index: -1 }], size: 1 },
      { events: [{ ...event, time: "yesterday" }], size: 1 },
      { events: [{ ...event, timeFrom: "clock" }], size: 1 },
      { events: [{ ...event, parties: [1] }], size: 1 },
      { events: [{ ...event, detail: undefined }], size: 1 },
      { events: [null], size: 1 },
    ]) {
      expect(() => checkKeyAuditPage(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: "CONFIG" }),
      );
    }
  });
});
