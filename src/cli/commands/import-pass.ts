// One pass of `custos import` over its input: the input (a file, which strict mode reads twice, or
// stdin, read once), a progress bar on a terminal, and the loop that reads rows, validates and checks
// them, and stores the valid ones in batches, keeping the tally.

import { createReadStream, statSync } from "node:fs";
import cliProgress from "cli-progress";
import { CustosError } from "../../core/index.js";
import { type ImportTally, importRows, type PlaintextImportParser } from "../../import/index.js";
import type { Io } from "../io.js";
import type { Accepted, Destination } from "./import-destination.js";

/** The input, as byte chunks; a file can be read twice (strict mode), stdin once. */
export interface Input {
  readonly name: string;
  readonly size: number | undefined;
  readonly rereadable: boolean;
  open(): AsyncIterable<Uint8Array | string>;
}

export function openInput(file: string, io: Io): Input {
  if (file === "-") return { name: "stdin", size: undefined, rereadable: false, open: () => io.stdin };
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new CustosError("NOT_FOUND", `${file} is not a file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError("NOT_FOUND", `cannot read ${file}`);
  }
  return {
    name: file,
    size,
    rereadable: true,
    open: () => createReadStream(file, { highWaterMark: 256 * 1024 }),
  };
}

/** A progress bar on stderr when it is a terminal; nothing otherwise. */
export class Progress {
  readonly #bar: cliProgress.SingleBar | undefined;
  #last = 0;

  constructor(io: Io, total: number | undefined, phase: string) {
    if (!io.isTTY) return;
    const counts = "{rows} rows | {valid} valid | {rejected} rejected";
    this.#bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format:
          total === undefined
            ? `${phase} | ${counts} | {duration_formatted}`
            : `${phase} [{bar}] {percentage}% | ${counts} | eta {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(total ?? 1, 0, { rows: 0, valid: 0, rejected: 0 });
  }

  update(bytes: number, tally: ImportTally, force = false): void {
    if (!this.#bar) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    this.#bar.update(bytes, { rows: tally.rowsRead, valid: tally.valid, rejected: tally.rejected });
  }

  stop(): void {
    this.#bar?.stop();
  }
}

export async function* counted(
  chunks: AsyncIterable<Uint8Array | string>,
  counter: { bytes: number },
): AsyncGenerator<Uint8Array | string> {
  for await (const chunk of chunks) {
    counter.bytes += chunk.length;
    yield chunk;
  }
}

export interface PassOptions {
  readonly input: AsyncIterable<Uint8Array | string>;
  readonly parser: PlaintextImportParser;
  readonly destination: Destination;
  readonly tally: ImportTally;
  readonly batchSize: number;
  readonly progress: Progress;
  readonly counter: { bytes: number };
  /** Store valid rows; false: only validate. */
  readonly write: boolean;
  /** Keep valid rows here (strict mode from stdin, which cannot be read twice). */
  readonly keep?: Accepted[];
}

/** Reads every row once: validates, checks, and (when writing) stores in batches. */
export async function pass(p: PassOptions): Promise<void> {
  let batch: Accepted[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await p.destination.write(rows, (i, result) => {
      if (result === "imported") p.tally.imported++;
      else if (result === "duplicate") p.tally.duplicates++;
      else {
        p.tally.valid--;
        p.tally.reject({ row: rows[i]!.row, line: rows[i]!.line, reason: result.reason });
      }
    });
  };
  for await (const row of importRows(p.input, p.parser)) {
    p.tally.rowsRead++;
    if (!row.ok) p.tally.reject({ row: row.row, line: row.line, reason: row.reason });
    else {
      const reason = await p.destination.check(row.record);
      if (reason !== undefined) p.tally.reject({ row: row.row, line: row.line, reason });
      else {
        p.tally.valid++;
        if (p.write) {
          batch.push(row);
          if (batch.length >= p.batchSize) await flush();
        } else p.keep?.push(row);
      }
    }
    p.progress.update(p.counter.bytes, p.tally);
  }
  await flush();
  p.progress.update(p.counter.bytes, p.tally, true);
}

/** Stores rows kept by a validating pass (strict mode from stdin), in batches. */
export async function storeKept(
  kept: readonly Accepted[],
  destination: Destination,
  tally: ImportTally,
  batchSize: number,
): Promise<void> {
  for (let i = 0; i < kept.length; i += batchSize) {
    const rows = kept.slice(i, i + batchSize);
    await destination.write(rows, (k, result) => {
      if (result === "imported") tally.imported++;
      else if (result === "duplicate") tally.duplicates++;
      else tally.reject({ row: rows[k]!.row, line: rows[k]!.line, reason: result.reason });
    });
  }
}
