import { describe, expect, it } from "vitest";
import { firstInvalidUtf8 } from "../../src/core/utf8-check.js";
import { describeInvalidUtf8, requestText } from "../../src/service/request-text.js";

describe("requestText", () => {
  it("names the line and the JSON path, never the content", () => {
    const body = Buffer.concat([
      Buffer.from('{"a":1}\n{"secret":"Ann ', "utf8"),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from(' Smith"}', "utf8"),
    ]);
    expect(() => requestText(body)).toThrow(/line 2, in field secret/);
    const message = describeInvalidUtf8(body, firstInvalidUtf8(body));
    expect(message).not.toContain("Ann");
    expect(describeInvalidUtf8(Buffer.from([0x7b, 0x22, 0xc0, 0x22, 0x3a, 0x31, 0x7d]), 2)).toMatch(
      /line 1, in a field name/,
    );
    expect(describeInvalidUtf8(Buffer.from([0x5b, 0xc0, 0x5d]), 1)).toMatch(/at line 1 \(/);
  });
});
