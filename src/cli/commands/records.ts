// Encrypted audit records on a node's data directory: ingest, read, keys (generate, enroll, grant,
// status, re-wrap) and erasure.

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { fromBase64 } from "../../core/bytes.js";
import { ERASURE_REASONS, type ErasureReason } from "../../core/entry/index.js";
import { CustosError } from "../../core/errors.js";
import { parseRecordInput } from "../../core/record/record-input.js";
import { Deployment } from "../../identity/deployment.js";
import {
  createPartyKeyFile,
  openPartyKeyFile,
  PARTY_ROLES,
  type PartyRole,
  passphraseFromEnv,
  Vault,
} from "../../records/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, requireData } from "../options.js";
import { ingestRemote, type RemoteIngestOptions } from "./client.js";

interface VaultOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
  json?: boolean;
}

async function withVault<T>(options: VaultOptions, run: (vault: Vault) => Promise<T>): Promise<T> {
  const dir = requireData(options.data);
  // A deployment with a CA seals to the keys enrolled in the log; without one, to the local directory.
  const vault = Deployment.hasCa(dir)
    ? (await Deployment.open(dir, masterKeyFrom(options), options.db ? { db: options.db } : {})).vault
    : await Vault.open(dir, masterKeyFrom(options), options.db ? { db: options.db } : {});
  try {
    return await run(vault);
  } finally {
    await vault.close();
  }
}

function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${name} must be an ISO 8601 date or time, got "${value}"`);
  return t;
}

function parseRole(value: string, allowed: readonly string[]): PartyRole {
  if (!allowed.includes(value)) throw new UsageError(`--role must be one of ${allowed.join(", ")}`);
  return value as PartyRole;
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
    .description("decrypt and show a patient's access history with a reader's own key file")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--patient <id>", "the patient")
    .requiredOption("--key <file>", "the reader's key file (passphrase in CUSTOS_PARTY_PASSPHRASE)")
    .option("--from <time>", "only accesses at or after this time")
    .option("--to <time>", "only accesses before this time")
    .option("--json", "print JSON")
    .action(async (options: VaultOptions & { patient: string; key: string; from?: string; to?: string }) => {
      const party = await openPartyKeyFile(options.key, passphraseFromEnv());
      const from = parseTime(options.from, "--from");
      const to = parseTime(options.to, "--to");
      await withVault(options, async (vault) => {
        const { records, notReadable } = await vault.readTrail(options.patient, party.opener(), {
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
    });

  const keys = program
    .command("keys")
    .description("party keys, enrollment, grants, key status and custodian re-wrap");

  keys
    .command("generate")
    .description(
      "create a party key file (X25519 encryption + Ed25519 signing), sealed with CUSTOS_PARTY_PASSPHRASE",
    )
    .requiredOption("--role <role>", PARTY_ROLES.join(" | "))
    .requiredOption("--id <id>", "the party's ID")
    .requiredOption("--out <file>", "where to write the key file")
    .action(async (options: { role: string; id: string; out: string }) => {
      const role = parseRole(options.role, PARTY_ROLES);
      const keysOut = await createPartyKeyFile(options.out, role, options.id, passphraseFromEnv());
      io.out(`wrote ${options.out}`);
      io.out(`encryption public key: ${keysOut.encryptionPublicKey}`);
      io.out(`signing public key: ${keysOut.signingPublicKey}`);
    });

  keys
    .command("enroll")
    .description("register a patient's or audit company's encryption public key, or the custodian's")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--role <role>", "patient | auditor | custodian")
    .option("--id <id>", "the party's ID (not for the custodian)")
    .requiredOption("--public-key <base64>", "the party's X25519 encryption public key")
    .action(async (options: VaultOptions & { role: string; id?: string; publicKey: string }) => {
      const role = parseRole(options.role, PARTY_ROLES);
      let key: Uint8Array;
      try {
        key = fromBase64(options.publicKey);
      } catch {
        throw new UsageError("--public-key is not valid base64");
      }
      await withVault(options, async (vault) => {
        if (role === "custodian") vault.directory.setCustodian(key);
        else {
          if (!options.id) throw new UsageError("--id is required for a patient or audit company");
          vault.directory.enroll(role, options.id, key);
        }
        await vault.saveDirectory();
        io.out(`enrolled ${role}${options.id && role !== "custodian" ? ` ${options.id}` : ""}`);
      });
    });

  keys
    .command("grant")
    .description("grant an audit company read access to patients (new key epochs start for them)")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--auditor <id>", "the audit company")
    .requiredOption("--patients <ids>", "comma-separated patient IDs")
    .option("--from <time>", "start of validity (default now)")
    .option("--to <time>", "end of validity (default open-ended)")
    .action(
      async (options: VaultOptions & { auditor: string; patients: string; from?: string; to?: string }) => {
        const patients = options.patients
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean);
        if (patients.length === 0) throw new UsageError("--patients names no patient");
        const from = parseTime(options.from, "--from") ?? Date.now();
        const to = parseTime(options.to, "--to");
        await withVault(options, async (vault) => {
          vault.directory.grant({
            auditor: options.auditor,
            patients,
            from,
            ...(to !== undefined ? { to } : {}),
          });
          await vault.saveDirectory();
          io.out(`granted ${options.auditor} ${patients.length} patient(s)`);
        });
      },
    );

  keys
    .command("status")
    .description("for each enrolled patient (or one): key epochs, envelopes and who can read them")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--patient <id>", "only this patient")
    .option("--json", "print JSON")
    .action(async (options: VaultOptions & { patient?: string }) => {
      await withVault(options, async (vault) => {
        const patients = options.patient ? [options.patient] : vault.directory.patientIds();
        const rows = [];
        for (const patient of patients) {
          const enrolled = vault.directory.party("patient", patient) !== undefined;
          rows.push({ patient, enrolled, ...(await vault.keyStatus(patient)) });
        }
        if (options.json) io.out(JSON.stringify(rows));
        else
          for (const row of rows) {
            const readers = row.readers
              .map((r) => `${r.role} ${r.fingerprint.slice(0, 8)} (${r.epochs} epochs)`)
              .join(", ");
            io.out(
              `${row.patient}: ${row.enrolled ? "keys enrolled" : "NOT ENROLLED"}; ${row.epochs} epochs, ${row.records} records, ${row.envelopes} wrapped keys${row.erasedItems ? `, ${row.erasedItems} erased` : ""}; readers: ${readers || "none"}`,
            );
          }
      });
    });

  keys
    .command("rewrap")
    .description(
      "custodian: re-wrap a patient's historical keys for a granted audit company or a patient's new key",
    )
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .requiredOption("--patient <id>", "the patient whose history is re-wrapped")
    .requiredOption(
      "--custodian-key <file>",
      "the custodian's key file (passphrase in CUSTOS_PARTY_PASSPHRASE)",
    )
    .requiredOption("--to-role <role>", "auditor | patient")
    .requiredOption(
      "--to-id <id>",
      "the enrolled audit company (or the patient, after re-enrolling a new key)",
    )
    .action(
      async (
        options: VaultOptions & { patient: string; custodianKey: string; toRole: string; toId: string },
      ) => {
        const role = parseRole(options.toRole, ["auditor", "patient"]) as "auditor" | "patient";
        const custodian = await openPartyKeyFile(options.custodianKey, passphraseFromEnv());
        if (custodian.role !== "custodian")
          throw new UsageError("--custodian-key is not a custodian key file");
        await withVault(options, async (vault) => {
          const reader = vault.directory.party(role, options.toId);
          if (!reader)
            throw new CustosError(
              "NOT_FOUND",
              `that ${role === "patient" ? "patient" : "audit company"} is not enrolled`,
            );
          const count = await vault.rewrap(
            options.patient,
            custodian.opener(),
            reader,
            role === "patient" ? "recovery" : "regrant",
          );
          io.out(`re-wrapped ${count} epoch key(s) for ${role} ${options.toId}`);
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
