import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes.js";
import { writeFileAtomic } from "../../src/crypto/atomic-write.js";
import { EnvProvider, Keystore } from "../../src/crypto/keystore/index.js";
import { tempDir } from "../helpers/temp.js";

let root: { dir: string; cleanup: () => void };
beforeEach(() => {
  root = tempDir("custos-atomic-");
});
afterEach(() => root.cleanup());

describe("writeFileAtomic", () => {
  it("replaces a file with mode 0600 and leaves no temporary file", () => {
    const path = join(root.dir, "f.json");
    writeFileSync(path, "old", { mode: 0o644 });
    writeFileAtomic(path, "new");
    expect(readFileSync(path, "utf8")).toBe("new");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(root.dir)).toEqual(["f.json"]);
  });

  it("removes its temporary file when the final rename fails, leaving the target as it was", () => {
    // A non-empty directory cannot be replaced by rename(2): the write fails after the temp file is complete.
    const path = join(root.dir, "target");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "kept");
    expect(() => writeFileAtomic(path, "new")).toThrow();
    expect(readdirSync(root.dir)).toEqual(["target"]);
    expect(readFileSync(join(path, "inside"), "utf8")).toBe("kept");
  });

  it("in exclusive mode refuses an existing target atomically and cleans up", () => {
    const path = join(root.dir, "f.json");
    writeFileAtomic(path, "first", { exclusive: true });
    expect(() => writeFileAtomic(path, "second", { exclusive: true })).toThrow(
      expect.objectContaining({ code: "STORE_EXISTS" }),
    );
    expect(readFileSync(path, "utf8")).toBe("first");
    expect(readdirSync(root.dir)).toEqual(["f.json"]);
  });
});

describe("Keystore writes under a concurrent reader", () => {
  it("a reader always sees a whole keystore, old or new, never a partial one", async () => {
    const path = join(root.dir, "keystore.json");
    const provider = () => new EnvProvider("K", { K: Buffer.alloc(32, 1).toString("base64") });
    const keystore = await Keystore.create(path, provider());
    const reader = new Worker(
      `const { readFileSync } = require("node:fs");
       const { parentPort, workerData } = require("node:worker_threads");
       let reads = 0, partial = 0, stop = false;
       parentPort.on("message", () => { stop = true; });
       (function loop() {
         for (let i = 0; i < 50; i++) {
           try { const j = JSON.parse(readFileSync(workerData, "utf8")); if (j.format !== "custos-keystore") partial++; }
           catch { partial++; }
           reads++;
         }
         if (stop) parentPort.postMessage({ reads, partial }); else setImmediate(loop);
       })();`,
      { eval: true, workerData: path },
    );
    for (let i = 0; i < 200; i++) {
      await keystore.set(`s${i % 10}`, utf8("x".repeat(1000 + i)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const result = await new Promise<{ reads: number; partial: number }>((resolve) => {
      reader.once("message", resolve);
      reader.postMessage("stop");
    });
    await reader.terminate();
    expect(result.reads).toBeGreaterThan(0);
    expect(result.partial).toBe(0);
    expect(readdirSync(root.dir)).toEqual(["keystore.json"]);
    expect((await Keystore.open(path, provider())).names()).toHaveLength(10);
  });
});
