import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustosError } from "../../src/core/errors.js";
import { ACTIONS, type AuditRecord, OUTCOMES } from "../../src/core/record/index.js";
import {
  ACTION_SYNONYMS,
  FIELD_SYNONYMS,
  type ImportOptions,
  type ImportRow,
  ImportTally,
  importRows,
  OUTCOME_SYNONYMS,
  PlaintextImportParser,
  parseCsv,
  parseImportTimestamp,
  parsePlaintextImport,
  parseTimezoneOffset,
} from "../../src/import/index.js";

// A CSV writer of our own (RFC 4180 2.5-2.7): quotes a field when it must, or when told to.
function csvField(value: string, quote: boolean, delimiter = ","): string {
  const must = value.includes(delimiter) || /["\r\n]/.test(value) || value.length === 0;
  return quote || must ? `"${value.replaceAll('"', '""')}"` : value;
}

function writeCsv(
  rows: readonly (readonly string[])[],
  options: {
    quote?: (row: number, column: number) => boolean;
    eol?: string;
    bom?: boolean;
    delimiter?: string;
  } = {},
): string {
  const eol = options.eol ?? "\r\n";
  const delimiter = options.delimiter ?? ",";
  const body = rows
    .map((row, r) =>
      row.map((f, c) => csvField(f, options.quote?.(r, c) ?? false, delimiter)).join(delimiter),
    )
    .join(eol);
  return `${options.bom ? "\uFEFF" : ""}${body}${eol}`;
}

/** Splits a text into chunks at the given cut points. */
function chunksOf(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(text.slice(last, p));
    last = p;
  }
  chunks.push(text.slice(last));
  return chunks;
}

function parseChunks(chunks: readonly string[], options: ImportOptions = {}): ImportRow[] {
  const parser = new PlaintextImportParser(options);
  const rows = chunks.flatMap((c) => parser.push(c));
  return [...rows, ...parser.end()];
}

async function collect(chunks: AsyncIterable<string | Uint8Array>, options: ImportOptions = {}) {
  const rows: ImportRow[] = [];
  for await (const row of importRows(chunks, new PlaintextImportParser(options))) rows.push(row);
  return rows;
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

const okRecords = (rows: readonly ImportRow[]) => rows.filter((r) => r.ok).map((r) => r.record);
const rejections = (rows: readonly ImportRow[]) =>
  rows.filter((r) => !r.ok).map((r) => ({ row: r.row, line: r.line, reason: r.reason }));

const HEADER = "timestamp,user,action,patient";

// Printable text that survives the schema (no control characters) but is hostile to CSV.
const csvHostile = fc.string({
  unit: fc.constantFrom("a", "Z", "0", " ", ",", ";", '"', "'", "|", "é", "漢", "\t", "-"),
  minLength: 1,
  maxLength: 12,
});
const idArb = csvHostile.filter((s) => s.trim().length > 0 && !s.includes("\t")).map((s) => s.trim());
const recordArb: fc.Arbitrary<AuditRecord> = fc.record(
  {
    time: fc
      .integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) })
      .map((t) => new Date(Math.floor(t / 1000) * 1000).toISOString()),
    patientId: idArb,
    userId: idArb,
    action: fc.constantFrom(...ACTIONS),
    sourceEventId: idArb,
    purposeOfUse: idArb,
    outcome: fc.constantFrom(...OUTCOMES),
    emergency: fc.boolean(),
    detail: fc
      .string({ unit: fc.constantFrom("x", " ", ",", '"', "\n", "\t", "ü"), maxLength: 30 })
      .filter((s) => s.trim().length > 0),
  },
  { requiredKeys: ["time", "patientId", "userId", "action"] },
);

describe("RFC 4180 CSV", () => {
  it("round-trips any table through a writer with arbitrary quoting, line endings and a BOM", () => {
    const cell = fc.string({
      unit: fc.constantFrom("a", "b", " ", ",", '"', "\r", "\n", "\r\n", "ß"),
      maxLength: 8,
    });
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 5 })
          .chain((width) =>
            fc.array(fc.array(cell, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 8 }),
          ),
        fc.func(fc.boolean()),
        fc.constantFrom("\r\n", "\n"),
        fc.boolean(),
        (table, quote, eol, bom) => {
          const text = writeCsv(table, { quote: (r, c) => quote(r, c), eol, bom });
          expect(parseCsv(text)).toEqual(table);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads quoted fields, doubled quotes, CRLF, embedded newlines and a BOM", () => {
    expect(parseCsv('\uFEFFa,"b,c","say ""hi"""\r\n"line1\r\nline2",,x\r\n')).toEqual([
      ["a", "b,c", 'say "hi"'],
      ["line1\r\nline2", "", "x"],
    ]);
  });

  it("names the line of a malformed record", () => {
    expect(() => parseCsv('a,b\n"x"y,z\n')).toThrow(/line 2: text follows a closing quote/);
    expect(() => parseCsv('a,b\n"never closed,z\n')).toThrow(/line 2: a quoted field is never closed/);
  });
});

describe("importing rows", () => {
  it("round-trips generated records through CSV with synonym headers, extra columns, any chunking", () => {
    const columns = [
      ["time", fc.constantFrom("timestamp", "Time", "event_time", "DateTime")],
      ["patientId", fc.constantFrom("patient", "Patient ID", "MRN", "resource", "subject")],
      ["userId", fc.constantFrom("user", "user_id", "UserId", "username")],
      ["action", fc.constantFrom("action", "Event", "activity", "operation")],
      ["sourceEventId", fc.constantFrom("event_id", "id")],
      ["purposeOfUse", fc.constantFrom("reason", "purpose")],
      ["outcome", fc.constantFrom("outcome", "result")],
      ["emergency", fc.constantFrom("emergency", "break_glass", "BTG")],
      ["detail", fc.constantFrom("detail", "details")],
    ] as const;
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 1, maxLength: 12 }),
        fc.tuple(...columns.map(([, name]) => name)),
        fc.shuffledSubarray(["terminal notes", "shift", "cost centre"]),
        fc.func(fc.boolean()),
        fc.constantFrom("\r\n", "\n"),
        fc.constantFrom(",", ";", "\t"),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 12 }),
        (records, names, extras, quote, eol, delimiter, bom, cuts) => {
          const fields = columns.map(([field]) => field);
          const header = [...names, ...extras];
          const actionWord = (a: string) => a.toUpperCase();
          const rows = records.map((r) => [
            ...fields.map((f) => {
              const v = r[f];
              if (v === undefined) return "";
              if (f === "emergency") return v ? "yes" : "no";
              if (f === "action") return actionWord(String(v));
              return String(v);
            }),
            ...extras.map(() => "extra"),
          ]);
          const text = writeCsv([header, ...rows], { quote: (r, c) => quote(r, c), eol, bom, delimiter });
          const parsed = parseChunks(chunksOf(text, cuts));
          expect(rejections(parsed)).toEqual([]);
          expect(okRecords(parsed)).toEqual(
            records.map((r) => {
              const { detail, ...rest } = r;
              return detail === undefined ? rest : { ...rest, detail };
            }),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("never throws on an arbitrary body after a valid header, and gives every bad row a reason", () => {
    const body = fc.string({
      unit: fc.constantFrom(
        "a",
        "1",
        ",",
        '"',
        "\r",
        "\n",
        "-",
        ":",
        " ",
        "T",
        "Z",
        "view",
        "2024-01-02 10:00:00",
      ),
      maxLength: 200,
    });
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const rows = parseChunks(chunksOf(`${HEADER}\n${text}`, cuts), { maxRowChars: 64 });
        rows.forEach((row, i) => {
          expect(row.row).toBe(i + 1);
          if (!row.ok) expect(row.reason.length).toBeGreaterThan(0);
        });
      }),
      { numRuns: 500 },
    );
  });

  it("throws nothing but a CustosError on arbitrary input, in any format", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 100 }),
          fc.json().map((j) => j),
          fc.string({ unit: "binary", maxLength: 60 }),
        ),
        fc.constantFrom("csv", "json", "auto") as fc.Arbitrary<"csv" | "json" | "auto">,
        fc.array(fc.nat(), { maxLength: 6 }),
        (text, format, cuts) => {
          try {
            parseChunks(chunksOf(text, cuts), { format });
          } catch (error) {
            expect(error).toBeInstanceOf(CustosError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("gives the same rows however the input is cut into chunks", () => {
    const text = fc.string({
      unit: fc.constantFrom("a", ",", '"', "\r", "\n", "{", "}", "[", "]", ":", "1", " ", "\uFEFF"),
      maxLength: 120,
    });
    fc.assert(
      fc.property(
        fc.oneof(
          text.map((t) => `${HEADER}\n${t}`),
          text.map((t) => `[${t}`),
          text.map((t) => `{${t}`),
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
        (input, cuts) => {
          const once = (() => {
            try {
              return parsePlaintextImport(input);
            } catch (error) {
              return (error as Error).message;
            }
          })();
          const chunked = (() => {
            try {
              return parseChunks(chunksOf(input, cuts));
            } catch (error) {
              return (error as Error).message;
            }
          })();
          expect(chunked).toEqual(once);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("never repeats a patient ID (or any other value) in a rejection reason", () => {
    const fault = fc.constantFrom(
      "action",
      "time",
      "user-long",
      "patient-long",
      "extra-field",
      "outcome",
      "emergency",
      "quote",
      "control",
    );
    fc.assert(
      fc.property(fc.array(fault, { minLength: 1, maxLength: 10 }), (faults) => {
        const lines = faults.map((f, i) => {
          const id = `PAT-SECRET-${i}`;
          const cells = ["2024-01-02 10:00:00", "dr-who", "view", id, "", ""];
          if (f === "action") cells[2] = id;
          if (f === "time") cells[0] = id;
          if (f === "user-long") cells[1] = id.repeat(20);
          if (f === "patient-long") cells[3] = id.repeat(20);
          if (f === "extra-field") cells.push(id);
          if (f === "outcome") cells[4] = id;
          if (f === "emergency") cells[5] = id;
          if (f === "quote") cells[3] = `"${id}"x`;
          if (f === "control") cells[3] = `"${id}\u0001"`;
          return cells.join(",");
        });
        const rows = parsePlaintextImport(
          `timestamp,user,action,patient,outcome,emergency\n${lines.join("\n")}\n`,
        );
        expect(rows.filter((r) => !r.ok)).toHaveLength(faults.length);
        for (const row of rows) if (!row.ok) expect(row.reason).not.toMatch(/SECRET|dr-who/);
      }),
    );
  });

  it("decodes UTF-8 split anywhere across byte chunks, and refuses bytes that are not UTF-8", async () => {
    const text = `${HEADER}\n2024-01-02 10:00:00,Dr Müller 漢字,view,P-ü1\n`;
    const bytes = new TextEncoder().encode(text);
    for (let cut = 1; cut < bytes.length; cut += 3) {
      const rows = await collect(fromArray([bytes.slice(0, cut), bytes.slice(cut)]));
      expect(okRecords(rows)).toEqual([
        { time: "2024-01-02T10:00:00.000Z", userId: "Dr Müller 漢字", action: "query", patientId: "P-ü1" },
      ]);
    }
    const latin1 = Uint8Array.from([
      ...new TextEncoder().encode(`${HEADER}\n2024-01-02 10:00:00,M`),
      0xfc,
      0x0a,
    ]);
    await expect(collect(fromArray([latin1]))).rejects.toMatchObject({ code: "BAD_ENCODING" });
  });
});

describe("synonyms", () => {
  it("maps every header synonym to its field, whatever the case, spaces, dashes or underscores", () => {
    for (const [field, names] of Object.entries(FIELD_SYNONYMS)) {
      for (const name of names) {
        if (["time", "userId", "action", "patientId"].includes(field)) continue;
        const variant = name.toUpperCase().replaceAll("_", " ");
        const text = `${HEADER},${variant}\n2024-01-02 10:00:00,u,view,P,${field === "emergency" ? "yes" : field === "outcome" ? "success" : "v"}\n`;
        const [row] = parsePlaintextImport(text);
        expect(row?.ok, `${field} ${variant}`).toBe(true);
        if (row?.ok) expect(Object.keys(row.record), `${variant}`).toContain(field);
      }
    }
    for (const time of FIELD_SYNONYMS.time)
      for (const user of FIELD_SYNONYMS.userId)
        for (const patient of FIELD_SYNONYMS.patientId) {
          const rows = parsePlaintextImport(
            `${time},${user},operation,${patient}\n2024-01-02T10:00:00Z,u,read,P\n`,
          );
          expect(okRecords(rows)).toEqual([
            { time: "2024-01-02T10:00:00.000Z", userId: "u", action: "query", patientId: "P" },
          ]);
        }
  });

  it("maps the action words of hospital systems to our vocabulary, case-insensitively", () => {
    const expected: Record<string, string> = {
      view: "query",
      read: "query",
      open: "query",
      search: "query",
      update: "change",
      edit: "change",
      modify: "change",
      insert: "create",
      add: "create",
      new: "create",
      remove: "delete",
      export: "copy",
      download: "copy",
      print: "print",
    };
    for (const [word, action] of Object.entries(expected)) {
      for (const spelled of [word, word.toUpperCase(), ` ${word[0]!.toUpperCase()}${word.slice(1)} `]) {
        const rows = parsePlaintextImport(`${HEADER}\n2024-01-02T10:00:00Z,u,${spelled},P\n`);
        expect(okRecords(rows)[0]?.action, spelled).toBe(action);
      }
    }
    for (const [action, words] of Object.entries(ACTION_SYNONYMS)) {
      expect(ACTIONS).toContain(action);
      for (const word of words) {
        const rows = parsePlaintextImport(`${HEADER}\n2024-01-02T10:00:00Z,u,${word},P\n`);
        expect(okRecords(rows)[0]?.action).toBe(action);
      }
    }
    expect(rejections(parsePlaintextImport(`${HEADER}\n2024-01-02T10:00:00Z,u,frobnicate,P\n`))).toEqual([
      { row: 1, line: 2, reason: "action: not a recognised action word" },
    ]);
  });

  it("maps outcomes (with FHIR codes) and emergency flags", () => {
    for (const [outcome, words] of Object.entries(OUTCOME_SYNONYMS))
      for (const word of words) {
        const rows = parsePlaintextImport(`${HEADER},result\n2024-01-02T10:00:00Z,u,view,P,${word}\n`);
        expect(okRecords(rows)[0]?.outcome).toBe(outcome);
      }
    const flags = parsePlaintextImport(
      `${HEADER},break_glass\n${["Yes", "no", "1", "0", "TRUE", "f", "", "maybe"].map((f) => `2024-01-02T10:00:00Z,u,view,P,${f}`).join("\n")}\n`,
    );
    expect(flags.map((r) => (r.ok ? r.record.emergency : r.reason))).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
      undefined,
      "emergency: expected yes/no, true/false or 1/0",
    ]);
  });

  it("prefers the more specific column, joins separate date and time columns, and lists ignored ones", () => {
    const parser = new PlaintextImportParser();
    const rows = [
      ...parser.push(
        "Date,Time,User,User Name,Action,MRN,Workstation\n2024-03-01,08:15:30,u1,Dr One,view,P1,ws-3\n",
      ),
      ...parser.end(),
    ];
    // "User Name" beside a user ID column is the user's name; a workstation is the network address.
    expect(okRecords(rows)).toEqual([
      {
        time: "2024-03-01T08:15:30.000Z",
        userId: "u1",
        action: "query",
        patientId: "P1",
        networkAddress: "ws-3",
        userName: "Dr One",
      },
    ]);
    expect(parser.ignoredColumns).toEqual([]);
    const words = parsePlaintextImport(
      "timestamp,user_id,username,role,department,resource type,resource id,ip,action,mrn\n" +
        "2024-03-01T08:15:30Z,u1,Dr One,Nurse,Oncology,Observation,obs-9,10.0.0.7,view,P1\n",
    );
    expect(okRecords(words)[0]).toMatchObject({
      userId: "u1",
      userName: "Dr One",
      userRole: "Nurse",
      department: "Oncology",
      resourceType: "Observation",
      resourceId: "obs-9",
      networkAddress: "10.0.0.7",
    });
    const preferred = parsePlaintextImport(
      "time,timestamp,user,action,patient\n2024-01-01 00:00,2024-05-05T05:05:05Z,u,view,P\n",
    );
    expect(okRecords(preferred)[0]?.time).toBe("2024-05-05T05:05:05.000Z");
  });

  it("reads our own JSON field names, a JSON array and NDJSON alike", () => {
    const record = {
      time: "2024-01-02T10:00:00Z",
      patientId: "P1",
      userId: "u",
      action: "print",
      sourceEventId: "e1",
    };
    const expected = { ...record, time: "2024-01-02T10:00:00.000Z" };
    // Our field names spelled exactly: `userName` is the name, not the ID.
    expect(
      okRecords(parsePlaintextImport(JSON.stringify({ ...record, userName: "Dr U", department: "ICU" }))),
    ).toEqual([{ ...expected, userName: "Dr U", department: "ICU" }]);
    expect(okRecords(parsePlaintextImport(JSON.stringify([record, record])))).toEqual([expected, expected]);
    expect(
      okRecords(parsePlaintextImport(`${JSON.stringify(record)}\n\n${JSON.stringify(record)}\n`)),
    ).toEqual([expected, expected]);
  });
});

describe("timestamps", () => {
  it("accepts ISO 8601 and YYYY-MM-DD HH:MM:SS, zone-less ones at the given offset", () => {
    const cases: [string, string | undefined, string | undefined][] = [
      ["2024-01-02T10:00:00Z", undefined, "2024-01-02T10:00:00.000Z"],
      ["2024-01-02T10:00:00+02:00", "-05:00", "2024-01-02T08:00:00.000Z"],
      ["2024-01-02T10:00:00.123456Z", undefined, "2024-01-02T10:00:00.123Z"],
      ["2024-01-02 10:00:00", undefined, "2024-01-02T10:00:00.000Z"],
      ["2024-01-02 10:00:00", "+02:00", "2024-01-02T08:00:00.000Z"],
      ["2024-01-02T10:00:00", "-05:30", "2024-01-02T15:30:00.000Z"],
      ["2024-01-02 10:00", undefined, "2024-01-02T10:00:00.000Z"],
      ["2024-01-02 10:00:00,5", undefined, "2024-01-02T10:00:00.500Z"],
      ["2024-01-02 10:00:00 UTC", "+09:00", "2024-01-02T10:00:00.000Z"],
      ["2024-01-02 10:00:00+0100", undefined, "2024-01-02T09:00:00.000Z"],
      ["2024-01-02 10:00:00-03", undefined, "2024-01-02T13:00:00.000Z"],
      ["2024-01-02t10:00:00z", undefined, "2024-01-02T10:00:00.000Z"],
      ["2024-02-30 10:00:00", undefined, undefined],
      ["2024-01-02 24:00:00", undefined, undefined],
      ["1969-12-31 23:59:59", undefined, undefined],
      ["2024-01-02", undefined, undefined],
      ["02/01/2024 10:00", undefined, undefined],
      ["1704189600", undefined, undefined],
      ["", undefined, undefined],
    ];
    for (const [text, offset, expected] of cases)
      expect(parseImportTimestamp(text, offset), text).toBe(expected);
  });

  it("applies --timezone-offset to rows without a zone only", () => {
    const rows = parsePlaintextImport(
      `${HEADER}\n2024-06-01 12:00:00,u,view,P\n2024-06-01T12:00:00Z,u,view,P\n`,
      {
        timezoneOffset: "+02:00",
      },
    );
    expect(okRecords(rows).map((r) => r.time)).toEqual([
      "2024-06-01T10:00:00.000Z",
      "2024-06-01T12:00:00.000Z",
    ]);
  });

  it("checks the offset", () => {
    expect(parseTimezoneOffset("+05:30")).toBe("+05:30");
    expect(parseTimezoneOffset("-14:00")).toBe("-14:00");
    for (const bad of ["+5:30", "0530", "+15:00", "+14:30", "+01:60", "UTC", ""])
      expect(() => parseTimezoneOffset(bad), bad).toThrow(CustosError);
    expect(() => new PlaintextImportParser({ timezoneOffset: "+1" })).toThrow(/timezone offset/);
  });
});

describe("rejections and file-level errors", () => {
  it("rejects bad rows with their row and line and reads on", () => {
    const text = [
      "timestamp,user,action,patient,detail",
      "2024-01-02 10:00:00,u1,view,P1,treatment",
      '2024-01-02 10:00:01,u2,view,P2,"a detail with',
      'a newline"',
      "not a time,u3,view,P3,",
      "2024-01-02 10:00:03,u4,view,P4",
      "",
      ",,,,",
      '2024-01-02 10:00:05,u5,view,"P5"junk,',
      "2024-01-02 10:00:06,,view,P6,",
      `2024-01-02 10:00:07,${"u".repeat(129)},view,P7,`,
      "2024-01-02 10:00:08,u8,view,P8,last",
    ].join("\r\n");
    const rows = parsePlaintextImport(text);
    expect(rejections(rows)).toEqual([
      {
        row: 3,
        line: 5,
        reason: "timestamp: not a date and time (expected ISO 8601 or YYYY-MM-DD HH:MM:SS)",
      },
      { row: 4, line: 6, reason: "has 4 fields, the header has 5" },
      { row: 5, line: 9, reason: "text follows a closing quote (an unescaped quote?)" },
      { row: 6, line: 10, reason: "user: is required" },
      { row: 7, line: 11, reason: "user: must be at most 128 characters" },
    ]);
    expect(
      rows.filter((r) => r.ok).map((r) => [r.row, r.line, r.record.detail ?? r.record.patientId]),
    ).toEqual([
      [1, 2, "treatment"],
      [2, 3, "a detail with\na newline"],
      [8, 12, "last"],
    ]);
  });

  it("costs one row for a stray quote, even when it would swallow the rest of the file", () => {
    const lines = [HEADER, '2024-01-02 10:00:00,u,view,"P1'];
    for (let i = 2; i < 50; i++) lines.push(`2024-01-02 10:00:00,u,view,P${i}`);
    const rows = parsePlaintextImport(`${lines.join("\n")}\n`, { maxRowChars: 200 });
    expect(rejections(rows)).toEqual([
      { row: 1, line: 2, reason: "the row is longer than 200 characters (an unclosed quote?)" },
    ]);
    expect(okRecords(rows)).toHaveLength(48);
    const atEnd = parsePlaintextImport(
      `${HEADER}\n2024-01-02 10:00:00,u,view,"P1\n2024-01-02 10:00:00,u,view,P2\n`,
    );
    expect(rejections(atEnd)).toEqual([{ row: 1, line: 2, reason: "a quoted field is never closed" }]);
    expect(okRecords(atEnd).map((r) => r.patientId)).toEqual(["P2"]);
  });

  it("refuses a header without the required columns, naming the accepted names", () => {
    expect(() => parsePlaintextImport("when,who,action,patient\n")).toThrow(
      /no column for timestamp \(one of timestamp, datetime.*\); user \(one of user, user_id, username\)$/,
    );
    expect(() => parsePlaintextImport("")).toThrow(/holds no rows/);
    expect(() => parsePlaintextImport("\n \r\n")).toThrow(/holds no rows/);
    expect(parsePlaintextImport(`${HEADER}\r\n`)).toEqual([]);
    expect(() => parsePlaintextImport(`${HEADER}\n`, { format: "json" })).toThrow(/not JSON/);
  });

  it("reads a JSON array as a stream, with each record's line, and reports a truncated one", () => {
    const text =
      '[\n  {"timestamp": "2024-01-02T10:00:00Z", "user": "u", "action": "view", "patient": "P1"},\n  "text",\n  {"timestamp": "2024-01-02T10:00:00Z", "user": {"id": 1}, "action": "view", "patient": "P2"},\n  {"timestamp": "2024-01-02T10:00:00Z", "user": "u", "action": "view", "patient": "P3"}';
    const rows = parseChunks(chunksOf(text, [5, 17, 40, 90, 200]));
    expect(rows.map((r) => (r.ok ? [r.row, r.line, r.record.patientId] : [r.row, r.line, r.reason]))).toEqual(
      [
        [1, 2, "P1"],
        [2, 3, "not a JSON object"],
        [3, 4, "user: expected text"],
        [4, 5, "the input ends inside the JSON array (truncated?)"],
      ],
    );
    expect(rejections(parsePlaintextImport("[] junk"))).toEqual([
      { row: 1, line: 1, reason: "text after the end of the JSON array; the rest was not read" },
    ]);
    expect(parsePlaintextImport(" [ ] ")).toEqual([]);
  });

  it("reads NDJSON line by line, rejecting what is not a JSON object", () => {
    const text =
      '{"timestamp":"2024-01-02T10:00:00Z","user":"u","action":"view","patient":"P1"}\r\n{oops\r\n[1]\r\n{"timestamp":"2024-01-02T10:00:00Z","user":"u","action":"view"}';
    expect(rejections(parsePlaintextImport(text))).toEqual([
      { row: 2, line: 2, reason: "not valid JSON" },
      { row: 3, line: 3, reason: "not a JSON object" },
      { row: 4, line: 4, reason: "patient: is required" },
    ]);
  });

  it("records the given source system where a row names none", () => {
    const rows = parsePlaintextImport(
      `${HEADER},system\n2024-01-02T10:00:00Z,u,view,P,lab\n2024-01-02T10:00:00Z,u,view,P,\n`,
      {
        sourceSystem: "epic-2019",
      },
    );
    expect(okRecords(rows).map((r) => r.sourceSystem)).toEqual(["lab", "epic-2019"]);
  });
});

describe("the tally", () => {
  it("keeps the lowest rejected rows, in order, and counts every reason", () => {
    const tally = new ImportTally(2);
    for (let i = 1; i <= 5; i++) tally.reject({ row: i, line: i + 1, reason: i % 2 ? "odd" : "even" });
    expect(tally.rejected).toBe(5);
    expect(tally.firstRejections.map((r) => r.row)).toEqual([1, 2]);
    tally.reject({ row: 0, line: 1, reason: "late" });
    expect(tally.firstRejections.map((r) => r.row)).toEqual([0, 1]);
    expect(tally.reasonCounts()).toEqual([
      { reason: "odd", count: 3 },
      { reason: "even", count: 2 },
      { reason: "late", count: 1 },
    ]);
  });
});
