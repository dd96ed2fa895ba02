// RFC 5424 syslog messages (section 6): the header, the structured data and the MSG, parsed strictly
// from bytes. Every field is checked against the ABNF's alphabet and length; anything else is a
// BAD_ENCODING error that names the field (never its content, which may hold personal data).

import { CustosError } from "../core/index.js";
import { parseIsoTime } from "../core/record/index.js";

export interface StructuredDataElement {
  readonly id: string;
  readonly params: readonly (readonly [string, string])[];
}

export interface SyslogMessage {
  readonly facility: number;
  readonly severity: number;
  /** Milliseconds since the epoch; undefined for the NILVALUE. */
  readonly time: number | undefined;
  readonly hostname: string | undefined;
  readonly appName: string | undefined;
  readonly procId: string | undefined;
  readonly msgId: string | undefined;
  readonly structuredData: readonly StructuredDataElement[];
  /** The MSG part, without its UTF-8 BOM (RFC 5424 6.4). */
  readonly msg: Uint8Array;
}

const SP = 0x20;
const NIL = "-";
const bad = (what: string) => new CustosError("BAD_ENCODING", `bad syslog message (RFC 5424): ${what}`);

/** PRINTUSASCII (%d33-126) of 1..max characters, or the NILVALUE. */
function headerField(text: string, max: number, what: string): string | undefined {
  if (text === NIL) return undefined;
  if (text.length < 1 || text.length > max || !/^[\x21-\x7e]+$/.test(text))
    throw bad(`${what} must be 1-${max} printable ASCII characters or "-"`);
  return text;
}

class Cursor {
  at = 0;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** ASCII up to the next SP (exclusive), consuming the SP; `last` allows the end of input instead. */
  token(what: string, last = false): string {
    const end = this.bytes.indexOf(SP, this.at);
    if (end < 0 && !last) throw bad(`the message ends before ${what}`);
    const stop = end < 0 ? this.bytes.length : end;
    let text = "";
    for (let i = this.at; i < stop; i++) text += String.fromCharCode(this.bytes[i]!);
    this.at = end < 0 ? stop : end + 1;
    return text;
  }
}

// RFC 5424 6.3.3: SD-NAME is 1*32 PRINTUSASCII except '=', SP, ']' and '"'.
const SD_NAME = /^[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}$/;

function parseStructuredData(text: string): StructuredDataElement[] {
  if (text === NIL) return [];
  const elements: StructuredDataElement[] = [];
  let i = 0;
  const nameUntil = (stops: string): string => {
    const start = i;
    while (i < text.length && !stops.includes(text[i]!)) i++;
    const name = text.slice(start, i);
    if (!SD_NAME.test(name)) throw bad("a structured-data name is not 1-32 printable ASCII characters");
    return name;
  };
  while (i < text.length) {
    if (text[i] !== "[") throw bad("structured data must be [SD-ID params] elements or -");
    i++;
    const id = nameUntil(" ]");
    const params: [string, string][] = [];
    while (text[i] === " ") {
      i++;
      const name = nameUntil("=");
      if (text[i] !== "=" || text[i + 1] !== '"')
        throw bad('a structured-data parameter is not name="value"');
      i += 2;
      let value = "";
      for (;;) {
        const c = text[i];
        if (c === undefined) throw bad("a structured-data value is not closed");
        if (c === '"') break;
        if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\" || text[i + 1] === "]")) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === "]") throw bad("a structured-data value holds an unescaped ]");
        value += c;
        i++;
      }
      i++;
      params.push([name, value]);
    }
    if (text[i] !== "]") throw bad("a structured-data element is not closed");
    i++;
    elements.push({ id, params });
  }
  return elements;
}

/** The structured data runs to the first SP outside any quoted value; returns its end. */
function structuredDataEnd(bytes: Uint8Array, from: number): number {
  if (bytes[from] === 0x2d) return from + 1; // "-"
  let quoted = false;
  for (let i = from; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (quoted) {
      if (b === 0x5c) i++;
      else if (b === 0x22) quoted = false;
    } else if (b === 0x22) quoted = true;
    else if (b === SP && bytes[i - 1] === 0x5d) return i;
  }
  return bytes.length;
}

const BOM = [0xef, 0xbb, 0xbf];

export function parseSyslogMessage(bytes: Uint8Array): SyslogMessage {
  // RFC 5424 6.2.1: "<" PRIVAL ">", PRIVAL 1-3 digits, 0-191, no leading zeros.
  const close = bytes.indexOf(0x3e);
  if (bytes[0] !== 0x3c || close < 2 || close > 4) throw bad("the message does not start with <PRI>");
  let pri = "";
  for (let i = 1; i < close; i++) pri += String.fromCharCode(bytes[i]!);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(pri) || Number(pri) > 191) throw bad("PRI must be 0-191");
  const cursor = new Cursor(bytes);
  cursor.at = close + 1;
  const version = cursor.token("the version");
  if (version !== "1") throw bad("only VERSION 1 is understood");
  const timestamp = cursor.token("the timestamp");
  let time: number | undefined;
  if (timestamp !== NIL) {
    // RFC 5424 6.2.3: FULL-DATE "T" FULL-TIME, upper-case T and Z, at most 6 fraction digits.
    time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.test(timestamp)
      ? parseIsoTime(timestamp)
      : undefined;
    if (time === undefined) throw bad("the timestamp is not an RFC 3339 date-time");
  }
  const hostname = headerField(cursor.token("the hostname"), 255, "HOSTNAME");
  const appName = headerField(cursor.token("the app name"), 48, "APP-NAME");
  const procId = headerField(cursor.token("the process ID"), 128, "PROCID");
  const msgId = headerField(cursor.token("the message ID", true), 32, "MSGID");
  if (cursor.at >= bytes.length) throw bad("structured data is missing");
  const sdEnd = structuredDataEnd(bytes, cursor.at);
  let sdText = "";
  for (let i = cursor.at; i < sdEnd; i++) {
    const b = bytes[i]!;
    if (b < 0x20 || b > 0x7e) {
      // PARAM-VALUE is UTF-8: decode the element strictly rather than byte by byte.
      sdText = decodeUtf8(bytes.subarray(cursor.at, sdEnd), "structured data");
      break;
    }
    sdText += String.fromCharCode(b);
  }
  const structuredData = parseStructuredData(sdText);
  let msg = bytes.subarray(Math.min(bytes.length, sdEnd + 1));
  if (sdEnd < bytes.length && bytes[sdEnd] !== SP) throw bad("structured data is not followed by a space");
  if (BOM.every((b, i) => msg[i] === b)) msg = msg.subarray(3);
  const priority = Number(pri);
  return {
    facility: priority >> 3,
    severity: priority & 7,
    time,
    hostname,
    appName,
    procId,
    msgId,
    structuredData,
    msg,
  };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw bad(`${what} is not valid UTF-8`);
  }
}
