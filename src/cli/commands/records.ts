// Encrypted audit records on a node's data directory: ingest, read (with an identity bundle) and
// erasure. Key status, re-wrapping and the legacy upgrade are in keys.ts.

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ERASURE_REASONS, type ErasureReason } from "../../core/entry/index.js";
import { parseRecordInput } from "../../core/record/index.js";
import {
  Deployment,
  type DeploymentOptions,
  lawfulReadNotice,
  offlineReadItems,
} from "../../identity/index.js";
import type { Vault } from "../../records/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseTime, requireData } from "../options.js";
import { readFromArchive } from "./archive.js";
import { ingestRemote, type RemoteIngestOptions } from "./client.js";
import { openerOf, unlockBundle } from "./unlock.js";

export interface VaultOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
  json?: boolean;
}

/** Opens the data directory's deployment: it seals to, and reads for, the identities in the log. */
export async function withDeployment<T>(
  options: VaultOptions,
  run: (deployment: Deployment) => Promise<T>,
  extra: DeploymentOptions = {},
): Promise<T> {
  const deployment = await Deployment.open(requireData(options.data), masterKeyFrom(options), {
    ...extra,
    ...(options.db ? { db: options.db } : {}),
  });
  try {
    return await run(deployment);
  } finally {
    await deployment.close();
  }
}

function withVault<T>(options: VaultOptions, run: (vault: Vault) => Promise<T>): Promise<T> {
  return withDeployment(options, (deployment) => run(deployment.vault));
}

export function registerRecordCommands(program: Command, io: Io): void {
  program
    .command("ingest")
    .description(
      "encrypt and append audit records (JSON, NDJSON, FHIR AuditEvent or Bundle) from FILE or - (stdin)",
    )
    .argument("<file>", "input file, or - for stdin")
    .option(
      "--server <url>",
      "send to a running node over mutual TLS (with --as) instead of --data",
      process.env.CUSTOS_SERVER,
    )
    .option("--as <bundle>", "the EHR source's identity bundle (remote)", process.env.CUSTOS_IDENTITY)
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option("--batch <n>", "records per request (remote)", "1000")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--source <name>", "the submitting source system (local; remote uses the identity's ID)")
    .option("--json", "print one JSON line per record: index, leaf hash, duplicate")
    .action(async (file: string, options: VaultOptions & RemoteIngestOptions & { source?: string }) => {
      const text = file === "-" ? await readStdin(io) : readFileSync(file, "utf8");
      const records = parseRecordInput(text);
      if (options.server) {
        await ingestRemote(io, records, options);
        return;
      }
      if (!options.source) throw new UsageError("--source NAME is required (or send with --server and --as)");
      const source = options.source;
      await withVault(options, async (vault) => {
        const results = await vault.ingest(records, source);
        await vault.ledger.checkpoint();
        if (options.json) {
          for (const r of results)
            io.out(
              JSON.stringify({
                index: r.index,
                leafHash: Buffer.from(r.leafHash).toString("base64"),
                duplicate: r.duplicate,
              }),
            );
        } else {
          const duplicates = results.filter((r) => r.duplicate).length;
          io.out(
            `ingested ${results.length - duplicates} record(s)${duplicates ? `, ${duplicates} already present` : ""}; log size ${await vault.ledger.size()}`,
          );
        }
      });
    });

  program
    .command("read")
    .description("decrypt and show a patient's access history with a reader's identity bundle")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--patient <id>", "the patient (required but with --archive)")
    .requiredOption("--as <bundle>", "the reader's identity bundle (patient, audit company or custodian)")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option("--archive <file>", "read offline from an archive (custos archive) instead of --data")
    .option("--log-key <key>", "with --archive: the log's verifier key")
    .option("--witness-key <key...>", "with --archive: witnesses whose cosignatures it must carry")
    .option("--quorum <n>", "with --archive: how many of them (default: all)")
    .option("--from <time>", "only accesses at or after this time")
    .option("--to <time>", "only accesses before this time")
    .option(
      "--lawful-request <reference>",
      "custodian only: the documented lawful request this reading answers (recorded in the patient's query history)",
    )
    .option("--json", "print JSON")
    .action(
      async (
        options: VaultOptions & {
          patient?: string;
          as: string;
          passphraseFile?: string;
          archive?: string;
          logKey?: string;
          witnessKey?: string[];
          quorum?: string;
          from?: string;
          to?: string;
          lawfulRequest?: string;
        },
      ) => {
        const from = parseTime(options.from, "--from");
        const to = parseTime(options.to, "--to");
        if (options.archive !== undefined) {
          if (options.logKey === undefined)
            throw new UsageError("--archive needs --log-key: the archive is opened only once it verifies");
          readFromArchive(io, {
            archive: options.archive,
            as: options.as,
            logKey: options.logKey,
            ...(options.passphraseFile !== undefined ? { passphraseFile: options.passphraseFile } : {}),
            ...(options.witnessKey !== undefined ? { witnessKey: options.witnessKey } : {}),
            ...(options.quorum !== undefined ? { quorum: options.quorum } : {}),
            ...(options.patient !== undefined ? { patient: options.patient } : {}),
            ...(options.json !== undefined ? { json: options.json } : {}),
            ...(from !== undefined ? { from } : {}),
            ...(to !== undefined ? { to } : {}),
          });
          return;
        }
        if (options.patient === undefined) throw new UsageError("--patient ID is required");
        const patient = options.patient;
        const reader = unlockBundle(options.as, options.passphraseFile);
        if (reader.role === "custodian" && options.lawfulRequest === undefined)
          throw new UsageError(
            "the custodian reads a trail only for a documented lawful request: pass --lawful-request REFERENCE",
          );
        await withDeployment(options, async (deployment) => {
          const vault = deployment.vault;
          // Recorded first, as an operator action naming the reader and in a notice the patient sees
          // (the custodian's names its lawful request), and only then opened.
          await vault.ledger.append(
            offlineReadItems(
              deployment,
              patient,
              reader,
              reader.role === "custodian"
                ? lawfulReadNotice(deployment, patient, reader.uri, options.lawfulRequest!)
                : undefined,
            ),
          );
          await vault.ledger.checkpoint();
          const opener = openerOf(reader);
          const { records, notReadable } = await vault.readTrail(patient, opener, {
            ...(from !== undefined ? { from } : {}),
            ...(to !== undefined ? { to } : {}),
          });
          if (options.json) {
            io.out(
              JSON.stringify({
                records: records.map((r) => ({ index: r.index, source: r.source, ...r.record })),
                notReadable,
              }),
            );
            return;
          }
          io.out(
            `${records.length} access(es), newest first${notReadable.length ? ` (${notReadable.length} outside this reader's grant)` : ""}`,
          );
          for (const { index, record } of records) {
            const flags = [record.emergency ? "EMERGENCY" : "", record.purposeOfUse ?? ""]
              .filter(Boolean)
              .join(" ");
            io.out(
              `${String(index).padStart(8)}  ${record.time}  ${record.action.padEnd(6)}  ${record.userId}${flags ? `  ${flags}` : ""}`,
            );
          }
        });
      },
    );

  program
    .command("erase")
    .description("erase a patient's encrypted content under a signed erasure entry; the log stays verifiable")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--patient <id>", "the patient")
    .requiredOption("--reason <reason>", ERASURE_REASONS.join(" | "))
    .requiredOption("--authorized-by <who>", "who authorized the erasure (an identity, e.g. privacy-officer)")
    .action(async (options: VaultOptions & { patient: string; reason: string; authorizedBy: string }) => {
      if (!(ERASURE_REASONS as readonly string[]).includes(options.reason)) {
        throw new UsageError(`--reason must be one of ${ERASURE_REASONS.join(", ")}`);
      }
      await withVault(options, async (vault) => {
        const result = await vault.erase(
          options.patient,
          options.reason as ErasureReason,
          options.authorizedBy,
        );
        await vault.ledger.checkpoint();
        io.out(
          `erased ${result.erased} stored item(s) under ${result.entries} signed erasure entr${result.entries === 1 ? "y" : "ies"}`,
        );
      });
    });
}

async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}
