// The FHIR AuditEvent search parameters the gateway answers (IHE ITI-81 / FHIR R4 AuditEvent search):
// patient, date (with ge/gt/le/lt/eq prefixes), agent, agent-name, address, action, entity, outcome,
// _sort=(-)date, _count, and our paging offset. Parsing is strict: an unknown or malformed parameter is
// a 400 with an OperationOutcome naming it, never silently ignored (a filter dropped would show more).

export class SearchError extends Error {
  readonly status: number;
  readonly issueCode: "invalid" | "not-supported" | "not-found" | "forbidden" | "exception" | "too-costly";
  constructor(status: number, issueCode: SearchError["issueCode"], message: string) {
    super(message);
    this.name = "SearchError";
    this.status = status;
    this.issueCode = issueCode;
  }
}

export interface AuditEventSearch {
  /** Patient IDs (the id of a `Patient/<id>` reference); several mean any of them (comma = OR). */
  readonly patients?: readonly string[];
  /** Inclusive start and exclusive end, ms since the epoch. */
  readonly from?: number;
  readonly to?: number;
  readonly agents?: readonly string[];
  readonly agentNames?: readonly string[];
  readonly addresses?: readonly string[];
  readonly actions?: readonly string[];
  readonly entities?: readonly string[];
  readonly outcomes?: readonly string[];
  readonly newestFirst: boolean;
  readonly count: number;
  readonly offset: number;
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;
/** The parameters a next link carries besides the search itself. */
export const PAGING_PARAMS = ["_count", "_offset", "_sort"] as const;

const SUPPORTED = new Set([
  "patient",
  "date",
  "agent",
  "agent-name",
  "address",
  "action",
  "entity",
  "outcome",
  "_sort",
  "_count",
  "_offset",
  "_format",
]);
const ACTION_CODES = new Set(["C", "R", "U", "D", "E"]);
const OUTCOME_CODES = new Set(["0", "4", "8", "12"]);
const DATE =
  /^(ge|gt|le|lt|eq)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const invalid = (message: string) => new SearchError(400, "invalid", message);

/** A token or reference value without its system (`system|code`) or resource type (`Patient/x`). */
export function bareValue(value: string, type?: string): string {
  const code = value.includes("|") ? value.slice(value.lastIndexOf("|") + 1) : value;
  if (type && code.startsWith(`${type}/`)) return code.slice(type.length + 1);
  return code;
}

function values(params: URLSearchParams, name: string): string[] | undefined {
  const all = params.getAll(name);
  if (all.length === 0) return undefined;
  // Repeating a parameter is AND, a comma-separated list OR (FHIR R4 3.1.1.5.x); we keep AND to one.
  if (all.length > 1 && name !== "date") throw invalid(`${name}: give it once (use a comma for "any of")`);
  const list = (all[0] ?? "")
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (list.length === 0) throw invalid(`${name}: empty value`);
  if (list.some((v) => v.length > 256)) throw invalid(`${name}: value longer than 256 characters`);
  return list;
}

/** The [start, end) range a FHIR date of any precision stands for (R4 2.1.0.x date search). */
function dateRange(text: string): { prefix: string; start: number; end: number } {
  const m = DATE.exec(text);
  if (!m) throw invalid("date: expected [ge|gt|le|lt|eq]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][zone]]]]");
  const [, prefix = "eq", y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? undefined : Number(mo) - 1;
  const day = d === undefined ? undefined : Number(d);
  if (month !== undefined && (month < 0 || month > 11)) throw invalid("date: month out of range");
  if (day !== undefined && (day < 1 || day > 31)) throw invalid("date: day out of range");
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59))
    throw invalid("date: time out of range");
  if (h !== undefined && zone === undefined) throw invalid("date: a time needs a zone (Z or ±hh:mm)");
  let start: number;
  let end: number;
  if (month === undefined) {
    start = Date.UTC(year, 0, 1);
    end = Date.UTC(year + 1, 0, 1);
  } else if (day === undefined) {
    start = Date.UTC(year, month, 1);
    end = Date.UTC(year, month + 1, 1);
  } else if (h === undefined) {
    start = Date.UTC(year, month, day);
    if (new Date(start).getUTCDate() !== day) throw invalid("date: no such day");
    end = start + 86_400_000;
  } else {
    const iso = `${y}-${mo}-${d}T${h}:${mi}:${s ?? "00"}${frac ?? ""}${zone}`;
    start = Date.parse(iso);
    if (Number.isNaN(start)) throw invalid("date: not a valid time");
    end = start + (s === undefined ? 60_000 : frac === undefined ? 1000 : 1);
  }
  return { prefix, start, end };
}

function count(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const all = params.getAll(name);
  if (all.length === 0) return fallback;
  if (all.length > 1 || !/^\d{1,7}$/.test(all[0]!)) throw invalid(`${name}: expected a whole number`);
  const n = Number(all[0]);
  if (n > max) throw invalid(`${name}: at most ${max}`);
  return n;
}

/** Parses a query string into a search; throws SearchError (400) naming the bad parameter. */
export function parseSearch(params: URLSearchParams): AuditEventSearch {
  for (const name of new Set(params.keys())) {
    if (!SUPPORTED.has(name)) {
      throw new SearchError(
        400,
        "not-supported",
        `search parameter ${name.slice(0, 64)} is not supported (supported: ${[...SUPPORTED].join(", ")})`,
      );
    }
  }
  const format = params.get("_format");
  if (format !== null && !/^(json|application\/(fhir\+)?json)$/.test(format))
    throw new SearchError(400, "not-supported", "_format: only JSON is served");
  let from: number | undefined;
  let to: number | undefined;
  for (const text of params.getAll("date")) {
    const { prefix, start, end } = dateRange(text);
    const lower = prefix === "ge" || prefix === "eq" ? start : prefix === "gt" ? end : undefined;
    const upper = prefix === "lt" ? start : prefix === "le" || prefix === "eq" ? end : undefined;
    if (lower !== undefined) from = from === undefined ? lower : Math.max(from, lower);
    if (upper !== undefined) to = to === undefined ? upper : Math.min(to, upper);
  }
  const sort = params.getAll("_sort");
  if (sort.length > 1 || (sort[0] !== undefined && sort[0] !== "date" && sort[0] !== "-date"))
    throw new SearchError(400, "not-supported", "_sort: only date or -date");
  const actions = values(params, "action");
  if (actions?.some((a) => !ACTION_CODES.has(bareValue(a))))
    throw invalid("action: expected C, R, U, D or E");
  const outcomes = values(params, "outcome");
  if (outcomes?.some((o) => !OUTCOME_CODES.has(bareValue(o))))
    throw invalid("outcome: expected 0, 4, 8 or 12");
  const patients = values(params, "patient")?.map((p) => bareValue(p, "Patient"));
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
  return {
    ...optional("patients", patients),
    ...optional("from", from),
    ...optional("to", to),
    ...optional("agents", values(params, "agent")),
    ...optional("agentNames", values(params, "agent-name")),
    ...optional("addresses", values(params, "address")),
    ...optional(
      "actions",
      actions?.map((a) => bareValue(a)),
    ),
    ...optional("entities", values(params, "entity")),
    ...optional(
      "outcomes",
      outcomes?.map((o) => bareValue(o)),
    ),
    newestFirst: sort[0] !== "date",
    count: count(params, "_count", DEFAULT_COUNT, MAX_COUNT),
    offset: count(params, "_offset", 0, 10_000_000),
  };
}
