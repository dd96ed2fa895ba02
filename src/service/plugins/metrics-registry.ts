// The Prometheus text exposition format 0.0.4: counters, gauges and histograms in a registry small
// enough to read. Invariant: every family holds at most `maxSeries` label sets (past that, new sets
// fold into one all-"other" series), so a bug upstream cannot grow memory; label and metric names are
// checked when a family is made. The node's own metrics are wired in metrics.ts.

import { CustosError } from "../../core/index.js";

/** The Prometheus text format's media type (exposition format 0.0.4). */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export const DEFAULT_MAX_SERIES = 500;
export const DEFAULT_COLLECT_TIMEOUT_MS = 2_000;
/** Where label sets go once a family is full, so a scrape shows the overflow instead of hiding it. */
export const OVERFLOW = "other";
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A gauge's reading at scrape time; undefined (or a throw, or a timeout) leaves the sample out. */
export type GaugeRead = () => number | undefined | Promise<number | undefined>;
export type Labels<L extends string> = Readonly<Record<L, string>>;
// Text format 0.0.4: HELP escapes backslash and newline; label values also escape the double quote.
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  return `{${names.map((name, i) => `${name}="${escapeLabelValue(values[i] ?? "")}"`).join(",")}}`;
}

function checkNames(name: string, labelNames: readonly string[]): void {
  if (!METRIC_NAME.test(name)) throw new CustosError("BAD_ARGUMENT", `${name} is not a metric name`);
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
      throw new CustosError("BAD_ARGUMENT", `${label} is not a usable label name for ${name}`);
    }
  }
}

async function withTimeout<T>(read: () => T | Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(read),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Label sets of one family, capped: past `maxSeries`, new sets fold into one all-"other" series. */
class SeriesTable<T> {
  readonly #series = new Map<string, { readonly values: readonly string[]; readonly state: T }>();

  readonly labelNames: readonly string[];
  readonly maxSeries: number;
  readonly create: () => T;

  constructor(labelNames: readonly string[], maxSeries: number, create: () => T) {
    this.labelNames = labelNames;
    this.maxSeries = maxSeries;
    this.create = create;
  }

  get(labels: Readonly<Record<string, string>>): T {
    const values = this.labelNames.map((name) => {
      const value = labels[name];
      if (typeof value !== "string") throw new CustosError("BAD_ARGUMENT", `label ${name} is missing`);
      return value;
    });
    const found = this.#series.get(values.join("\u0000"));
    if (found) return found.state;
    // The overflow series itself may take the table one past its cap.
    const full = this.#series.size >= this.maxSeries;
    const kept = full ? this.labelNames.map(() => OVERFLOW) : values;
    const key = kept.join("\u0000");
    const existing = this.#series.get(key);
    if (existing) return existing.state;
    const state = this.create();
    this.#series.set(key, { values: kept, state });
    return state;
  }

  get size(): number {
    return this.#series.size;
  }

  entries(): IterableIterator<{ readonly values: readonly string[]; readonly state: T }> {
    return this.#series.values();
  }
}

export interface Family {
  readonly name: string;
  render(): Promise<string>;
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

export class Counter<L extends string = never> implements Family {
  readonly #table: SeriesTable<{ value: number }>;

  readonly name: string;
  readonly help: string;

  constructor(name: string, help: string, labelNames: readonly L[] = [], maxSeries = DEFAULT_MAX_SERIES) {
    checkNames(name, labelNames);
    this.name = name;
    this.help = help;
    this.#table = new SeriesTable(labelNames, maxSeries, () => ({ value: 0 }));
    if (labelNames.length === 0) this.#table.get({});
  }

  inc(labels: Labels<L>, by = 1): void {
    if (!Number.isFinite(by) || by < 0) {
      throw new CustosError("BAD_ARGUMENT", `${this.name} only goes up, by a finite amount`);
    }
    this.#table.get(labels).value += by;
  }

  get series(): number {
    return this.#table.size;
  }

  async render(): Promise<string> {
    let out = header(this.name, this.help, "counter");
    for (const { values, state } of this.#table.entries()) {
      out += `${this.name}${formatLabels(this.#table.labelNames, values)} ${formatValue(state.value)}\n`;
    }
    return out;
  }
}

/** One sample read from a callback at scrape time: the value lives with its owner, not here. */
abstract class ReadSample implements Family {
  readonly name: string;
  readonly help: string;
  readonly read: GaugeRead;
  readonly timeoutMs: number;
  protected abstract readonly type: "gauge" | "counter";

  constructor(name: string, help: string, read: GaugeRead, timeoutMs = DEFAULT_COLLECT_TIMEOUT_MS) {
    checkNames(name, []);
    this.name = name;
    this.help = help;
    this.read = read;
    this.timeoutMs = timeoutMs;
  }

  async render(): Promise<string> {
    const value = await withTimeout(this.read, this.timeoutMs);
    const sample = typeof value === "number" ? `${this.name} ${formatValue(value)}\n` : "";
    return header(this.name, this.help, this.type) + sample;
  }
}

/** A gauge read from a callback at scrape time. */
export class Gauge extends ReadSample {
  protected readonly type = "gauge";
}

/** A counter kept by its owner and read at scrape time (a cache's hits, say); it must only go up. */
export class ReadCounter extends ReadSample {
  protected readonly type = "counter";
}

export class Histogram<L extends string = never> implements Family {
  readonly buckets: readonly number[];
  readonly #table: SeriesTable<{ counts: number[]; sum: number; count: number }>;

  readonly name: string;
  readonly help: string;

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[],
    maxSeries = DEFAULT_MAX_SERIES,
  ) {
    checkNames(name, labelNames);
    this.name = name;
    this.help = help;
    const ascending = buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]!));
    if (buckets.length === 0 || !ascending) {
      throw new CustosError("BAD_ARGUMENT", `${name} needs finite buckets in ascending order`);
    }
    this.buckets = [...buckets];
    this.#table = new SeriesTable(labelNames, maxSeries, () => ({
      counts: buckets.map(() => 0),
      sum: 0,
      count: 0,
    }));
  }

  observe(labels: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) return;
    const state = this.#table.get(labels);
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) state.counts[index]! += 1;
    state.sum += value;
    state.count += 1;
  }

  async render(): Promise<string> {
    let out = header(this.name, this.help, "histogram");
    const names = this.#table.labelNames;
    for (const { values, state } of this.#table.entries()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += state.counts[i]!;
        const labels = formatLabels([...names, "le"], [...values, formatValue(bound)]);
        out += `${this.name}_bucket${labels} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${formatLabels([...names, "le"], [...values, "+Inf"])} ${state.count}\n`;
      out += `${this.name}_sum${formatLabels(names, values)} ${formatValue(state.sum)}\n`;
      out += `${this.name}_count${formatLabels(names, values)} ${state.count}\n`;
    }
    return out;
  }
}

/** Families in the order they were added; names are unique. */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>();

  add<F extends Family>(family: F): F {
    if (this.#families.has(family.name)) {
      throw new CustosError("BAD_ARGUMENT", `metric ${family.name} is already registered`);
    }
    this.#families.set(family.name, family);
    return family;
  }

  async render(): Promise<string> {
    const parts = await Promise.all([...this.#families.values()].map((family) => family.render()));
    return parts.join("");
  }
}
