// Putting the trail map snapshot's leaves in key order on a worker thread (snapshot-worker.ts): at
// 1M patients that walk or sort costs over a CPU second, which on the event loop stalled ingest and
// every query for as long. The event loop only copies the leaves (TrailMap.leafCopy, three contiguous
// copies) and hands the copy over; one short-lived thread per snapshot (one per eighth of the log's
// growth) sorts it and hands the parts back, both ways by transfer, not by copy.

import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { CustosError, isErrorCode } from "../core/index.js";
import type { LeafCopy } from "../core/trail-map/index.js";
import type { SnapshotWorkerInput, SnapshotWorkerReply } from "./snapshot-worker.js";

/** Running from the TypeScript sources (tests, benchmarks), not from dist/. */
function fromSources(): boolean {
  return import.meta.url.endsWith(".ts");
}

/** From the sources the worker loads snapshot-worker.ts through tsx's loader, registered in the worker. */
function sourceBootstrap(): string {
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve("tsx/esm/api")
      .replace(/\.cjs$/, ".mjs"),
  ).href;
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(require("node:worker_threads").workerData.script); });`;
}

/** The leaf records of `copy` in key order, in parts of at most `perPart` leaves, sorted off the event loop. */
export function sortLeavesOffLoop(copy: LeafCopy, perPart: number): Promise<Uint8Array[]> {
  const input: SnapshotWorkerInput & { script?: string } = {
    keys: copy.keys.buffer,
    counts: copy.counts.buffer,
    lasts: copy.lasts.buffer,
    perPart,
  };
  const transferList = [copy.keys.buffer, copy.counts.buffer, copy.lasts.buffer];
  const thread = fromSources()
    ? new Worker(sourceBootstrap(), {
        eval: true,
        execArgv: ["--conditions", "custos-source"],
        workerData: { ...input, script: new URL("./snapshot-worker.ts", import.meta.url).href },
        transferList,
      })
    : new Worker(new URL("./snapshot-worker.js", import.meta.url), { workerData: input, transferList });
  return new Promise<Uint8Array[]>((resolve, reject) => {
    let settled = false;
    thread.once("message", (reply: SnapshotWorkerReply) => {
      settled = true;
      if ("error" in reply)
        reject(
          new CustosError(isErrorCode(reply.error.code) ? reply.error.code : "INTERNAL", reply.error.message),
        );
      else resolve(reply.parts.map((part) => new Uint8Array(part)));
    });
    thread.once("error", (error) => {
      settled = true;
      reject(new CustosError("INTERNAL", "the trail map snapshot's worker failed", { cause: error }));
    });
    thread.once("exit", (code) => {
      if (!settled)
        reject(
          new CustosError("INTERNAL", `the trail map snapshot's worker exited (${code}) without its parts`),
        );
    });
  });
}
