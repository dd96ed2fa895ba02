// Request bodies as text, refusing ill-formed UTF-8 instead of storing U+FFFD in its place: a record
// must hold what the source sent or be refused, and the refusal names where (line and field) without
// echoing the content.

import { CustosError, firstInvalidUtf8 } from "../core/index.js";

const strict = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8");

/** The body as a string; BAD_ENCODING naming the line and JSON field of the first ill-formed sequence. */
export function requestText(body: Uint8Array): string {
  try {
    return strict.decode(body);
  } catch {
    const offset = firstInvalidUtf8(body);
    throw new CustosError("BAD_ENCODING", describeInvalidUtf8(body, offset < 0 ? 0 : offset));
  }
}

/** "the request body is not valid UTF-8 at line 3, in field detail". */
export function describeInvalidUtf8(body: Uint8Array, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (body[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  let lineEnd = body.indexOf(0x0a, offset);
  if (lineEnd < 0) lineEnd = body.length;
  const field = fieldAt(body, 0, body.length, offset) ?? fieldAt(body, lineStart, lineEnd, offset);
  const where = field === undefined ? "" : field === "" ? ", in a field name" : `, in field ${field}`;
  return `the request body is not valid UTF-8 at line ${line}${where} (byte ${offset - lineStart + 1} of the line starts an ill-formed sequence); send text encoded as UTF-8`;
}

/**
 * The JSON path of the string that holds byte `offset` of `body[start, end)`, found by putting an ASCII
 * marker in place of the bad byte and parsing; "" for an object key, undefined if it is not JSON.
 */
function fieldAt(body: Uint8Array, start: number, end: number, offset: number): string | undefined {
  const marker = `~custos-ill-formed-${Math.random().toString(36).slice(2)}~`;
  let value: unknown;
  try {
    value = JSON.parse(
      lossy.decode(body.subarray(start, offset)) + marker + lossy.decode(body.subarray(offset + 1, end)),
    );
  } catch {
    return undefined;
  }
  return pathOf(value, marker, "");
}

function pathOf(value: unknown, marker: string, path: string): string | undefined {
  if (typeof value === "string") return value.includes(marker) ? path || "(the whole body)" : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = pathOf(value[i], marker, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (key.includes(marker)) return "";
      const found = pathOf(inner, marker, path ? `${path}.${key}` : key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** JSON.parse of a request body; BAD_ARGUMENT (never a parser's message, which quotes the body). */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CustosError("BAD_ARGUMENT", "the request body is not valid JSON");
  }
}
