// CSV as hospital systems export it (RFC 4180, with the delimiter read from the header line: `,`, `;`,
// tab or `|`): a header naming the columns, then one row per record; quoted fields may hold
// delimiters, doubled quotes and line breaks. A stray quote costs one row, never the rest of the file.

import { CustosError } from "../core/index.js";
import { type FieldMap, getter, mapNames, missingColumns } from "./field-mapping.js";
import { CR, LF, lineEnd, QUOTE, type RowReader, type RowSink } from "./row-reader.js";

const DELIMITERS = [",", ";", "\t", "|"] as const;

type CsvScan =
  | { readonly kind: "incomplete" }
  | { readonly kind: "record"; readonly fields: string[]; readonly end: number; readonly breaks: number }
  | { readonly kind: "malformed"; readonly reason: string };

const INCOMPLETE: CsvScan = { kind: "incomplete" };

/** Line breaks (CRLF, LF or a lone CR) in a quoted field's value. */
function countBreaks(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === LF || (c === CR && value.charCodeAt(i + 1) !== LF)) n++;
  }
  return n;
}

/** RFC 4180 2: one record from `start`; quoted fields may hold delimiters, `""` and line breaks. */
function scanCsvRecord(text: string, start: number, delimiter: number, eof: boolean): CsvScan {
  const fields: string[] = [];
  let i = start;
  let breaks = 0;
  for (;;) {
    let c: number;
    if (text.charCodeAt(i) === QUOTE) {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return eof ? { kind: "malformed", reason: "a quoted field is never closed" } : INCOMPLETE;
        value += text.slice(j, q);
        if (q + 1 >= text.length && !eof) return INCOMPLETE;
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      breaks += countBreaks(value);
      fields.push(value);
      if (i >= text.length) return { kind: "record", fields, end: i, breaks };
      c = text.charCodeAt(i);
      if (c !== delimiter && c !== CR && c !== LF)
        return { kind: "malformed", reason: "text follows a closing quote (an unescaped quote?)" };
    } else {
      let j = i;
      c = Number.NaN;
      while (j < text.length) {
        c = text.charCodeAt(j);
        if (c === delimiter || c === CR || c === LF) break;
        j++;
      }
      if (j >= text.length) {
        if (!eof) return INCOMPLETE;
        fields.push(text.slice(i, j));
        return { kind: "record", fields, end: j, breaks };
      }
      fields.push(text.slice(i, j));
      i = j;
    }
    if (c === delimiter) {
      i++;
      continue;
    }
    // RFC 4180 2.1: CRLF ends a record; a bare LF or CR is accepted too.
    if (c === CR) {
      if (i + 1 >= text.length && !eof) return INCOMPLETE;
      i += text.charCodeAt(i + 1) === LF ? 2 : 1;
    } else i += 1;
    return { kind: "record", fields, end: i, breaks: breaks + 1 };
  }
}

/** RFC 4180: every record of a whole CSV text as its fields (blank lines included as `[""]`). */
export function parseCsv(text: string, delimiter = ","): string[][] {
  if (delimiter.length !== 1) throw new CustosError("BAD_ARGUMENT", "a CSV delimiter is one character");
  const records: string[][] = [];
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (pos < text.length) {
    const scan = scanCsvRecord(text, pos, delimiter.charCodeAt(0), true);
    if (scan.kind !== "record")
      throw new CustosError(
        "INVALID_RECORD",
        `line ${line}: ${scan.kind === "malformed" ? scan.reason : "incomplete"}`,
      );
    records.push(scan.fields);
    line += scan.breaks;
    pos = scan.end;
  }
  return records;
}

/** Picks the delimiter that occurs most often outside quotes in the first line (comma on a tie). */
function detectDelimiter(firstLine: string): number {
  const counts = new Map<string, number>();
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (DELIMITERS as readonly string[]).includes(ch))
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  let best: string = ",";
  for (const d of DELIMITERS) if ((counts.get(d) ?? 0) > (counts.get(best) ?? 0)) best = d;
  return best.charCodeAt(0);
}

export class CsvReader implements RowReader {
  #delimiter = 0;
  #csvMap: FieldMap<number> | undefined;
  #width = 0;

  get started(): boolean {
    return this.#csvMap !== undefined;
  }

  read(text: string, eof: boolean, sink: RowSink): string {
    let pos = 0;
    while (pos < text.length) {
      if (this.#delimiter === 0) {
        // The delimiter is the one the header line uses most: `,`, `;`, tab or `|`.
        const end = lineEnd(text, pos, eof);
        if (end < 0 && text.length - pos <= sink.maxRow) break;
        const first = text.slice(pos, end < 0 ? text.length : end);
        if (end >= 0 && first.trim().length === 0) {
          pos = end;
          sink.line += 1;
          continue;
        }
        this.#delimiter = detectDelimiter(first);
      }
      const scan = scanCsvRecord(text, pos, this.#delimiter, eof);
      if (scan.kind === "incomplete" && text.length - pos <= sink.maxRow) break;
      if (scan.kind !== "record") {
        const reason =
          scan.kind === "malformed"
            ? scan.reason
            : `the row is longer than ${sink.maxRow} characters (an unclosed quote?)`;
        if (this.#csvMap === undefined)
          throw new CustosError(
            "INVALID_RECORD",
            `the CSV header (line ${sink.line}) is malformed: ${reason}`,
          );
        // Reject the row's first line only and read on from the next: a stray quote costs one row.
        sink.reject(sink.line, reason);
        const end = lineEnd(text, pos, eof);
        if (end < 0) {
          sink.skippingLine = true;
          return text.endsWith("\r") ? "\r" : "";
        }
        pos = end;
        sink.line += 1;
        continue;
      }
      const line = sink.line;
      sink.line += scan.breaks;
      pos = scan.end;
      const fields = scan.fields;
      if (fields.every((f) => f.trim().length === 0)) continue;
      if (this.#csvMap === undefined) {
        this.#header(fields, line, sink);
        continue;
      }
      if (fields.length !== this.#width) {
        sink.reject(line, `has ${fields.length} fields, the header has ${this.#width}`);
        continue;
      }
      sink.emit(
        line,
        getter(this.#csvMap, (i) => fields[i]),
      );
    }
    return text.slice(pos);
  }

  #header(names: readonly string[], line: number, sink: RowSink): void {
    const map = mapNames(names.map((name, i) => [name, i] as const));
    const missing = missingColumns(map);
    if (missing.length > 0)
      throw new CustosError(
        "INVALID_RECORD",
        `the CSV header (line ${line}) has no column for ${missing.join("; ")}`,
      );
    this.#csvMap = map;
    this.#width = names.length;
    sink.noteIgnored(map.ignored);
  }
}
