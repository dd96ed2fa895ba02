// `custos archive` (a signed, self-contained, proof-carrying bundle of a time range, for named
// readers), `custos verify-archive` (checks one offline with nothing but the log's and witnesses'
// keys) and the offline half of `custos read --archive` (a reader opens its records from one).
// docs/formats.md "Archives", docs/operations.md "Archives".

import { existsSync, readFileSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { type ArchiveReport, verifyArchive } from "../../core/archive/index.js";
import { patientOperatorName } from "../../core/entry/index.js";
import { CustosError, sha256, toHex } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";
import {
  type ArchiveRecipient,
  operatorActionItem,
  operatorOf,
  resolveArchiveReader,
  rewrapForArchive,
} from "../../identity/index.js";
import { LOG_SIGNER_SECRET } from "../../ledger/index.js";
import { buildArchive, epochsInRange, openArchive } from "../../records/index.js";
import { WITNESSED_FILE } from "../../witness/index.js";
import { EXIT_FINDINGS, UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, parseCount, parseTime } from "../options.js";
import { withDeployment } from "./records.js";
import { openerOf, unlockBundle } from "./unlock.js";

interface ArchiveOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
  from: string;
  to: string;
  for: string[];
  out: string;
  as?: string;
  passphraseFile?: string;
  json?: boolean;
  /** --no-record: false. */
  record?: boolean;
}

export interface ArchiveTrustOptions {
  logKey: string;
  witnessKey?: string[];
  quorum?: string;
}

export function registerArchiveCommands(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command("archive")
    .description(
      "write one signed, self-contained archive of a time range (records, contents, key envelopes for the named readers, checkpoints and proofs)",
    )
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--from <time>", "records from this time (ISO 8601; to the hour)")
    .requiredOption("--to <time>", "records before this time (ISO 8601)")
    .requiredOption(
      "--for <reader...>",
      "who may open it: ROLE/ID of enrolled readers (auditor/regulator ...)",
    )
    .requiredOption("--out <file>", "the archive file to write (refused if it exists)")
    .option("--as <bundle>", "the custodian's bundle: re-wraps keys for a named reader that has none yet")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option(
      "--no-record",
      "do not record the archive in the log (read-only: beside a running node; retention does not count it)",
    )
    .option("--json", "print JSON")
    .action(async (options: ArchiveOptions) => {
      const range = { from: parseTime(options.from, "--from"), to: parseTime(options.to, "--to") };
      if (!(range.from < range.to)) throw new UsageError("--to must be later than --from");
      const out = resolve(options.out);
      if (existsSync(out)) throw new UsageError(`refusing to overwrite ${options.out}: it already exists`);
      const custodian = options.as ? unlockBundle(options.as, options.passphraseFile) : undefined;
      if (custodian !== undefined && custodian.role !== "custodian")
        throw new UsageError("--as takes the custodian's bundle (its key re-wraps readers' keys)");
      // The archive is recorded in the log (an `archive` operator action: range, anchor size, the
      // file's SHA-256, readers), which is what retention's "archive before deletion" counts, so the
      // node must be stopped. With --no-record (and no re-wrapping) nothing is written to the log: the
      // store is opened read-only and an archive can be made beside a running node.
      const record = options.record !== false;
      if (!record && custodian !== undefined)
        throw new UsageError("--no-record cannot re-wrap keys (--as): re-wrapping appends to the log");
      await withDeployment(
        options,
        async (deployment) => {
          const now = deployment.now();
          const readers: ArchiveRecipient[] = options.for.map((name) =>
            resolveArchiveReader(deployment, name, now),
          );
          const ledger = deployment.vault.ledger;
          let rewrapped = 0;
          if (custodian !== undefined) {
            const opener = openerOf(custodian);
            try {
              const report = await rewrapForArchive(
                deployment,
                { uri: custodian.uri, opener },
                readers,
                await epochsInRange(ledger, range),
              );
              rewrapped = report.envelopes;
            } finally {
              opener.dispose();
            }
          }
          if (ledger.writable) await ledger.checkpoint();
          const signerKey = new TextDecoder().decode(deployment.vault.keystore.get(LOG_SIGNER_SECRET));
          const witnessedPath = join(deployment.dir, WITNESSED_FILE);
          const built = await buildArchive({
            ledger,
            range,
            readers,
            signerKey,
            ...(existsSync(witnessedPath) ? { witnessedNote: readFileSync(witnessedPath, "utf8") } : {}),
            now,
          });
          if (built.readersWithoutKeys.length > 0 && custodian === undefined)
            throw new CustosError(
              "KEY_MISSING",
              `${built.readersWithoutKeys.map((r) => `${r.reader} holds no key for ${r.epochs} epoch(s)`).join("; ")} of the range: pass --as with the custodian's bundle to re-wrap them`,
            );
          writeFileAtomic(out, built.file, { exclusive: true, mode: 0o600 });
          // What was written is read back and verified before retention may count on it.
          const written = readFileSync(out);
          const report = verifyArchive(written, { logKey: ledger.meta.verifierKey });
          if (!report.ok) {
            unlinkSync(out);
            throw new CustosError(
              "INTERNAL",
              `the archive written did not verify (${report.findings[0]?.message}); nothing was kept`,
            );
          }
          const fileHash = sha256(written);
          let recordedAt: number | undefined;
          if (record) {
            try {
              const item = operatorActionItem(
                {
                  time: deployment.now(),
                  action: "archive",
                  detail: `records from ${new Date(range.from).toISOString()} to ${new Date(range.to).toISOString()} at log size ${built.size}, for ${readers.length} reader(s)`,
                  archive: {
                    from: range.from,
                    to: range.to,
                    size: built.size,
                    fileHash,
                    records: built.records,
                    // A patient reader by tag: the entry is in clear, a patient's ID never is.
                    readers: readers.map((r) =>
                      r.patientTag === undefined ? r.id : patientOperatorName(deployment.name, r.patientTag),
                    ),
                  },
                },
                operatorOf(custodian),
              );
              recordedAt = (await ledger.appendOne(item)).index;
              await ledger.checkpoint();
            } catch (error) {
              unlinkSync(out);
              throw error;
            }
          }
          const summary = {
            file: out,
            sha256: toHex(fileHash),
            ...(recordedAt === undefined ? {} : { recordedAt }),
            size: built.size,
            records: built.records,
            envelopes: built.envelopes,
            erasures: built.erasures,
            erasedContents: built.erasedContents,
            rewrapped,
            readersWithoutKeys: built.readersWithoutKeys,
            logKey: ledger.meta.verifierKey,
          };
          if (options.json) {
            io.out(JSON.stringify(summary));
            return;
          }
          io.out(
            `archived ${built.records} record(s), ${built.envelopes} key envelope(s) for ${readers.length} reader(s) and ${built.erasures} erasure entr${built.erasures === 1 ? "y" : "ies"} at log size ${built.size} to ${options.out}`,
          );
          if (rewrapped > 0)
            io.out(`re-wrapped ${rewrapped} epoch key(s) for the named readers (in the log)`);
          io.out(
            recordedAt === undefined
              ? "not recorded in the log (--no-record): retention does not count this archive"
              : `recorded in the log as entry ${recordedAt} (sha256 ${toHex(fileHash)}): retention counts it`,
          );
          if (built.erasedContents > 0)
            io.out(
              `left out ${built.erasedContents} erased item(s): their erasure entries are in the archive`,
            );
          for (const r of built.readersWithoutKeys)
            io.out(`note: ${r.reader} holds no key for ${r.epochs} epoch(s) (their keys were erased)`);
          io.out(
            `verify it with: custos verify-archive ${options.out} --log-key '${ledger.meta.verifierKey}'`,
          );
        },
        record ? {} : { readOnly: true },
      ).catch((error: unknown) => {
        if (record && error instanceof CustosError && error.code === "STORE_BUSY")
          throw new CustosError(
            "STORE_BUSY",
            "a running node holds this log: stop it to make an archive recorded in the log (what retention counts), or pass --no-record",
            { cause: error },
          );
        throw error;
      });
    });

  program
    .command("verify-archive")
    .description("check an archive offline with the log's verifier key (and the witnesses' keys)")
    .argument("<file>", "the archive")
    .requiredOption("--log-key <key>", "the log's verifier key")
    .option("--witness-key <key...>", "witnesses' cosigner keys: a checkpoint must carry their cosignatures")
    .option("--quorum <n>", "how many of them (default: all)")
    .option("--json", "print the report as JSON")
    .action((file: string, options: ArchiveTrustOptions & { json?: boolean }) => {
      const report = verifyArchiveFile(file, options);
      if (options.json)
        io.out(JSON.stringify({ ok: report.ok, findings: report.findings, summary: report.summary }));
      else printReport(io, report);
      if (!report.ok) setExit(EXIT_FINDINGS);
    });
}

/** Reads and verifies an archive file; options as verify-archive takes them. */
export function verifyArchiveFile(file: string, options: ArchiveTrustOptions): ArchiveReport {
  const keys = options.witnessKey ?? [];
  const quorum = options.quorum !== undefined ? parseCount(options.quorum, "--quorum") : keys.length;
  if (quorum > keys.length) throw new UsageError(`--quorum ${quorum} needs at least ${quorum} --witness-key`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new CustosError("NOT_FOUND", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`);
  }
  return verifyArchive(bytes, { logKey: options.logKey, witnessKeys: keys, quorum });
}

function printReport(io: Io, report: ArchiveReport): void {
  const s = report.summary;
  if (s) {
    io.out(
      `archive of log "${s.origin}": records from ${new Date(s.from).toISOString()} to ${new Date(s.to).toISOString()}, made ${new Date(s.createdAt).toISOString()}, at log size ${s.size}`,
    );
    io.out(
      `${s.records} record(s), ${s.envelopes} key envelope(s), ${s.erasures} erasure entr${s.erasures === 1 ? "y" : "ies"}; ${s.erasedContents} erased item(s) left out; for ${s.readers.join(", ") || "no reader"}`,
    );
    if (s.witnessedSize > 0)
      io.out(
        `witnessed by ${s.cosigners.join(", ")} at size ${s.witnessedSize}${s.unwitnessed > 0 ? `; ${s.unwitnessed} entr${s.unwitnessed === 1 ? "y" : "ies"} past it rest on the log's signature alone` : ""}`,
      );
  }
  for (const finding of report.findings) io.out(`${finding.code}: ${finding.message}`);
  io.out(report.ok ? "OK: the archive verifies" : `FAILED: ${report.findings.length} problem(s) found`);
}

export interface ArchiveReadOptions extends ArchiveTrustOptions {
  archive: string;
  as: string;
  passphraseFile?: string;
  patient?: string;
  from?: number;
  to?: number;
  json?: boolean;
}

/**
 * `custos read --archive FILE --as BUNDLE --log-key KEY`: verifies the archive, then opens with the
 * reader's own key every record whose epoch key the archive wraps for it. Nothing is opened from an
 * archive that does not verify.
 */
export function readFromArchive(io: Io, options: ArchiveReadOptions): void {
  const reader = unlockBundle(options.as, options.passphraseFile);
  const report = verifyArchiveFile(options.archive, options);
  if (!report.ok || report.body === undefined)
    throw new CustosError(
      "TAMPERED_ENTRY",
      `the archive does not verify (${report.findings[0]?.message ?? "unreadable"}); run custos verify-archive for every finding`,
    );
  const opener = openerOf(reader);
  try {
    const opened = openArchive(report.body, opener);
    const records = opened.records
      .filter((r) => options.patient === undefined || r.record.patientId === options.patient)
      .filter((r) => options.from === undefined || Date.parse(r.record.time) >= options.from)
      .filter((r) => options.to === undefined || Date.parse(r.record.time) < options.to);
    if (options.json) {
      io.out(
        JSON.stringify({
          records: records.map((r) => ({ index: r.index, source: r.source, ...r.record })),
          notReadable: opened.notReadable,
          erased: opened.erased,
        }),
      );
      return;
    }
    io.out(
      `${records.length} access(es) from the archive, newest first${opened.erased.length ? ` (${opened.erased.length} erased before it was made)` : ""}${opened.notReadable.length > opened.erased.length ? ` (${opened.notReadable.length - opened.erased.length} not readable with this key)` : ""}`,
    );
    for (const { index, record } of records)
      io.out(`${String(index).padStart(8)}  ${record.time}  ${record.action.padEnd(6)}  ${record.userId}`);
  } finally {
    opener.dispose();
  }
}
