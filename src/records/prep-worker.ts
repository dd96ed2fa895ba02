// A record-preparation worker (prep-pool.ts): parses and validates a request's records and prepares
// them (prepared-record.ts) under the blind-index key it was handed, then returns them packed in one
// transferred buffer. It holds no epoch key and no store; its key copy is zero-filled when told to stop.

import { parentPort, workerData } from "node:worker_threads";
import { CustosError } from "../core/index.js";
import { parseRecordInput, parseRecordValue } from "../core/record/index.js";
import { BlindIndex } from "./blind-index.js";
import { type PrepReply, type PrepRequest, packPrepared } from "./prep-protocol.js";
import { prepareRecord, wipePrepared } from "./prepared-record.js";

const port = parentPort;
if (port === null) throw new Error("prep-worker.ts runs as a worker thread");
const handed = new Uint8Array((workerData as { key: ArrayBuffer }).key);
const blindIndex = new BlindIndex(handed);
handed.fill(0);

port.on("message", (message: PrepRequest | "stop") => {
  if (message === "stop") {
    blindIndex.destroy();
    port.postMessage("stopped");
    port.close();
    return;
  }
  let reply: PrepReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const records =
      typeof message.input === "string" ? parseRecordInput(message.input) : parseRecordValue(message.input);
    const prepared = records.map((record) => prepareRecord(record, message.source, blindIndex));
    const packed = packPrepared(prepared);
    wipePrepared(prepared);
    reply = { id: message.id, packed };
    transfer = [packed.bytes.buffer as ArrayBuffer];
  } catch (error) {
    reply =
      error instanceof CustosError
        ? { id: message.id, error: { code: error.code, message: error.message } }
        : { id: message.id, error: { code: "INTERNAL", message: "record preparation failed" } };
  }
  port.postMessage(reply, transfer);
});
