// The full collection asked for when epoch keys are swept (so OpenSSL frees, and clears, the
// contexts that held copies of them) really runs, without --expose-gc on the command line.
import { expect, it } from "vitest";
import { collectGarbage } from "../../src/crypto/collect-garbage.js";

it("collects an unreachable object now, in a process started without --expose-gc", async () => {
  let ref: WeakRef<object> | undefined;
  (() => {
    ref = new WeakRef({ payload: new Array(1000).fill(7) });
  })();
  // A WeakRef target stays alive until the end of the job that created it.
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect(collectGarbage()).toBe(true);
  expect(ref!.deref()).toBeUndefined();
  expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
});
