// `custos verify --against-mirror DIR` / `--against URL --as BUNDLE`: the usual tamper scan of the
// node's store, then an entry-by-entry comparison with a mirror's verified copy up to its signed (and
// cosigned) checkpoint, ending with the one `custos restore` command that repairs what was found.
// Exit 0 when both are clean, 1 when anything is damaged or lost, 2 when the check could not run.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { MtlsClient } from "../../client/index.js";
import { CustosError, toBase64 } from "../../core/index.js";
import { Identity, readBundle } from "../../identity/index.js";
import {
  type ComparisonReport,
  compareWithReference,
  type Finding,
  type LedgerStore,
  openStore,
  type ReferenceLog,
  readVerifyState,
  redactUrl,
  SQLITE_FILE_NAME,
  SqliteStore,
  StoreReference,
  type VerifyReport,
  verifyStore,
  writeVerifyState,
} from "../../ledger/index.js";
import { RemoteReference } from "../../mirror/index.js";
import { describeError, EXIT_FINDINGS, EXIT_OK, UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { requireData } from "../options.js";
import { bundlePassphrase } from "./identity.js";
import { witnessesFrom } from "./mirror.js";

export interface VerifyAgainstOptions {
  data?: string;
  db?: string;
  json?: boolean;
  incremental?: boolean;
  state?: string;
  key?: string;
  saveState?: boolean;
  againstMirror?: string;
  against?: string;
  as?: string;
  passphraseFile?: string;
  witnessKey?: string[];
  quorum?: string;
}

/** Runs the comparison; returns the exit code. */
export async function verifyAgainst(options: VerifyAgainstOptions, io: Io): Promise<number> {
  const data = requireData(options.data);
  if (options.againstMirror !== undefined && options.against !== undefined)
    throw new UsageError("give either --against-mirror DIR or --against URL, not both");
  if (options.against !== undefined && !options.as)
    throw new UsageError("--against URL needs --as BUNDLE (a node identity, as for custos restore --from)");
  if (options.againstMirror !== undefined && (options.as || options.passphraseFile))
    throw new UsageError("--as and --passphrase-file apply only with --against URL");
  const witnesses = witnessesFrom(options).witnesses;
  const started = performance.now();

  const local = await openLocal(data, options.db);
  let mirror: SqliteStore | undefined;
  try {
    let reference: ReferenceLog;
    let log: { origin: string; verifierKey: string };
    if (options.against !== undefined) {
      const identity = Identity.unlock(readBundle(options.as!), bundlePassphrase(options.passphraseFile));
      if (identity.role !== "node")
        throw new UsageError("--as needs a node identity (custos enroll --role node)");
      const pinned = identity.bundle.log;
      if (!pinned) throw new CustosError("CONFIG", "the bundle does not name the log (no verifier key)");
      log = { origin: pinned.origin, verifierKey: options.key ?? pinned.verifierKey };
      reference = new RemoteReference(options.against, new MtlsClient(options.against, identity));
    } else {
      mirror = SqliteStore.open(options.againstMirror!, { readonly: true });
      const meta = await mirror.getMeta();
      if (!meta)
        throw new CustosError("STORE_NOT_FOUND", `${options.againstMirror} holds no initialized log`);
      const localMeta = local.store ? await local.store.getMeta() : undefined;
      log = {
        origin: localMeta?.origin ?? meta.origin,
        verifierKey: options.key ?? localMeta?.verifierKey ?? meta.verifierKey,
      };
      reference = await StoreReference.of(`the mirror ${options.againstMirror}`, mirror);
    }

    // Both stores may be written meanwhile (a running node, a following mirror): read one snapshot of each.
    const inSnapshot = <T>(store: LedgerStore | undefined, read: () => Promise<T>): Promise<T> =>
      store?.readConsistent ? store.readConsistent(read) : read();
    const statePath = options.state ?? join(data, "verify-state.json");
    const { localReport, comparison } = await inSnapshot(local.store, () =>
      inSnapshot(mirror, async () => {
        const state = local.store ? readVerifyState(statePath) : undefined;
        const localReport = local.store
          ? await verifyStore(local.store, {
              ...(state ? { state } : {}),
              verifierKey: log.verifierKey,
              incremental: options.incremental === true,
            })
          : undefined;
        const comparison = await compareWithReference(local.store, reference, {
          ...log,
          ...(witnesses ? { witnesses } : {}),
          ...(local.lostReason ? { lostReason: local.lostReason } : {}),
        });
        return { localReport, comparison };
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const ok = comparison.ok && (localReport?.ok ?? false);
    if (ok && localReport?.nextState && options.saveState !== false)
      writeVerifyState(statePath, localReport.nextState);
    const repair = ok ? undefined : restoreCommand(data, options);
    const warnings = warningsFor(comparison, ok);

    if (options.json) {
      io.out(
        JSON.stringify({
          ok,
          origin: log.origin,
          local: localReport ? localJson(localReport) : null,
          against: {
            reference: comparison.reference,
            checkpoint: {
              size: comparison.checkpoint.size,
              rootHash: toBase64(comparison.checkpoint.rootHash),
              cosigners: comparison.checkpoint.cosigners,
            },
            entriesCompared: comparison.entriesCompared,
            localEntries: comparison.localEntries,
            notYetCopied: comparison.notYetCopied ?? null,
            findings: comparison.findings,
          },
          repair: repair ?? null,
          warnings,
          seconds: Number(seconds.toFixed(3)),
        }),
      );
    } else {
      printText(io, log.origin, local.lostReason, localReport, comparison, seconds);
      for (const warning of warnings) io.out(`note: ${warning}`);
      if (repair) io.out(`to repair: ${repair}`);
    }
    return ok ? EXIT_OK : EXIT_FINDINGS;
  } finally {
    await mirror?.close();
    await local.store?.close();
  }
}

/** The node's store, or why there is none to check (a lost store is a finding, not a usage error). */
async function openLocal(
  data: string,
  db: string | undefined,
): Promise<{ store?: LedgerStore; lostReason?: string }> {
  const file = join(data, SQLITE_FILE_NAME);
  if (!db && !existsSync(file)) return { lostReason: `this node's store ${file} is gone` };
  let store: LedgerStore | undefined;
  try {
    store = await openStore(data, db ? { db } : { readonly: true });
    if ((await store.getMeta()) === undefined) {
      await store.close();
      return { lostReason: `this node's store ${db ? redactUrl(db) : file} holds no log` };
    }
    return { store };
  } catch (error) {
    await store?.close().catch(() => undefined);
    if (db) throw error;
    return { lostReason: `this node's store ${file} cannot be read (${describeError(error)})` };
  }
}

function localJson(report: VerifyReport) {
  return {
    ok: report.ok,
    incremental: report.incremental,
    from: report.from,
    entriesChecked: report.entriesChecked,
    recordedSize: report.recordedSize,
    checkpointsChecked: report.checkpointsChecked,
    latestCheckpoint: report.latestCheckpoint
      ? { size: report.latestCheckpoint.size, rootHash: toBase64(report.latestCheckpoint.rootHash) }
      : null,
    findings: report.findings,
  };
}

/** Arguments a shell takes as they are; anything else is single-quoted. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=+@,-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** The one command that rebuilds this store from the same reference, checked the same way. */
export function restoreCommand(data: string, options: VerifyAgainstOptions): string {
  const words = ["custos", "restore", "--data", data];
  if (options.againstMirror !== undefined) words.push("--from-mirror", options.againstMirror);
  else {
    words.push("--from", options.against!, "--as", options.as!);
    if (options.passphraseFile) words.push("--passphrase-file", options.passphraseFile);
  }
  for (const key of options.witnessKey ?? []) words.push("--witness-key", key);
  if (options.quorum !== undefined) words.push("--quorum", options.quorum);
  // Never print a database password: the operator passes the URL the way they passed it here.
  if (options.db) words.push("--db", redactUrl(options.db));
  return words.map(shellWord).join(" ");
}

function warningsFor(comparison: ComparisonReport, ok: boolean): string[] {
  const warnings: string[] = [];
  const ahead = comparison.notYetCopied;
  if (ahead && !ok) {
    warnings.push(
      `this store holds ${ahead.count} entr${ahead.count === 1 ? "y" : "ies"} past the checkpoint of ${comparison.reference} (${ahead.count === 1 ? `entry ${ahead.firstIndex}` : `entries ${ahead.firstIndex} to ${ahead.lastIndex}`}) that it has not copied yet: a restore now leaves them only in the damaged store it sets aside. If the node can still serve them, let the mirror catch up first (custos mirror --once), then restore.`,
    );
  }
  if (comparison.findings.some((f) => f.code === "CHECKPOINT_FORK")) {
    warnings.push(
      "a fork is evidence that the log's key signed two histories: keep both notes above and alert the witnesses and audit companies; restoring this store does not resolve it.",
    );
  }
  return warnings;
}

function printFinding(io: Io, finding: Finding, reference = "the reference"): void {
  io.out(`  - [${finding.code}] ${finding.message}`);
  if (finding.notes) {
    for (const [side, note] of [
      ["this store's checkpoint", finding.notes.local],
      [`the checkpoint of ${reference}`, finding.notes.reference],
    ] as const) {
      io.out(`      ${side}:`);
      for (const line of note.replace(/\n$/, "").split("\n")) io.out(`        ${line}`);
    }
  }
}

function printText(
  io: Io,
  origin: string,
  lostReason: string | undefined,
  local: VerifyReport | undefined,
  comparison: ComparisonReport,
  seconds: number,
): void {
  io.out(`log "${origin}"`);
  if (local) {
    const scope = local.incremental ? `entries ${local.from} onward` : "all entries";
    io.out(
      `this store: checked ${scope} (${local.entriesChecked.toLocaleString("en-US")} entries, ${local.checkpointsChecked} checkpoints): ${local.ok ? "no tampering found" : `${local.findings.length} problem${local.findings.length === 1 ? "" : "s"}`}`,
    );
    for (const finding of local.findings) printFinding(io, finding);
  } else {
    io.out(`this store: ${lostReason ?? "gone"}`);
  }
  const cp = comparison.checkpoint;
  const cosigned = cp.cosigners.length > 0 ? `, cosigned by ${cp.cosigners.join(", ")}` : "";
  io.out(
    `compared with ${comparison.reference}: ${comparison.entriesCompared.toLocaleString("en-US")} entries up to its signed checkpoint (size ${cp.size}${cosigned}) in ${seconds.toFixed(2)} s`,
  );
  for (const finding of comparison.findings) printFinding(io, finding, comparison.reference);
  const ahead = comparison.notYetCopied;
  const aheadText = ahead
    ? `; ${ahead.count} later entr${ahead.count === 1 ? "y" : "ies"} here (${ahead.count === 1 ? `entry ${ahead.firstIndex}` : `entries ${ahead.firstIndex} to ${ahead.lastIndex}`}) ${ahead.count === 1 ? "is" : "are"} not yet copied there, which is fine`
    : "";
  const problems = comparison.findings.length + (local?.findings.length ?? 0);
  if (comparison.ok && local?.ok) {
    io.out(`OK: this store matches the verified copy of ${comparison.reference}${aheadText}`);
  } else {
    io.out(
      `DAMAGE FOUND: ${problems} problem${problems === 1 ? "" : "s"} (${comparison.findings.length} against ${comparison.reference})${aheadText}`,
    );
  }
}
