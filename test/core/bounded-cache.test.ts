import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedCache } from "../../src/core/bounded-cache.js";

describe("BoundedCache", () => {
  it("never holds more than its limit, and keeps the latest value of each of the last limit/2 keys set", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer()), { maxLength: 300 }),
        (limit, writes) => {
          const cache = new BoundedCache<number>(limit);
          const latest = new Map<string, number>();
          for (const [key, value] of writes) {
            cache.set(String(key), value);
            latest.set(String(key), value);
            expect(cache.size).toBeLessThanOrEqual(Math.max(2, limit));
          }
          // The most recent distinct keys (up to half the limit) are all still there.
          const recent: string[] = [];
          for (let i = writes.length - 1; i >= 0 && recent.length < Math.max(1, Math.floor(limit / 2)); i--) {
            const key = String(writes[i]![0]);
            if (!recent.includes(key)) recent.push(key);
          }
          for (const key of recent) expect(cache.get(key)).toBe(latest.get(key));
          // Whatever it returns for any key is that key's latest value, never a stale one.
          for (let key = 0; key <= 60; key++) {
            const got = cache.get(String(key));
            if (got !== undefined) expect(got).toBe(latest.get(String(key)));
          }
        },
      ),
    );
  });

  it("keeps a value that is read while older ones turn over", () => {
    const cache = new BoundedCache<string>(4);
    cache.set("hot", "h");
    for (let i = 0; i < 20; i++) {
      cache.set(`cold-${i}`, "c");
      expect(cache.get("hot")).toBe("h");
    }
    expect(cache.get("cold-0")).toBeUndefined();
  });
});
