// `custos import FILE|-`: the migration path for plaintext audit logs exported by hospital systems
// (CSV or JSON). Rows are read in chunks, validated, and stored in batches: into a stopped node's data
// directory (local, import-destination.ts) or through a running node's mutual-TLS API with the SDK's
// client (remote, import-remote.ts). A rejected row never stops the import unless --strict, which
// validates everything first and writes nothing if any row fails; a failing store or node stops it,
// with the rows stored so far counted. Exit 0 when every row was imported, 1 when some were rejected, 2 when the import could not run.

import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { LIMITS } from "../../core/record/index.js";
import {
  IMPORT_FORMATS,
  type ImportFormat,
  ImportTally,
  PlaintextImportParser,
  parseTimezoneOffset,
} from "../../import/index.js";
import { describeError, EXIT_FINDINGS, UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, parseCount } from "../options.js";
import { type Accepted, NOWHERE, openLocal } from "./import-destination.js";
import { counted, openInput, Progress, pass, storeKept } from "./import-pass.js";
import { openRemote } from "./import-remote.js";
import { printSummary, type Summary } from "./import-summary.js";

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
        ? openRemote({ ...options, server: options.server!, as: options.as! }, strict)
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
