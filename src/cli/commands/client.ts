// The client side of the command line, talking to a running node with an identity bundle: remote
// ingest (with a progress bar), `custos query`, `custos query-history` and `custos receipt`. Every
// reply is verified by the SDK before anything is printed.

import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import type { RecordFilter } from "../../client/index.js";
import {
  CustosClient,
  checkPageFollows,
  checkTrailStart,
  type TrailQuery,
  type TrailResult,
} from "../../client/index.js";
import { CustosError } from "../../core/index.js";
import { ACTIONS, type AuditRecord, recordsToSearchsetBundle } from "../../core/record/index.js";
import { Identity, readBundle } from "../../identity/index.js";
import type { OpenedRecord } from "../../records/index.js";
import { EXIT_FINDINGS, UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { parseCount } from "../options.js";
import { bundlePassphrase } from "./identity.js";

export interface RemoteIngestOptions {
  server?: string;
  as?: string;
  passphraseFile?: string;
  batch?: string;
  json?: boolean;
}

export interface ClientOptions {
  server?: string;
  as?: string;
  passphraseFile?: string;
  state?: string;
  witnessKey?: string[];
  quorum?: string;
  gossip?: string[];
}

export function openClient(options: ClientOptions): CustosClient {
  if (!options.server) throw new UsageError("--server URL is required (or set CUSTOS_SERVER)");
  if (!options.as) throw new UsageError("--as BUNDLE is required (or set CUSTOS_IDENTITY)");
  const identity = Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile));
  const keys = options.witnessKey ?? [];
  const quorum = options.quorum !== undefined ? parseCount(options.quorum, "--quorum") : keys.length;
  if (quorum > keys.length) throw new UsageError(`--quorum ${quorum} needs at least ${quorum} --witness-key`);
  // --server may list several nodes of one log (a,b,c): writes go on to the next on STORE_BUSY or
  // when a node cannot be reached; reads use the first.
  const [url, ...failover] = options.server.split(",").map((part) => part.trim());
  return new CustosClient({
    url: url!,
    ...(failover.length > 0 ? { failover } : {}),
    identity,
    statePath: options.state ?? `${options.as}.state.json`,
    ...(keys.length > 0 ? { witnesses: { keys, quorum } } : {}),
    ...(options.gossip && options.gossip.length > 0 ? { gossip: options.gossip } : {}),
  });
}

export function withClientOptions(command: Command): Command {
  return command
    .option(
      "--server <url>",
      "the node's API address (https://host:port); for ingest, several nodes of the log as a,b,c (writes go on to the next on STORE_BUSY or a failed connection)",
      process.env.CUSTOS_SERVER,
    )
    .option("--as <bundle>", "your identity bundle", process.env.CUSTOS_IDENTITY)
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option("--state <file>", "where the last trusted checkpoint is kept (default: BUNDLE.state.json)")
    .option(
      "--witness-key <key...>",
      "a witness's cosigner verifier key; checkpoints must carry its cosignature",
    )
    .option("--quorum <n>", "how many of the --witness-key witnesses must have cosigned (default: all)");
}

/** Sends records to a node in batches, with a progress bar on a terminal. */
export async function ingestRemote(
  io: Io,
  records: readonly AuditRecord[],
  options: RemoteIngestOptions,
): Promise<void> {
  const client = openClient(options);
  const batch = parseCount(options.batch ?? "1000", "--batch");
  if (batch < 1 || batch > 100_000) throw new UsageError("--batch must be 1 to 100000");
  const bar =
    io.isTTY && records.length > batch
      ? new SingleBar({
          stream: process.stderr,
          format: "ingesting [{bar}] {value}/{total} records {eta_formatted}",
        })
      : undefined;
  bar?.start(records.length, 0);
  let stored = 0;
  let duplicates = 0;
  try {
    for (let i = 0; i < records.length; i += batch) {
      const results = await client.submit(records.slice(i, i + batch));
      for (const r of results) {
        if (r.duplicate) duplicates++;
        else stored++;
        if (options.json) io.out(JSON.stringify(r));
      }
      bar?.update(Math.min(i + batch, records.length));
    }
  } finally {
    bar?.stop();
  }
  if (!options.json) {
    io.out(
      `sent ${records.length} record(s): ${stored} stored, ${duplicates} already present (durable and in the log)`,
    );
  }
}

/** The filters on the fields that say who, from where and what (record-filter.ts). */
function recordFilterOf(options: RecordFilter): RecordFilter {
  const keys = [
    "networkAddress",
    "resourceType",
    "resourceId",
    "userName",
    "userRole",
    "department",
  ] as const;
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

function recordRow(r: OpenedRecord): string[] {
  const rec = r.record;
  return [
    rec.time.replace("T", " ").replace(/\.\d+Z$|Z$/, "Z"),
    rec.patientId,
    rec.action,
    rec.userId,
    rec.emergency ? "yes" : "",
    rec.purposeOfUse ?? "",
    String(r.index),
  ];
}

function printTable(io: Io, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  io.out(line(header));
  io.out(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) io.out(line(row));
}

export function registerClientCommands(program: Command, io: Io, setExit: (code: number) => void): void {
  withClientOptions(
    program
      .command("query")
      .description(
        "read access histories from a node, verified and decrypted here (patients: your own; audit companies: your patients)",
      ),
  )
    .option("--patient <id...>", "the patients (audit companies; default: all granted)")
    .option("--from <time>", "only accesses at or after this time")
    .option("--to <time>", "only accesses before this time")
    .option("--action <action>", `only this action (${ACTIONS.join(", ")})`)
    .option("--user <id>", "only this user")
    .option("--emergency", "only emergency (break-the-glass) accesses")
    .option("--purpose <purpose>", "only this purpose of use")
    .option("--network-address <address>", "only accesses from this IP address or host")
    .option("--resource-type <type>", "only accesses to this resource type (e.g. Observation)")
    .option("--resource-id <id>", "only accesses to this resource ID")
    .option("--user-name <text>", "only users whose display name contains this text (any case)")
    .option("--user-role <role>", "only users with this role (any case)")
    .option("--department <department>", "only users of this department (any case)")
    .option("--limit <n>", "at most this many records per patient")
    .option("--json", "print JSON")
    .option("--fhir", "print a FHIR R4 Bundle (searchset) of AuditEvents")
    .option(
      "--gossip <url>",
      "send the verified checkpoint to this mirror or node (POST /v1/gossip); repeatable",
      (url: string, all: string[] = []) => {
        if (!/^https:\/\//.test(url)) throw new UsageError(`--gossip must be an https:// URL, got "${url}"`);
        return [...all, url];
      },
    )
    .action(
      async (
        options: ClientOptions & {
          patient?: string[];
          from?: string;
          to?: string;
          action?: string;
          user?: string;
          emergency?: boolean;
          purpose?: string;
          networkAddress?: string;
          resourceType?: string;
          resourceId?: string;
          userName?: string;
          userRole?: string;
          department?: string;
          limit?: string;
          json?: boolean;
          fhir?: boolean;
        },
      ) => {
        if (options.action && !(ACTIONS as readonly string[]).includes(options.action)) {
          throw new UsageError(`--action must be one of ${ACTIONS.join(", ")}`);
        }
        for (const [name, value] of [
          ["--from", options.from],
          ["--to", options.to],
        ] as const) {
          if (value !== undefined && Number.isNaN(Date.parse(value)))
            throw new UsageError(`${name} must be an ISO 8601 time`);
        }
        const limit = options.limit ? parseCount(options.limit, "--limit") : undefined;
        const client = openClient(options);
        const query: TrailQuery = {
          ...(options.from ? { from: new Date(options.from).toISOString() } : {}),
          ...(options.to ? { to: new Date(options.to).toISOString() } : {}),
          ...(options.action ? { action: options.action } : {}),
          ...(options.user ? { user: options.user } : {}),
          ...(options.emergency ? { emergency: true } : {}),
          ...(options.purpose ? { purpose: options.purpose } : {}),
          ...recordFilterOf(options),
        };
        const records: OpenedRecord[] = [];
        const refused: string[] = [];
        // Trails whose end the checkpoint's trail map did not prove (a log signed before the map).
        const unchecked = new Set<string>();
        let notReadable = 0;
        // Set when the node proved the reply against an older checkpoint: the quorum lags (a witness down).
        let behind: { entries: number; seconds: number } | undefined;
        const collect = async (fetchPage: (before?: number) => Promise<TrailResult>) => {
          let before: number | undefined;
          let count = 0;
          let previous: TrailResult | undefined;
          for (;;) {
            const page = await fetchPage(before);
            behind = page.checkpoint.behind;
            if (!page.completeness.proven) unchecked.add(page.completeness.reason);
            // Pages must join up: no block of records skipped between two pages, none left out at the start.
            if (previous) checkPageFollows(previous, page);
            previous = page;
            records.push(...page.records);
            notReadable += page.notReadable.length;
            count += page.records.length;
            if (limit !== undefined && count >= limit) return;
            if (page.next === null) {
              checkTrailStart(page, query);
              return;
            }
            before = page.next;
          }
        };
        if (client.identity.role === "patient") {
          await collect((before) => client.trail({ ...query, ...(before !== undefined ? { before } : {}) }));
        } else if (client.identity.role === "auditor" && !options.patient) {
          const all = await client.auditTrails(query);
          behind = all.checkpoint.behind;
          for (const p of all.patients) {
            // The command line stays strict: any entry that fails verification fails the query.
            if (p.verification) throw p.verification;
            if (p.error)
              refused.push(`${p.patientId ?? p.tag?.slice(0, 12) ?? "a patient"} (${p.error.code})`);
            else {
              if (!p.result!.completeness.proven) unchecked.add(p.result!.completeness.reason);
              records.push(...p.result!.records);
              notReadable += p.result!.notReadable.length;
            }
          }
        } else {
          for (const patientId of options.patient ?? []) {
            try {
              await collect((before) =>
                client.trail({ ...query, patientId, ...(before !== undefined ? { before } : {}) }),
              );
            } catch (error) {
              if (
                error instanceof CustosError &&
                (error.code === "NOT_AUTHORIZED" || error.code === "NOT_AUTHENTICATED")
              ) {
                refused.push(`${patientId} (${error.code})`);
              } else throw error;
            }
          }
        }
        records.sort((a, b) => Date.parse(b.record.time) - Date.parse(a.record.time) || b.index - a.index);
        const shown =
          limit !== undefined ? records.slice(0, limit * Math.max(1, options.patient?.length ?? 1)) : records;
        if (options.fhir) {
          io.out(
            JSON.stringify(
              recordsToSearchsetBundle(
                shown.map((r) => ({ record: r.record, source: r.source })),
                { total: shown.length },
              ),
              null,
              2,
            ),
          );
        } else if (options.json) {
          io.out(
            JSON.stringify({
              records: shown.map((r) => ({ index: r.index, source: r.source, ...r.record })),
              refused,
              notReadable,
              verifiedAgainst: client.trustedSize,
              completeness: unchecked.size === 0 ? "proven" : [...unchecked],
              ...(behind ? { behind } : {}),
            }),
          );
        } else {
          printTable(
            io,
            ["time", "patient", "action", "user", "emergency", "purpose", "entry"],
            shown.map(recordRow),
          );
          io.out(
            `${shown.length} access(es), newest first; every entry verified against the signed log of size ${client.trustedSize}`,
          );
          if (notReadable > 0)
            io.out(
              `${notReadable} entr${notReadable === 1 ? "y" : "ies"} outside your grant's period (not readable)`,
            );
        }
        if (behind)
          io.err(
            `behind: ${behind.entries} newer entr${behind.entries === 1 ? "y" : "ies"} of the log (signed from ${behind.seconds} s ago on) not yet cosigned by your witness quorum; they show once it cosigns`,
          );
        for (const reason of unchecked) io.err(`completeness not checked: ${reason}`);
        for (const r of refused) io.err(`refused: ${r}`);
        if (refused.length > 0) setExit(EXIT_FINDINGS);
        await client.gossipSettled();
      },
    );

  withClientOptions(
    program.command("query-history").description("patients: who read your trail, and who was refused"),
  )
    .option("--json", "print JSON")
    .action(async (options: ClientOptions & { json?: boolean }) => {
      const client = openClient(options);
      const notices = await client.queryHistory();
      notices.sort((a, b) => Date.parse(b.body.time) - Date.parse(a.body.time));
      if (options.json) {
        io.out(JSON.stringify(notices.map((n) => ({ index: n.index, kind: n.kind, ...n.body }))));
        return;
      }
      printTable(
        io,
        ["time", "who", "role", "what", "outcome"],
        notices.map((n) => [
          n.body.time,
          n.body.requester,
          n.body.role,
          n.body.operation,
          n.kind === "query" ? `read (${n.body.returned ?? 0} entries)` : `REFUSED (${n.body.reason})`,
        ]),
      );
      io.out(`${notices.length} event(s), verified against the signed log of size ${client.trustedSize}`);
    });

  withClientOptions(
    program.command("receipt").description("a verified inclusion receipt for log entry INDEX"),
  )
    .argument("<index>", "the entry's index (from the ingest reply)")
    .option("--tlog-proof", "print the C2SP tlog-proof text")
    .action(async (index: string, options: ClientOptions & { tlogProof?: boolean }) => {
      const client = openClient(options);
      const receipt = await client.receipt(parseCount(index, "INDEX"));
      if (options.tlogProof) {
        io.outRaw(receipt.tlogProof);
        return;
      }
      io.out(
        `entry ${receipt.index} (leaf hash ${receipt.leafHash}) is in the log: verified against the checkpoint of size ${receipt.checkpoint.size}`,
      );
    });
}
