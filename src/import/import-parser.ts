// Reads the plaintext audit logs hospital systems export (CSV per RFC 4180, a JSON array of objects,
// or NDJSON) into validated AuditRecords. Input arrives in chunks and only the row being read is held,
// so a file of millions of rows never sits in memory. Every row becomes a record or a rejection naming
// its row, its line and one reason; a reason never repeats a value from the input, so no patient or
// user ID can leak into a summary. Only a file-level problem (a header without the required columns,
// input that is not UTF-8) throws, as a CustosError.

import { CustosError } from "../core/index.js";
import { CsvReader } from "./csv-reader.js";
import { type Field, type RowOptions, toRecord } from "./field-mapping.js";
import { JsonArrayReader, NdjsonReader } from "./json-reader.js";
import { type ImportRow, lineEnd, type RowReader, type RowSink } from "./row-reader.js";
import { parseTimezoneOffset } from "./timestamps.js";

export const IMPORT_FORMATS = ["csv", "json", "auto"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Rows (or JSON records) longer than this are rejected rather than buffered. */
export const MAX_ROW_CHARS = 64 * 1024;

export interface ImportOptions extends RowOptions {
  readonly format?: ImportFormat;
  /** Longest row (or JSON record) accepted, in characters; default MAX_ROW_CHARS. */
  readonly maxRowChars?: number;
}

export type DetectedFormat = "csv" | "json-array" | "ndjson";

const READERS: Record<DetectedFormat, () => RowReader> = {
  csv: () => new CsvReader(),
  "json-array": () => new JsonArrayReader(),
  ndjson: () => new NdjsonReader(),
};

/**
 * A push parser: feed text with `push`, finish with `end`; each call returns the rows completed so far.
 * Synchronous and platform-free; `importRows` wraps it for byte streams. It detects the format from
 * the first non-blank character and hands the text to that format's reader.
 */
export class PlaintextImportParser {
  readonly #options: ImportOptions;
  readonly #sink: RowSink & { out: ImportRow[] };
  readonly #ignored = new Set<string>();
  #format: DetectedFormat | undefined;
  #reader: RowReader | undefined;
  #pending = "";
  #started = false;
  #ended = false;

  constructor(options: ImportOptions = {}) {
    this.#options = options;
    if (options.timezoneOffset !== undefined && options.timezoneOffset !== "Z")
      parseTimezoneOffset(options.timezoneOffset);
    const ignored = this.#ignored;
    let rows = 0;
    this.#sink = {
      out: [],
      line: 1,
      skippingLine: false,
      maxRow: options.maxRowChars ?? MAX_ROW_CHARS,
      get rows() {
        return rows;
      },
      reject(line: number, reason: string) {
        this.out.push({ ok: false, row: ++rows, line, reason });
      },
      emit(line: number, get: (field: Field) => unknown) {
        const result = toRecord(get, options);
        const row = ++rows;
        this.out.push(
          "record" in result
            ? { ok: true, row, line, record: result.record }
            : { ok: false, row, line, reason: result.reason },
        );
      },
      noteIgnored(names: readonly string[]) {
        for (const name of names) if (ignored.size < 50) ignored.add(name);
      },
    };
  }

  /** The format read (known once the first non-blank character has arrived). */
  get format(): DetectedFormat | undefined {
    return this.#format;
  }

  /** Column names (or JSON keys) that map to no field, or lost to a preferred one; at most 50. */
  get ignoredColumns(): readonly string[] {
    return [...this.#ignored];
  }

  push(chunk: string): ImportRow[] {
    if (this.#ended) throw new CustosError("INTERNAL", "the import parser has already ended");
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    this.#pending += chunk;
    return this.#drain(false);
  }

  end(): ImportRow[] {
    if (this.#ended) return [];
    const rows = this.#drain(true);
    this.#ended = true;
    this.#pending = "";
    if (this.#reader === undefined || !this.#reader.started)
      throw new CustosError("INVALID_RECORD", "the input holds no rows");
    return rows;
  }

  #drain(eof: boolean): ImportRow[] {
    const sink = this.#sink;
    sink.out = [];
    if (sink.skippingLine && !this.#skipLine(eof)) return sink.out;
    if (this.#reader === undefined && !this.#detect()) return sink.out;
    this.#pending = this.#reader!.read(this.#pending, eof, sink);
    return sink.out;
  }

  #detect(): boolean {
    const first = this.#pending.search(/\S/);
    if (first < 0) return false;
    const c = this.#pending[first];
    const format = this.#options.format ?? "auto";
    if (format === "csv") this.#format = "csv";
    else if (c === "[") this.#format = "json-array";
    else if (c === "{") this.#format = "ndjson";
    else if (format === "json")
      throw new CustosError(
        "INVALID_RECORD",
        "the input is not JSON (expected an array of objects, or one object per line)",
      );
    else this.#format = "csv";
    this.#reader = READERS[this.#format]();
    return true;
  }

  /** Drops the rest of an over-long line; true once its end has been reached. */
  #skipLine(eof: boolean): boolean {
    const end = lineEnd(this.#pending, 0, eof);
    if (end < 0) {
      this.#pending = this.#pending.endsWith("\r") ? "\r" : "";
      return false;
    }
    this.#pending = this.#pending.slice(end);
    this.#sink.line += 1;
    this.#sink.skippingLine = false;
    return true;
  }
}

/** Parses a whole text at once (tests, small files). */
export function parsePlaintextImport(text: string, options: ImportOptions = {}): ImportRow[] {
  const parser = new PlaintextImportParser(options);
  return [...parser.push(text), ...parser.end()];
}

/**
 * Rows from a stream of text or UTF-8 byte chunks, as they complete. Bytes that are not UTF-8 stop
 * the import (BAD_ENCODING) rather than becoming replacement characters in an ID.
 */
export async function* importRows(
  chunks: AsyncIterable<string | Uint8Array>,
  parser: PlaintextImportParser,
): AsyncGenerator<ImportRow> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const decode = (bytes?: Uint8Array): string => {
    try {
      return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
    } catch {
      throw new CustosError(
        "BAD_ENCODING",
        "the input is not valid UTF-8 (convert it first, e.g. iconv -f WINDOWS-1252 -t UTF-8)",
      );
    }
  };
  for await (const chunk of chunks) {
    yield* parser.push(typeof chunk === "string" ? chunk : decode(chunk));
  }
  const rest = decode();
  if (rest.length > 0) yield* parser.push(rest);
  yield* parser.end();
}
