// `custos import FILE|-`: the migration path for plaintext audit logs exported by hospital systems
// (CSV or JSON). Rows are read in chunks, validated, and stored in batches: into a stopped node's data
// directory (local) or through a running node's mutual-TLS API (remote). A rejected row never stops
// the import unless --strict, which validates everything first and writes nothing if any row fails.
// Exit 0 when every row was imported, 1 when some were rejected, 2 when the import could not run.

import { createReadStream, statSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { MtlsClient } from "../../client/mtls-client.js";
import { CustosError } from "../../core/errors.js";
import type { AuditRecord } from "../../core/record/audit-record.js";
import { LIMITS } from "../../core/record/vocabulary.js";
import { Identity, readBundle } from "../../identity/bundle.js";
import { Deployment } from "../../identity/deployment.js";
import {
  IMPORT_FORMATS,
  type ImportFormat,
  type ImportRow,
  ImportTally,
  importRows,
  PlaintextImportParser,
  parseTimezoneOffset,
} from "../../import/index.js";
import { describeError, EXIT_FINDINGS, UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseCount, requireData } from "../options.js";
import { bundlePassphrase } from "./identity.js";

interface ImportOptions {
  format: string;
  dryRun?: boolean;
  strict?: boolean;
  source?: string;
  timezoneOffset?: string;
  batch: string;
  json?: boolean;
  data?: string;
  db?: string;
  masterKeyFile?: string;
  server?: string;
  as?: string;
  passphraseFile?: string;
}

const MAX_BATCH = 10_000;
/** This many patients refused in a row means the node is failing, not judging records. */
const MAX_REFUSALS_IN_A_ROW = 20;
/** The most characters of NDJSON sent in one request. */
const MAX_REQUEST_CHARS = 2 * 1024 * 1024;

type Accepted = Extract<ImportRow, { ok: true }>;
type WriteResult = "imported" | "duplicate" | { readonly reason: string };

const CONFLICT_REASON =
  "sourceEventId: already recorded with different content (a replay must repeat the record exactly)";

/** Where valid rows go: a local vault, a node over mutual TLS, or nowhere (a dry run without either). */
interface Destination {
  /** Why a valid record cannot be stored here (its patient has no key, a foreign source), if so. */
  check(record: AuditRecord): Promise<string | undefined>;
  /** Stores a batch; one result per row, in order. Throws when the import cannot go on. */
  write(rows: readonly Accepted[]): Promise<WriteResult[]>;
  /** After the last batch (e.g. sign a checkpoint). */
  finish(): Promise<void>;
  close(): Promise<void>;
}

const NOWHERE: Destination = {
  check: async () => undefined,
  write: async () => {
    throw new CustosError("INTERNAL", "a dry run writes nothing");
  },
  finish: async () => undefined,
  close: async () => undefined,
};

async function openLocal(options: ImportOptions, source: string | undefined): Promise<Destination> {
  const dir = requireData(options.data);
  const masterKey = masterKeyFrom(options);
  const db = options.db ? { db: options.db } : {};
  const deployment = await Deployment.open(dir, masterKey, db);
  const vault = deployment.vault;
  const readers = deployment.directory;
  const close = () => deployment.close();
  // Whether a patient can be sealed for is asked once per patient (bounded memory).
  const ready = new Map<string, string | undefined>();
  let wrote = false;
  return {
    async check(record) {
      if (ready.has(record.patientId)) return ready.get(record.patientId);
      const list = await readers.readersOf(record.patientId, Date.now());
      if (!list.some((r) => r.role === "custodian"))
        throw new CustosError(
          "KEY_MISSING",
          "no custodian encryption key is enrolled; enroll the custodian before importing",
        );
      const reason = list.some((r) => r.role === "patient")
        ? undefined
        : "patient: no encryption key is enrolled for this patient";
      if (ready.size >= 100_000) ready.clear();
      ready.set(record.patientId, reason);
      return reason;
    },
    async write(rows) {
      const ingest = async (part: readonly Accepted[]): Promise<WriteResult[]> => {
        const results = await vault.ingest(
          part.map((r) => r.record),
          source!,
        );
        wrote = true;
        return results.map((r) => (r.duplicate ? "duplicate" : "imported"));
      };
      try {
        return await ingest(rows);
      } catch (error) {
        if (!(error instanceof CustosError && error.code === "CONFLICT")) throw error;
      }
      // A replayed event ID with other content refuses its whole batch: take the rows one by one.
      const results: WriteResult[] = [];
      for (const row of rows) {
        try {
          results.push(...(await ingest([row])));
        } catch (error) {
          if (!(error instanceof CustosError && error.code === "CONFLICT")) throw error;
          results.push({ reason: CONFLICT_REASON });
        }
      }
      return results;
    },
    async finish() {
      if (wrote) await vault.ledger.checkpoint();
    },
    close,
  };
}

interface RecordsReply {
  readonly records: readonly { readonly duplicate: boolean }[];
}

function openRemote(options: ImportOptions, strict: boolean): Destination {
  const identity = Identity.unlock(readBundle(options.as!), bundlePassphrase(options.passphraseFile));
  if (identity.bundle.role !== "ehr-source")
    throw new UsageError(`--as must be an ehr-source identity; this bundle is a ${identity.bundle.role}`);
  if (options.source !== undefined && options.source !== identity.id)
    throw new UsageError(
      `--source must be the submitting identity's ID (${identity.id}): a node records submissions in the submitter's name`,
    );
  const client = new MtlsClient(options.server!, identity);
  const post = async (rows: readonly Accepted[]): Promise<WriteResult[]> => {
    const body = `${rows.map((r) => JSON.stringify(r.record)).join("\n")}\n`;
    const reply = await client.call<RecordsReply>("POST", "/v1/records", body, "application/x-ndjson");
    if (!reply || !Array.isArray(reply.records) || reply.records.length !== rows.length)
      throw new CustosError("INTERNAL", "the node's reply does not account for every record sent");
    return reply.records.map((r) => (r.duplicate ? "duplicate" : "imported"));
  };
  let refusedInARow = 0;
  // KEY_MISSING: the patient has no enrolled key. INTERNAL: what a node answers today for the same
  // (its error table has no 4xx for KEY_MISSING), so it is treated as a refusal of that patient too.
  const refused = (error: unknown): error is CustosError =>
    error instanceof CustosError &&
    (error.code === "KEY_MISSING" ||
      error.code === "INVALID_RECORD" ||
      error.code === "CONFLICT" ||
      error.code === "INTERNAL");
  const groupReason = (error: CustosError): string =>
    error.code === "KEY_MISSING"
      ? "patient: the node has no encryption key enrolled for this patient"
      : "patient: the node could not store this patient's records (it answered INTERNAL; is the patient enrolled?)";
  return {
    async check(record) {
      if (record.sourceSystem !== undefined && record.sourceSystem !== identity.id)
        return "source: names another system; a node accepts records only in the submitter's own name";
      return undefined;
    },
    async write(rows) {
      // Requests stay well under a node's body limit (8 MiB by default), however long the records.
      const results: WriteResult[] = [];
      let part: Accepted[] = [];
      let bytes = 0;
      for (const row of rows) {
        const size = JSON.stringify(row.record).length + 1;
        if (part.length > 0 && bytes + size > MAX_REQUEST_CHARS) {
          results.push(...(await writePart(part)));
          part = [];
          bytes = 0;
        }
        part.push(row);
        bytes += size;
      }
      if (part.length > 0) results.push(...(await writePart(part)));
      return results;
    },
    finish: async () => undefined,
    close: async () => undefined,
  };

  async function writePart(rows: readonly Accepted[]): Promise<WriteResult[]> {
    try {
      return await post(rows);
    } catch (error) {
      if (!refused(error) || strict) throw error;
    }
    // The node refuses a whole request for one bad record: retry patient by patient, then row by row.
    const byPatient = new Map<string, number[]>();
    rows.forEach((row, i) => {
      const list = byPatient.get(row.record.patientId);
      if (list) list.push(i);
      else byPatient.set(row.record.patientId, [i]);
    });
    const results: WriteResult[] = new Array(rows.length);
    for (const indexes of byPatient.values()) {
      const group = indexes.map((i) => rows[i]!);
      try {
        const groupResults = await post(group);
        indexes.forEach((i, k) => {
          results[i] = groupResults[k]!;
        });
        refusedInARow = 0;
        continue;
      } catch (error) {
        if (!refused(error)) throw error;
        // A node that refuses patient after patient is failing, not judging records: stop.
        if (++refusedInARow >= MAX_REFUSALS_IN_A_ROW)
          throw new CustosError(
            error.code,
            `the node refused ${refusedInARow} patients in a row; stopping (last: ${error.message})`,
            { cause: error },
          );
        if (error.code !== "INVALID_RECORD" && error.code !== "CONFLICT") {
          for (const i of indexes) results[i] = { reason: groupReason(error) };
          continue;
        }
      }
      for (const i of indexes) {
        try {
          results[i] = (await post([rows[i]!]))[0]!;
        } catch (error) {
          if (!(error instanceof CustosError)) throw error;
          if (error.code === "CONFLICT") results[i] = { reason: CONFLICT_REASON };
          else if (error.code === "INVALID_RECORD")
            results[i] = { reason: "the node refused the record as invalid" };
          else throw error;
        }
      }
    }
    return results;
  }
}

/** The input, as byte chunks; a file can be read twice (strict mode), stdin once. */
interface Input {
  readonly name: string;
  readonly size: number | undefined;
  readonly rereadable: boolean;
  open(): AsyncIterable<Uint8Array | string>;
}

function openInput(file: string, io: Io): Input {
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
class Progress {
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

async function* counted(
  chunks: AsyncIterable<Uint8Array | string>,
  counter: { bytes: number },
): AsyncGenerator<Uint8Array | string> {
  for await (const chunk of chunks) {
    counter.bytes += chunk.length;
    yield chunk;
  }
}

interface PassOptions {
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
async function pass(p: PassOptions): Promise<void> {
  let batch: Accepted[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    const results = await p.destination.write(rows);
    results.forEach((result, i) => {
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

interface Summary {
  readonly input: string;
  readonly format: string | undefined;
  readonly mode: "local" | "remote" | "validate-only";
  readonly dryRun: boolean;
  readonly strict: boolean;
  readonly written: boolean;
  readonly rowsRead: number;
  readonly valid: number;
  readonly imported: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly reasons: { reason: string; count: number }[];
  readonly rejections: { row: number; line: number; reason: string }[];
  readonly ignoredColumns: readonly string[];
  readonly stopped?: string;
}

function printSummary(io: Io, s: Summary, asJson: boolean): void {
  if (asJson) {
    io.out(JSON.stringify(s));
    return;
  }
  const n = (value: number) => value.toLocaleString("en-US");
  const width = Math.max(
    ...[s.rowsRead, s.imported, s.duplicates, s.rejected, s.valid].map((v) => n(v).length),
  );
  const line = (name: string, value: number, note = "") =>
    io.out(`  ${name.padEnd(11)}${n(value).padStart(width)}${note}`);
  io.out(
    `import of ${s.input}${s.format ? ` (${s.format})` : ""}${s.dryRun ? ", dry run" : ""}${s.strict ? ", strict" : ""}`,
  );
  line("rows read", s.rowsRead);
  if (s.dryRun || (s.strict && !s.written)) line("valid", s.valid);
  if (!s.dryRun) {
    line("imported", s.imported);
    line("duplicates", s.duplicates, s.duplicates ? "  (already in the log: same source and event ID)" : "");
  }
  line("rejected", s.rejected);
  if (s.reasons.length > 0) {
    io.out("rejected rows by reason:");
    const countWidth = Math.max(...s.reasons.map((r) => n(r.count).length));
    for (const r of s.reasons) io.out(`  ${n(r.count).padStart(countWidth)}  ${r.reason}`);
    io.out(
      s.rejections.length < s.rejected ? `the first ${s.rejections.length} rejected rows:` : "rejected rows:",
    );
    for (const r of s.rejections) io.out(`  row ${r.row} (line ${r.line}): ${r.reason}`);
  }
  if (s.ignoredColumns.length > 0) io.out(`ignored columns: ${s.ignoredColumns.join(", ")}`);
  if (s.dryRun) io.out("dry run: nothing was written");
  else if (s.strict && !s.written && s.rejected > 0)
    io.out(`strict: nothing was imported because ${n(s.rejected)} row(s) were rejected`);
  if (s.stopped) io.out(`stopped: ${s.stopped}`);
}

function checkSource(source: string | undefined): string | undefined {
  if (source === undefined) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (source.length === 0 || source.length > LIMITS.sourceSystem || /[\u0000-\u001f\u007f]/.test(source))
    throw new UsageError(
      `--source must be 1 to ${LIMITS.sourceSystem} characters without control characters`,
    );
  return source;
}

async function runImport(
  file: string,
  options: ImportOptions,
  dataFromCli: boolean,
  io: Io,
  setExit: (code: number) => void,
): Promise<void> {
  if (!(IMPORT_FORMATS as readonly string[]).includes(options.format))
    throw new UsageError(`--format must be one of ${IMPORT_FORMATS.join(", ")}`);
  const batchSize = parseCount(options.batch, "--batch");
  if (batchSize < 1 || batchSize > MAX_BATCH)
    throw new UsageError(`--batch must be between 1 and ${MAX_BATCH}`);
  const timezoneOffset =
    options.timezoneOffset === undefined ? undefined : parseTimezoneOffset(options.timezoneOffset);
  const source = checkSource(options.source);
  if (options.server && dataFromCli)
    throw new UsageError("--data (a stopped node) and --server (a running node) are two modes; give one");
  if (options.server && !options.as)
    throw new UsageError("--server needs --as BUNDLE (an ehr-source identity)");
  if (options.as && !options.server) throw new UsageError("--as needs --server URL");
  const mode = options.server ? "remote" : options.data ? "local" : "validate-only";
  const dryRun = options.dryRun === true;
  const strict = options.strict === true;
  if (mode === "validate-only" && !dryRun)
    throw new UsageError(
      "say where to import: --data DIR (a stopped node) or --server URL --as BUNDLE, or --dry-run to only validate",
    );
  if (mode === "local" && !dryRun && source === undefined)
    throw new UsageError("--source NAME is required: the source system these records came from");

  const input = openInput(file, io);
  const parserOptions = {
    format: options.format as ImportFormat,
    ...(timezoneOffset !== undefined ? { timezoneOffset } : {}),
    ...(mode === "local" && source !== undefined ? { sourceSystem: source } : {}),
  };
  const destination =
    mode === "local"
      ? await openLocal(options, source)
      : mode === "remote"
        ? openRemote(options, strict)
        : NOWHERE;

  let tally = new ImportTally();
  let parser = new PlaintextImportParser(parserOptions);
  let written = false;
  let stopped: string | undefined;
  const run = async (phase: string, write: boolean, keep?: Accepted[]): Promise<void> => {
    const counter = { bytes: 0 };
    const progress = new Progress(io, input.size, phase);
    try {
      await pass({
        input: counted(input.open(), counter),
        parser,
        destination,
        tally,
        batchSize,
        progress,
        counter,
        write,
        ...(keep ? { keep } : {}),
      });
    } finally {
      progress.stop();
    }
  };
  const summary = (): Summary => ({
    input: input.name,
    format: parser.format,
    mode,
    dryRun,
    strict,
    written,
    rowsRead: tally.rowsRead,
    valid: tally.valid,
    imported: tally.imported,
    duplicates: tally.duplicates,
    rejected: tally.rejected,
    reasons: tally.reasonCounts(),
    rejections: [...tally.firstRejections],
    ignoredColumns: parser.ignoredColumns,
    ...(stopped !== undefined ? { stopped } : {}),
  });

  try {
    if (dryRun) await run("validating", false);
    else if (!strict) {
      written = true;
      await run("importing", true);
    } else {
      // Strict: validate everything first; write only if no row was rejected.
      const kept: Accepted[] | undefined = input.rereadable ? undefined : [];
      await run("validating", false, kept);
      if (tally.rejected === 0) {
        const validated = tally.valid;
        written = true;
        if (kept) {
          tally = new ImportTally();
          tally.rowsRead = validated;
          tally.valid = validated;
          await storeKept(kept, destination, tally, batchSize);
        } else {
          tally = new ImportTally();
          parser = new PlaintextImportParser(parserOptions);
          await run("importing", true);
          if (tally.rejected > 0 || tally.valid !== validated)
            throw new CustosError("CONFLICT", `${input.name} changed between validation and import`);
        }
      }
    }
    if (written) await destination.finish();
  } catch (error) {
    if (!written || tally.imported + tally.duplicates === 0) throw error;
    // Rows already stored stay stored; say how far the import got, then fail.
    stopped = describeError(error);
    printSummary(io, summary(), options.json === true);
    throw new CustosError(
      error instanceof CustosError ? error.code : "INTERNAL",
      `the import stopped after ${tally.imported} imported row(s): ${stopped}`,
      { cause: error },
    );
  } finally {
    await destination.close();
  }
  printSummary(io, summary(), options.json === true);
  if (tally.rejected > 0) setExit(EXIT_FINDINGS);
}

async function storeKept(
  kept: readonly Accepted[],
  destination: Destination,
  tally: ImportTally,
  batchSize: number,
): Promise<void> {
  for (let i = 0; i < kept.length; i += batchSize) {
    const rows = kept.slice(i, i + batchSize);
    const results = await destination.write(rows);
    results.forEach((result, k) => {
      if (result === "imported") tally.imported++;
      else if (result === "duplicate") tally.duplicates++;
      else tally.reject({ row: rows[k]!.row, line: rows[k]!.line, reason: result.reason });
    });
  }
}

/**
 * Registers `custos import`. `setExit` receives 1 when rows were rejected (as `verify` does); without
 * it, process.exitCode is set, which a caller that sets its own exit code overrides.
 */
export function registerImportCommand(
  program: Command,
  io: Io,
  setExit: (code: number) => void = (code) => {
    process.exitCode = code;
  },
): void {
  program
    .command("import")
    .description(
      "import a plaintext audit log exported by a hospital system (CSV, JSON array or NDJSON) from FILE or - (stdin)",
    )
    .argument("<file>", "input file, or - for stdin")
    .option("--format <format>", IMPORT_FORMATS.join(" | "), "auto")
    .option("--dry-run", "parse and validate only; write nothing")
    .option("--strict", "validate every row first; import nothing if any row is rejected")
    .option("--source <id>", "the source system the records came from (required for --data)")
    .option(
      "--timezone-offset <offset>",
      "offset of timestamps without a zone, +HH:MM or -HH:MM (default UTC)",
    )
    .option("--batch <n>", "records stored per batch", "1000")
    .option("--json", "print the summary as JSON")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--server <url>", "import through a running node's API (https://host:port)")
    .option("--as <bundle>", "with --server: the ehr-source identity bundle to submit as")
    .option(
      "--passphrase-file <file>",
      "read the bundle passphrase from this file (default: CUSTOS_BUNDLE_PASSPHRASE)",
    )
    .action(async (file: string, options: ImportOptions, command: Command) => {
      await runImport(file, options, command.getOptionValueSource("data") === "cli", io, setExit);
    });
}
