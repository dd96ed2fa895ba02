// `custos keys`: key status and coverage from the identity registry, the custodian's re-wrap of
// history (an audit company granted later, a patient's replacement key) and the one-time upgrade of
// a data directory from the retired party-key model (docs/identity.md).

import { mkdirSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { keyStatus, rewrapHistory, upgradeLegacyDirectory } from "../../identity/index.js";
import { openLegacyKeyFile } from "../../records/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, requireData } from "../options.js";
import { adminClient, type RemoteAdminOptions } from "./admin-remote.js";
import { bundlePassphrase } from "./identity.js";
import { registerKeyAuditCommand } from "./key-audit.js";
import { type VaultOptions, withDeployment } from "./records.js";
import { openerOf, unlockBundle } from "./unlock.js";

const PASSPHRASE_FILE = [
  "--passphrase-file <file>",
  "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)",
] as const;

export function registerKeyCommands(program: Command, io: Io): void {
  const keys = program
    .command("keys")
    .description("key status and coverage, the custodian's re-wrap of history, the legacy upgrade");

  keys
    .command("status")
    .description(
      "every enrolled party with its keys, patients with no key, and which epochs each reader can open",
    )
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--patient <id...>", "only these patients, named by ID (default: every enrolled patient, by tag)")
    .option("--json", "print JSON")
    .action(async (options: VaultOptions & { patient?: string[] }) => {
      const report = await withDeployment(options, (d) =>
        keyStatus(d, options.patient ? { patients: options.patient } : {}),
      );
      if (options.json) {
        io.out(JSON.stringify(report));
        return;
      }
      io.out(`${report.parties.length} enrolled part${report.parties.length === 1 ? "y" : "ies"}:`);
      for (const p of report.parties)
        io.out(
          `  ${p.role.padEnd(10)} ${p.subject.length > 24 ? `${p.subject.slice(0, 21)}...` : p.subject.padEnd(24)} ${p.state.padEnd(7)} encryption ${p.encryptionKey.slice(0, 8)}  until ${p.notAfter.slice(0, 10)}`,
        );
      io.out(
        `${report.patientsWithoutKey.length} patient(s) with no key${report.patientsWithoutKey.length ? `: ${report.patientsWithoutKey.join(", ")}` : ""}`,
      );
      for (const row of report.patients) {
        const readers = row.readers
          .map(
            (r) =>
              `${r.role === "patient" ? "patient" : `${r.role} ${r.reader}`}${r.current ? "" : " (former key)"} ${r.epochs}/${row.epochs}`,
          )
          .join(", ");
        io.out(
          `${row.patient}: ${row.hasKey ? "key enrolled" : "NO KEY"}; ${row.epochs} epochs, ${row.records} records, ${row.envelopes} wrapped keys${row.erasedItems ? `, ${row.erasedItems} erased` : ""}; epochs each reader opens: ${readers || "none"}`,
        );
      }
    });

  keys
    .command("rewrap")
    .description(
      "custodian: re-wrap patients' history for the audit companies granted them and for patients' current (replacement) keys",
    )
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--as <bundle>", "the custodian's identity bundle")
    .option(...PASSPHRASE_FILE)
    .option("--auditor <id>", "only for this audit company (its granted patients by default)")
    .option("--patient <id...>", "only these patients (default: every patient concerned)")
    .action(
      async (
        options: VaultOptions & { as: string; passphraseFile?: string; auditor?: string; patient?: string[] },
      ) => {
        const custodian = unlockBundle(options.as, options.passphraseFile);
        if (custodian.role !== "custodian")
          throw new UsageError(`--as must be a custodian's bundle, not a ${custodian.role}'s`);
        const report = await withDeployment(options, (d) => {
          if (!d.registry.active("custodian", custodian.id, d.now()))
            throw new CustosError("NOT_AUTHORIZED", `${custodian.uri} is not an enrolled custodian`);
          return rewrapHistory(d, {
            custodian: custodian.uri,
            opener: openerOf(custodian),
            ...(options.auditor ? { auditor: options.auditor } : {}),
            ...(options.patient ? { patients: options.patient } : {}),
          });
        });
        io.out(
          `re-wrapped ${report.envelopes} epoch key(s) for ${report.changed} of ${report.patients} patient(s)${report.unrecoverable ? `; ${report.unrecoverable} epoch(s) the custodian cannot open (erased)` : ""}`,
        );
      },
    );

  keys
    .command("upgrade")
    .description(
      "move a data directory from the retired party-key directory into the identity registry (once)",
    )
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--as <bundle>", "an enrolled admin's bundle to sign the grants (default: enroll admin `admin`)")
    .option(...PASSPHRASE_FILE)
    .requiredOption("--custodian-key <file>", "the legacy custodian's party key file")
    .requiredOption(
      "--custodian-key-passphrase-file <file>",
      "a file holding the passphrase of the legacy custodian's key file",
    )
    .requiredOption("--out <dir>", "where to write the new identities' bundles (under the bundle passphrase)")
    .action(
      async (
        options: VaultOptions & {
          as?: string;
          passphraseFile?: string;
          custodianKey: string;
          custodianKeyPassphraseFile: string;
          out: string;
        },
      ) => {
        const admin = options.as ? unlockBundle(options.as, options.passphraseFile) : undefined;
        const legacyPassphrase = readFileSync(options.custodianKeyPassphraseFile, "utf8").replace(
          /\r?\n$/,
          "",
        );
        const legacy = await openLegacyKeyFile(options.custodianKey, legacyPassphrase);
        if (legacy.role !== "custodian")
          throw new UsageError("--custodian-key is not a custodian's key file");
        mkdirSync(options.out, { recursive: true, mode: 0o700 });
        try {
          const report = await withDeployment(
            { ...options, data: requireData(options.data) },
            (d) =>
              upgradeLegacyDirectory(d, {
                ...(admin ? { admin } : {}),
                custodianKey: legacy.privateKey,
                outDir: options.out,
                passphrase: bundlePassphrase(options.passphraseFile),
              }),
            { allowLegacyDirectory: true },
          );
          io.out(
            `upgraded: ${report.enrolled} identities enrolled (bundles in ${options.out}), ${report.grants} grant(s) signed, ${report.envelopes} epoch key(s) re-wrapped for ${report.patients} patient(s)`,
          );
        } finally {
          legacy.privateKey.fill(0);
        }
      },
    );

  registerKeyAuditCommand(keys, io);

  keys
    .command("cache")
    .description(
      "a running node's epoch-key cache (hits, misses, epochs started, ended, swept, live); --end ends every live epoch now",
    )
    .option("--server <url>", "the node (https://host:port)", process.env.CUSTOS_SERVER)
    .requiredOption("--as <bundle>", "an admin's identity bundle")
    .option(...PASSPHRASE_FILE)
    .option(
      "--end",
      "end every live epoch now (keys zero-filled; each patient's next record starts a new one)",
    )
    .option("--json", "print JSON")
    .action(async (options: RemoteAdminOptions & { end?: boolean; json?: boolean }) => {
      const admin = adminClient(options);
      const ended = options.end ? await admin.endEpochs() : undefined;
      const stats = ended?.stats ?? (await admin.epochKeys());
      if (options.json) {
        io.out(JSON.stringify(ended ? { ended: ended.ended, ...stats } : stats));
        return;
      }
      if (ended) io.out(`ended ${ended.ended} live epoch${ended.ended === 1 ? "" : "s"}`);
      io.out(
        `epoch keys: ${stats.active} live; since start ${stats.epochsStarted} started, ${stats.epochsEnded} ended (${stats.swept} by the sweep); ${stats.hits} hits, ${stats.misses} misses`,
      );
    });
}
