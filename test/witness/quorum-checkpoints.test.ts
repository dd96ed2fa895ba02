// The node's newest checkpoint per number of cosigners (src/witness/quorum-checkpoints.ts): for any
// order in which witnessed notes arrive, slot k is the newest note at least k witnesses cosigned, it
// survives a restart (the file), and a damaged file costs only the remembered checkpoints.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { countCosignatures, QuorumCheckpoints } from "../../src/witness/quorum-checkpoints.js";
import { tempDir } from "../helpers/temp.js";

const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

/** A witnessed note's shape: body, blank line, the log's signature line, one line per cosigner. */
function note(size: number, cosigners: number): string {
  const lines = ["\u2014 log.example AAAA\n"];
  for (let i = 0; i < cosigners; i++) lines.push(`\u2014 w${i}.example BBBB${i}\n`);
  return `log.example\n${size}\nROOT${size}=\n\n${lines.join("")}`;
}

const notes = fc.array(
  fc.record({ size: fc.integer({ min: 0, max: 50 }), cosigners: fc.integer({ min: 0, max: 4 }) }),
  {
    maxLength: 30,
  },
);

describe("QuorumCheckpoints", () => {
  it("counts the cosignatures past the log's own signature", () => {
    expect(countCosignatures(note(3, 0))).toBe(0);
    expect(countCosignatures(note(3, 2))).toBe(2);
  });

  it("holds, for each k, the newest note k witnesses cosigned, whatever the order, across a restart", () => {
    fc.assert(
      fc.property(notes, (arrivals) => {
        const temp = tempDir("custos-quorum-");
        temps.push(temp);
        const file = join(temp.dir, "witnessed-quorum.json");
        const slots = new QuorumCheckpoints(file);
        for (const a of arrivals) slots.record(note(a.size, a.cosigners));
        const reloaded = new QuorumCheckpoints(file);
        for (let k = 1; k <= 4; k++) {
          const eligible = arrivals.filter((a) => a.cosigners >= k);
          const size = Math.max(-1, ...eligible.map((a) => a.size));
          for (const held of [slots.atLeast(k), reloaded.atLeast(k)]) {
            if (eligible.length === 0) expect(held).toBeUndefined();
            else {
              expect(held?.size).toBe(size);
              expect(held!.cosigners).toBeGreaterThanOrEqual(k);
              expect(countCosignatures(held!.note)).toBe(held!.cosigners);
            }
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it("marks a slot stale from the first newer checkpoint until the quorum cosigns anew", () => {
    const temp = tempDir("custos-quorum-");
    temps.push(temp);
    const file = join(temp.dir, "witnessed-quorum.json");
    const slots = new QuorumCheckpoints(file);
    slots.record(note(10, 2));
    slots.advanced(10, 1_000);
    expect(slots.atLeast(2)?.staleSince).toBeUndefined();
    slots.advanced(12, 2_000);
    slots.record(note(12, 1));
    slots.advanced(14, 3_000);
    // Slot 2 has been stale since the first checkpoint past it; slot 1 since the one past it.
    expect(slots.atLeast(2)).toMatchObject({ size: 10, staleSince: 2_000 });
    expect(slots.atLeast(1)).toMatchObject({ size: 12, staleSince: 3_000 });
    expect(new QuorumCheckpoints(file).atLeast(2)).toMatchObject({ size: 10, staleSince: 2_000 });
    slots.record(note(14, 2));
    expect(slots.atLeast(2)?.staleSince).toBeUndefined();
    expect(slots.atLeast(1)).toMatchObject({ size: 14 });
  });

  it("starts empty from a damaged or foreign file", () => {
    const temp = tempDir("custos-quorum-");
    temps.push(temp);
    const file = join(temp.dir, "witnessed-quorum.json");
    for (const text of ["{", "[]", '{"slots":[{"note":7},{"note":"x\\nnot a size\\n"}]}']) {
      writeFileSync(file, text);
      expect(new QuorumCheckpoints(file).atLeast(1)).toBeUndefined();
    }
  });
});
