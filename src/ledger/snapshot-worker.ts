// The trail map snapshot's worker thread (snapshot-sort.ts): puts a copy of the map's leaves in key
// order and cuts it into the snapshot's parts, away from the event loop that serves and appends. It
// gets the copy's buffers transferred and transfers the parts back; it holds no key and no store.

import { parentPort, workerData } from "node:worker_threads";
import { CustosError } from "../core/index.js";
import { leafRecordsOf } from "../core/trail-map/index.js";

export interface SnapshotWorkerInput {
  readonly keys: ArrayBuffer;
  readonly counts: ArrayBuffer;
  readonly lasts: ArrayBuffer;
  readonly perPart: number;
}

export type SnapshotWorkerReply =
  | { readonly parts: ArrayBuffer[] }
  | { readonly error: { readonly code: string; readonly message: string } };

const port = parentPort;
if (port === null) throw new Error("snapshot-worker.ts runs as a worker thread");
const input = workerData as SnapshotWorkerInput;
let reply: SnapshotWorkerReply;
try {
  const parts = leafRecordsOf(
    {
      keys: new Uint8Array(input.keys),
      counts: new Float64Array(input.counts),
      lasts: new Uint8Array(input.lasts),
    },
    input.perPart,
  );
  reply = { parts: parts.map((part) => part.buffer as ArrayBuffer) };
} catch (error) {
  reply = {
    error:
      error instanceof CustosError
        ? { code: error.code, message: error.message }
        : { code: "INTERNAL", message: error instanceof Error ? error.message : String(error) },
  };
}
port.postMessage(reply, "parts" in reply ? reply.parts : []);
