// Live epochs are bounded (one per patient, least recently used ends first), and a patient's trail
// position (next number, leaf hash to link to) survives the end of its epoch.
import { describe, expect, it } from "vitest";
import { toHex } from "../../src/core/bytes.js";
import { DEFAULT_EPOCH_MS, EpochKeyCache, sweepIntervalFor } from "../../src/records/epoch-keys.js";

const tag = (n: number) => new Uint8Array(32).fill(n);

describe("epoch key cache", () => {
  it("keeps at most maxLive epochs, ending the least recently used, and carries the trail position on", () => {
    const cache = new EpochKeyCache({ maxLive: 2, now: () => 0 });
    const a = cache.start(tag(1), "r", { nextSeq: 7, prev: new Uint8Array(32).fill(7) });
    cache.start(tag(2), "r");
    expect(cache.get(tag(1), "r")).toBe(a); // used: patient 2 is now the least recently used
    cache.start(tag(3), "r");
    expect(cache.stats().active).toBe(2);
    expect(cache.peek(tag(2), "r")).toBeUndefined();
    expect(cache.peek(tag(1), "r")).toBe(a);
    a.nextSeq = 9;
    a.prev = new Uint8Array(32).fill(9);
    cache.start(tag(4), "r"); // ends patient 1's epoch now
    expect(cache.peek(tag(1), "r")).toBeUndefined();
    expect(a.dataKey.every((b) => b === 0)).toBe(true);
    const position = cache.positionOf(tag(1))!;
    expect(position.nextSeq).toBe(9);
    expect(toHex(position.prev!)).toBe(toHex(new Uint8Array(32).fill(9)));
    expect(cache.positionOf(tag(2))).toMatchObject({ nextSeq: 0, prev: undefined });
    expect(position.line).toBe(a.line); // a retired position continues the same line
    cache.forgetLine(tag(1), a.line);
    expect(cache.positionOf(tag(1))).toBeUndefined();
  });

  it("forgets a patient's numbering only while it continues the broken line", () => {
    const cache = new EpochKeyCache({ now: () => 0 });
    const first = cache.start(tag(1), "r", { nextSeq: 3 });
    cache.forgetLine(tag(1), first.line);
    expect(cache.positionOf(tag(1))).toBeUndefined();
    // Read again from the log: a new line. A late failure report for the old line leaves it alone.
    const second = cache.start(tag(1), "r", { nextSeq: 3 });
    expect(second.line).not.toBe(first.line);
    cache.forgetLine(tag(1), first.line);
    expect(cache.peek(tag(1), "r")).toBe(second);
    // Carried across an epoch change (readers changed): the same line.
    const third = cache.start(tag(1), "r2", cache.positionOf(tag(1)));
    expect(third.line).toBe(second.line);
  });
});

describe("epoch key sweep", () => {
  const zero = (key: Uint8Array) => key.every((b) => b === 0);
  const until = async (condition: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it("zero-fills an idle patient's key on the timer once its period is over, with no further use", async () => {
    const cache = new EpochKeyCache({ periodMs: 300 });
    const idle = cache.start(tag(1), "r");
    const key = idle.dataKey;
    expect(zero(key)).toBe(false);
    // Nothing touches the cache again: only the timer can end the epoch.
    await until(() => zero(key), "the sweep");
    expect(cache.stats()).toMatchObject({ active: 0, swept: 1, epochsEnded: 1 });
    expect(cache.positionOf(tag(1))).toMatchObject({ nextSeq: 0 });
    cache.close();
  });

  it("sweeps only the epochs whose period is over", () => {
    let now = 0;
    const cache = new EpochKeyCache({ periodMs: 1_000, now: () => now });
    const old = cache.start(tag(1), "r");
    now = 600;
    const young = cache.start(tag(2), "r");
    now = 1_000;
    expect(cache.sweep()).toBe(1);
    expect(zero(old.dataKey)).toBe(true);
    expect(zero(young.dataKey)).toBe(false);
    expect(cache.peek(tag(2), "r")).toBe(young);
    cache.close();
  });

  it("clears every live key on demand and on close, keeping trail positions", () => {
    const cache = new EpochKeyCache({ now: () => 0 });
    const a = cache.start(tag(1), "r", { nextSeq: 4 });
    const b = cache.start(tag(2), "r");
    expect(cache.clear()).toBe(2);
    expect(zero(a.dataKey) && zero(b.dataKey)).toBe(true);
    expect(cache.stats()).toMatchObject({ active: 0, swept: 0 });
    expect(cache.positionOf(tag(1))).toMatchObject({ nextSeq: 4 });
    const c = cache.start(tag(3), "r");
    cache.close();
    expect(zero(c.dataKey)).toBe(true);
  });

  it("picks a sweep interval of a tenth of the period, at most a minute", () => {
    expect(sweepIntervalFor(300)).toBe(50);
    expect(sweepIntervalFor(10_000)).toBe(1_000);
    expect(sweepIntervalFor(DEFAULT_EPOCH_MS)).toBe(60_000);
  });
});
