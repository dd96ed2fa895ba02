// The portal has no error vocabulary of its own: every code its sources name is one of the shared table's
// (src/core/errors.ts), or a finding of archive verification (src/core/archive, the same findings
// custos verify-archive prints), so the page, the SDK and the node speak of a failure with the same word.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeError, titleOf } from "../../portal/src/ui/messages.js";
import { ARCHIVE_FINDING_CODES } from "../../src/core/archive/index.js";
import { ERROR_CODES } from "../../src/core/errors.js";

const PORTAL_SRC = fileURLToPath(new URL("../../portal/src", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** String literals that read as error codes: upper case with an underscore, or one word of five letters or more. */
function codeLiterals(text: string): string[] {
  return [...text.matchAll(/["'`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{5,})["'`]/g)].map((m) => m[1]!);
}

describe("the portal's error codes", () => {
  it("are all codes from the shared tables", () => {
    const known = new Set<string>([...ERROR_CODES, ...ARCHIVE_FINDING_CODES]);
    const files = sources(PORTAL_SRC);
    expect(files.length).toBeGreaterThan(10);
    const foreign: string[] = [];
    let seen = 0;
    for (const file of files) {
      for (const literal of codeLiterals(readFileSync(file, "utf8"))) {
        seen++;
        if (!known.has(literal)) foreign.push(`${file.slice(PORTAL_SRC.length + 1)}: ${literal}`);
      }
    }
    expect(seen).toBeGreaterThan(20);
    expect(foreign).toEqual([]);
  });

  it("are what the page shows, with a title for each", () => {
    for (const code of ERROR_CODES) expect(titleOf(code).length, code).toBeGreaterThan(0);
    expect(describeError(new TypeError("fetch failed"))).toMatchObject({ code: "UNAVAILABLE" });
    expect(describeError(new Error("no code"))).toMatchObject({ code: "INTERNAL", detail: "no code" });
    expect(describeError({ code: "NOT_A_CODE" })).toMatchObject({ code: "INTERNAL" });
    expect(describeError({ code: "BAD_PASSPHRASE" }).title).toMatch(/passphrase/);
  });
});
