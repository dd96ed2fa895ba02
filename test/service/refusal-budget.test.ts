import { describe, expect, it } from "vitest";
import { REFUSAL_BURST, RefusalBudget, SUMMARY_EVERY_MS } from "../../src/service/refusal-budget.js";

describe("RefusalBudget", () => {
  it("records each refusal up to the burst, then one summary per interval counting the rest", () => {
    let now = 1_000_000;
    const budget = new RefusalBudget(() => now);
    const kinds = Array.from({ length: REFUSAL_BURST }, () => budget.take("custos://x/auditor/A").kind);
    expect(kinds.every((k) => k === "notice")).toBe(true);
    expect(budget.take("custos://x/auditor/A")).toEqual({ kind: "summary", unrecorded: 1 });
    for (let i = 0; i < 499; i++) expect(budget.take("custos://x/auditor/A").kind).toBe("none");
    // Another identity has its own bucket.
    expect(budget.take("custos://x/auditor/B").kind).toBe("notice");
    // A second later one token has come back; after the interval the summary counts what was skipped.
    now += 1000;
    expect(budget.take("custos://x/auditor/A").kind).toBe("notice");
    expect(budget.take("custos://x/auditor/A").kind).toBe("none");
    now += SUMMARY_EVERY_MS;
    // 60 s refilled 60 tokens (below the burst): 60 more notices, then the summary counts the 500
    // refusals not recorded since the first summary plus this one.
    const next = Array.from({ length: 61 }, () => budget.take("custos://x/auditor/A"));
    expect(next.slice(0, 60).every((k) => k.kind === "notice")).toBe(true);
    expect(next[60]).toEqual({ kind: "summary", unrecorded: 501 });
  });
});
