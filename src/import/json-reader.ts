// JSON exports: one object per line (NDJSON) or an array of objects, read element by element so a
// large array never sits in memory whole. Each object's keys are mapped to fields like CSV columns.

import { type FieldMap, getter, mapNames } from "./field-mapping.js";
import { LF, QUOTE, type RowReader, type RowSink } from "./row-reader.js";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One JSON text to one row; the field maps of the key sets seen are kept (at most 64). */
class JsonValues {
  readonly #jsonMaps = new Map<string, FieldMap<string>>();

  read(sink: RowSink, line: number, content: string): void {
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch {
      sink.reject(line, "not valid JSON");
      return;
    }
    if (!isObject(value)) {
      sink.reject(line, "not a JSON object");
      return;
    }
    const keys = Object.keys(value);
    const signature = keys.join("\u0000");
    let map = this.#jsonMaps.get(signature);
    if (map === undefined) {
      map = mapNames(keys.map((k) => [k, k] as const));
      if (this.#jsonMaps.size >= 64) this.#jsonMaps.clear();
      this.#jsonMaps.set(signature, map);
      sink.noteIgnored(map.ignored);
    }
    const object = value;
    sink.emit(
      line,
      getter(map, (key) => object[key]),
    );
  }
}

export class NdjsonReader implements RowReader {
  readonly started = true;
  readonly #values = new JsonValues();

  read(text: string, eof: boolean, sink: RowSink): string {
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf("\n", pos);
      if (nl < 0 && !eof) {
        if (text.length - pos > sink.maxRow) {
          sink.reject(sink.line, `the line is longer than ${sink.maxRow} characters`);
          sink.skippingLine = true;
          return "";
        }
        break;
      }
      const end = nl < 0 ? text.length : nl;
      const line = sink.line;
      sink.line += 1;
      const content = text.slice(pos, end).trim();
      pos = nl < 0 ? text.length : nl + 1;
      if (content.length === 0) continue;
      if (content.length > sink.maxRow) {
        sink.reject(line, `the line is longer than ${sink.maxRow} characters`);
        continue;
      }
      this.#values.read(sink, line, content);
    }
    return text.slice(pos);
  }
}

export class JsonArrayReader implements RowReader {
  readonly started = true;
  readonly #values = new JsonValues();
  #state: "before" | "inside" | "after" | "done" = "before";

  read(text: string, eof: boolean, sink: RowSink): string {
    let pos = 0;
    const advance = (to: number): void => {
      for (let i = pos; i < to; i++) if (text.charCodeAt(i) === LF) sink.line++;
      pos = to;
    };
    const skipSpace = (): void => {
      let i = pos;
      while (i < text.length && /\s/.test(text[i]!)) i++;
      advance(i);
    };
    for (;;) {
      skipSpace();
      if (this.#state === "done") {
        pos = text.length;
        break;
      }
      if (pos >= text.length) {
        if (eof && this.#state === "inside")
          sink.reject(sink.line, "the input ends inside the JSON array (truncated?)");
        break;
      }
      if (this.#state === "before") {
        advance(pos + 1); // the "[" that made this JSON
        this.#state = "inside";
        skipSpace();
        if (text[pos] === "]") {
          advance(pos + 1);
          this.#state = "after";
        }
        continue;
      }
      if (this.#state === "after") {
        sink.reject(sink.line, "text after the end of the JSON array; the rest was not read");
        this.#state = "done";
        continue;
      }
      // One element, up to the "," or "]" at depth 0 outside strings.
      const end = elementEnd(text, pos);
      if (end < 0) {
        if (eof) {
          sink.reject(sink.line, "the input ends inside the JSON array (truncated?)");
          this.#state = "done";
        } else if (text.length - pos > sink.maxRow) {
          sink.reject(sink.line, `a record is longer than ${sink.maxRow} characters; the rest was not read`);
          this.#state = "done";
        } else break;
        continue;
      }
      const element = text.slice(pos, end).trim();
      const line = sink.line;
      const closing = text[end] === "]";
      advance(end + 1);
      if (element.length === 0) {
        // `[]` (perhaps split across chunks) holds no element; any other empty element is an error.
        if (!closing || sink.rows > 0) sink.reject(line, "an empty element in the JSON array");
      } else if (element.length > sink.maxRow)
        sink.reject(line, `a record is longer than ${sink.maxRow} characters`);
      else this.#values.read(sink, line, element);
      if (closing) this.#state = "after";
    }
    return text.slice(pos);
  }
}

/** Where a JSON array element starting at `start` ends: the "," or "]" at depth 0; -1 if not yet. */
function elementEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i;
      depth--;
    } else if (c === 0x2c && depth === 0) return i;
  }
  return -1;
}
