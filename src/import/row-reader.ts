// The one interface behind which the CSV and JSON readers sit: a reader takes the text received so far,
// reports each complete row to the sink, and hands back what it could not read yet.

import type { AuditRecord } from "../core/record/index.js";
import type { Field } from "./field-mapping.js";

export type ImportRow =
  | { readonly ok: true; readonly row: number; readonly line: number; readonly record: AuditRecord }
  | { readonly ok: false; readonly row: number; readonly line: number; readonly reason: string };

/** Where a reader reports rows, and the reading position it shares with the parser. */
export interface RowSink {
  /** The physical line (1-based) at which the unread text starts; readers advance it. */
  line: number;
  /** Set by a reader that gave up on an over-long line: the parser drops the rest of that line. */
  skippingLine: boolean;
  /** Longest row (or JSON record) accepted, in characters. */
  readonly maxRow: number;
  /** Rows reported so far (records and rejections). */
  readonly rows: number;
  reject(line: number, reason: string): void;
  /** A row read as values by field; the sink validates it into a record or a rejection. */
  emit(line: number, get: (field: Field) => unknown): void;
  /** Column names (or keys) that map to no field. */
  noteIgnored(names: readonly string[]): void;
}

export interface RowReader {
  /** Reads every complete row of `text` (all of it at `eof`); returns the text left unread. */
  read(text: string, eof: boolean, sink: RowSink): string;
  /** False while a CSV reader has not yet seen its header (the input then holds no rows). */
  readonly started: boolean;
}

export const CR = 0x0d;
export const LF = 0x0a;
export const QUOTE = 0x22;

/** The end of the physical line starting at `start` (after its line break), or -1 if not yet seen. */
export function lineEnd(text: string, start: number, eof: boolean): number {
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) return i + 1;
    if (c === CR) {
      if (i + 1 >= text.length && !eof) return -1;
      return text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
    }
  }
  return eof ? text.length : -1;
}
