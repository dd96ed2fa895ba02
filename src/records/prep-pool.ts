// Record preparation on worker threads: parsing and validating a request's records, their canonical
// encoding and the keyed HMACs of their source event IDs (prepared-record.ts) run on a pool of
// worker_threads, beside the event loop that serves TLS and HTTP, seals, and writes the log. Each
// request goes whole to the worker with the fewest requests waiting; its records come back in order.
//
// Secrets: a worker gets its own copy of the blind-index key, in a fresh (unpooled) ArrayBuffer that
// is transferred to it, so no copy stays behind in this thread; the worker zero-fills what it was
// handed once its index holds the key, and its index's key when it stops. Workers never see an epoch
// key: sealing, the trail's numbering and hash chain stay with the sealer on the event loop (they
// depend on the order records reach the log), so the epoch key cache's sweep is the only one needed.

import { createRequire } from "node:module";
import { cpus } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { CustosError } from "../core/index.js";
import type { PrepReply, PrepRequest } from "./prep-protocol.js";
import { unpackPrepared } from "./prep-protocol.js";
import type { PreparedRecord } from "./prepared-record.js";

/** Running from the TypeScript sources (tests, benchmarks), not from dist/. */
function fromSources(): boolean {
  return import.meta.url.endsWith(".ts");
}

/**
 * From the sources a worker loads prep-worker.ts through tsx's loader, registered in the worker itself
 * (Node 20 does not pass a parent's --import hooks on to worker threads).
 */
const SOURCE_BOOTSTRAP = `import(${JSON.stringify(
  fromSources()
    ? pathToFileURL(
        createRequire(import.meta.url)
          .resolve("tsx/esm/api")
          .replace(/\.cjs$/, ".mjs"),
      ).href
    : "",
)}).then((tsx) => { tsx.register(); return import(require("node:worker_threads").workerData.script); });`;

/** The default pool size: one worker per core. */
export function defaultPrepWorkers(): number {
  return Math.max(1, cpus().length);
}

interface Waiting {
  readonly resolve: (records: PreparedRecord[]) => void;
  readonly reject: (error: unknown) => void;
}

interface PoolWorker {
  readonly thread: Worker;
  readonly waiting: Map<number, Waiting>;
}

export class PrepPool {
  readonly #key: Uint8Array;
  readonly #workers: PoolWorker[] = [];
  #nextId = 0;
  #closed = false;

  /** Starts `size` workers (at least 1), each with its own copy of the blind-index key. */
  constructor(blindIndexKey: Uint8Array, size: number) {
    // Kept to start a replacement for a worker that died; zero-filled on close.
    this.#key = new Uint8Array(new ArrayBuffer(blindIndexKey.length));
    this.#key.set(blindIndexKey);
    for (let i = 0; i < Math.max(1, size); i++) this.#workers.push(this.#spawn());
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Prepares a request's records: `input` is its text (JSON or NDJSON) or its parsed JSON value. */
  prepare(input: unknown, source: string): Promise<PreparedRecord[]> {
    if (this.#closed) return Promise.reject(new CustosError("STORE_BUSY", "the node is stopping"));
    let worker = this.#workers[0]!;
    for (const w of this.#workers) if (w.waiting.size < worker.waiting.size) worker = w;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      worker.waiting.set(id, { resolve, reject });
      const request: PrepRequest = { id, input, source };
      worker.thread.postMessage(request);
    });
  }

  /** Stops the workers (each zero-fills its key first) and zero-fills this pool's copy. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.thread.once("exit", () => resolve());
            w.thread.on("message", (m: unknown) => {
              if (m === "stopped") void w.thread.terminate();
            });
            w.thread.postMessage("stop");
          }),
      ),
    );
    this.#key.fill(0);
  }

  #spawn(): PoolWorker {
    const handed = new Uint8Array(new ArrayBuffer(this.#key.length));
    handed.set(this.#key);
    const thread = fromSources()
      ? new Worker(SOURCE_BOOTSTRAP, {
          eval: true,
          execArgv: ["--conditions", "custos-source"],
          workerData: { key: handed.buffer, script: new URL("./prep-worker.ts", import.meta.url).href },
          transferList: [handed.buffer],
        })
      : new Worker(new URL("./prep-worker.js", import.meta.url), {
          workerData: { key: handed.buffer },
          transferList: [handed.buffer],
        });
    thread.unref();
    const worker: PoolWorker = { thread, waiting: new Map() };
    thread.on("message", (reply: PrepReply | "stopped") => {
      if (reply === "stopped") return;
      const waiting = worker.waiting.get(reply.id);
      if (waiting === undefined) return;
      worker.waiting.delete(reply.id);
      if ("error" in reply) waiting.reject(new CustosError(reply.error.code, reply.error.message));
      else waiting.resolve(unpackPrepared(reply.packed));
    });
    const failed = (error: unknown) => {
      for (const waiting of worker.waiting.values())
        waiting.reject(new CustosError("INTERNAL", "record preparation failed", { cause: error }));
      worker.waiting.clear();
      const at = this.#workers.indexOf(worker);
      if (!this.#closed && at >= 0) this.#workers[at] = this.#spawn();
    };
    thread.on("error", failed);
    thread.on("exit", (code) => {
      if (!this.#closed) failed(new Error(`a record preparation worker exited (${code})`));
    });
    return worker;
  }
}
