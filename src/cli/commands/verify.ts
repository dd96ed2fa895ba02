// `custos verify`: the tamper scan, for a compliance officer. Exit 0 when clean, 1 when anything is
// wrong (every finding listed with its position), 2 when the check itself could not run.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { toBase64 } from "../../core/index.js";
import { checkEntrySignatures, type SignatureReport, TrustAnchor } from "../../identity/index.js";
import {
  diskFault,
  openStore,
  readVerifyState,
  type VerifyReport,
  verifyStore,
  writeVerifyState,
} from "../../ledger/index.js";
import { EXIT_FINDINGS, UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { requireData } from "../options.js";
import { type VerifyAgainstOptions, verifyAgainst } from "./verify-against.js";

type VerifyCommandOptions = VerifyAgainstOptions;

export function registerVerifyCommand(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command("verify")
    .description("check every entry, tree node and checkpoint of a log for tampering")
    .option("--data <dir>", "the log's data directory", process.env.CUSTOS_DATA)
    .option(
      "--db <url>",
      "the log is in PostgreSQL at this URL (default: SQLite in --data)",
      process.env.CUSTOS_DB_URL,
    )
    .option("--json", "print the report as JSON")
    .option("--incremental", "check only what was appended since the last clean run (uses --state)")
    .option(
      "--state <file>",
      "where the last verified checkpoint is remembered (default: DIR/verify-state.json)",
    )
    .option("--no-save-state", "do not update the state file after a clean run")
    .option("--key <verifierKey>", "the log's verifier key to trust (default: the one the store records)")
    .option("--against-mirror <dir>", "then compare with a mirror's verified copy in this directory")
    .option(
      "--against <url>",
      "then compare with a mirror or node serving the log (https://host:port), with --as",
    )
    .option("--as <bundle>", "with --against: the identity to fetch with (role node)")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option(
      "--witness-key <key...>",
      "with --against(-mirror): witnesses whose cosignatures its checkpoint must carry",
    )
    .option("--quorum <n>", "how many of them (default: all)")
    .action(async (options: VerifyCommandOptions) => {
      if (options.againstMirror !== undefined || options.against !== undefined) {
        setExit(await verifyAgainst(options, io));
        return;
      }
      if (options.as || options.passphraseFile || options.witnessKey || options.quorum !== undefined)
        throw new UsageError(
          "--as, --passphrase-file, --witness-key and --quorum apply only with --against or --against-mirror",
        );
      const data = requireData(options.data);
      const statePath = options.state ?? join(data, "verify-state.json");
      const state = readVerifyState(statePath);
      const store = await openStore(data, { ...(options.db ? { db: options.db } : {}), readonly: true });
      try {
        const started = performance.now();
        let lastShown = 0;
        const verify = () =>
          verifyStore(store, {
            ...(state ? { state } : {}),
            ...(options.key ? { verifierKey: options.key } : {}),
            incremental: options.incremental === true,
            onProgress: (checked, total) => {
              if (!io.isTTY || options.json) return;
              const now = performance.now();
              if (now - lastShown < 250) return;
              lastShown = now;
              process.stderr.write(
                `\rverifying: ${checked.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} entries`,
              );
            },
          });
        // The signatures inside entries (registry, operator actions), against the CA this directory
        // holds when it holds one; an incremental run leaves them to the next full one.
        const caPem = join(data, "ca", "ca.pem");
        const expectedCaKey = existsSync(caPem)
          ? (await TrustAnchor.load(readFileSync(caPem, "utf8"))).caPublicKey
          : undefined;
        const verifyAll = async () => {
          const ledgerReport = await verify();
          if (options.incremental) {
            return {
              ...ledgerReport,
              unchecked: [
                ...ledgerReport.unchecked,
                "registry, operator-action and legal-hold signatures (a full verify checks them)",
              ],
            };
          }
          return withSignatures(ledgerReport, await checkEntrySignatures(store, expectedCaKey));
        };
        // A node or mirror may be appending meanwhile: check one snapshot of the store.
        const report = await (store.readConsistent ? store.readConsistent(verifyAll) : verifyAll());
        if (io.isTTY && !options.json) process.stderr.write("\r\x1b[K");
        const seconds = (performance.now() - started) / 1000;
        if (options.json) {
          io.out(
            JSON.stringify({
              ok: report.ok,
              origin: report.origin,
              incremental: report.incremental,
              from: report.from,
              entriesChecked: report.entriesChecked,
              recordedSize: report.recordedSize,
              checkpointsChecked: report.checkpointsChecked,
              latestCheckpoint: report.latestCheckpoint
                ? { size: report.latestCheckpoint.size, rootHash: toBase64(report.latestCheckpoint.rootHash) }
                : null,
              findings: report.findings,
              unchecked: report.unchecked,
              seconds: Number(seconds.toFixed(3)),
            }),
          );
        } else {
          const scope = report.incremental ? `entries ${report.from} onward` : "all entries";
          io.out(
            `log "${report.origin}": checked ${scope} (${report.entriesChecked.toLocaleString("en-US")} entries, ${report.checkpointsChecked} checkpoints) in ${seconds.toFixed(2)} s`,
          );
          if (report.ok) {
            const cp = report.latestCheckpoint;
            io.out(
              cp
                ? `OK: no tampering found; the latest checkpoint (size ${cp.size}) matches the data`
                : "OK: no tampering found",
            );
          } else {
            io.out(
              `TAMPERING DETECTED: ${report.findings.length} problem${report.findings.length === 1 ? "" : "s"} found`,
            );
            for (const finding of report.findings) io.out(`  - [${finding.code}] ${finding.message}`);
          }
          for (const note of report.unchecked) io.out(`not checked: ${note}`);
        }
        // After the verdict is out: a full or read-only disk must not hide it.
        if (report.ok && report.nextState && options.saveState !== false) {
          try {
            writeVerifyState(statePath, report.nextState);
          } catch (error) {
            const fault = diskFault(error, statePath);
            if (fault === undefined) throw error;
            io.err(
              `warning: the verdict stands, but the verify state was not saved: ${fault.message} (the next --incremental run checks from the last saved state)`,
            );
          }
        }
        if (!report.ok) setExit(EXIT_FINDINGS);
      } finally {
        await store.close();
      }
    });
}

/** The ledger's report with the entries' own signatures' findings added (code SIGNATURE_INVALID). */
function withSignatures(report: VerifyReport, signatures: SignatureReport): VerifyReport {
  const findings = signatures.findings.map((f) => ({
    code: "SIGNATURE_INVALID" as const,
    message: `entry ${f.index}: ${f.problem}`,
    firstIndex: f.index,
    lastIndex: f.index,
  }));
  return {
    ...report,
    ok: report.ok && findings.length === 0,
    findings: [...report.findings, ...findings],
    unchecked: [
      ...report.unchecked,
      ...(signatures.unchecked ? [signatures.unchecked] : []),
      ...(signatures.unsignedHolds.length > 0
        ? [
            `the admin signature of ${signatures.unsignedHolds.length} legal hold entr${signatures.unsignedHolds.length === 1 ? "y" : "ies"} made before holds were signed (entr${signatures.unsignedHolds.length === 1 ? "y" : "ies"} ${signatures.unsignedHolds.slice(0, 10).join(", ")}${signatures.unsignedHolds.length > 10 ? ", ..." : ""}): who placed or lifted ${signatures.unsignedHolds.length === 1 ? "it" : "them"} is named, not proven`,
          ]
        : []),
    ],
  };
}
