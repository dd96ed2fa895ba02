// `custos retention status|set|run` (the deployment's retention policy and the expiry job) and
// `custos hold place|lift|list` (legal holds, by an admin, on a running node with --server or on a
// stopped node's data directory). docs/operations.md, "Retention and legal holds".

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { AdminClient } from "../../client/index.js";
import type { HoldAction } from "../../core/entry/index.js";
import { changeHold, Deployment, Identity, readBundle, standingHolds } from "../../identity/index.js";
import { openStore } from "../../ledger/index.js";
import {
  ARCHIVES_FILE_NAME,
  archivedRanges,
  describeRetention,
  Holds,
  parseRetentionPolicy,
  RETENTION_STATE_FILE_NAME,
  RetentionJob,
  readRetentionPolicy,
  readRetentionState,
  retentionCutoff,
  writeRetentionPolicy,
} from "../../records/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseCount, requireData } from "../options.js";
import { bundlePassphrase } from "./identity.js";

interface DataOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
}

export function registerRetentionCommands(program: Command, io: Io): void {
  const retention = program
    .command("retention")
    .description("the deployment's retention policy and the expiry of records past it");

  retention
    .command("status")
    .description("the retention policy, the expiry job's progress and the legal holds that stand")
    .option(...DATA)
    .option(...DB)
    .option("--json", "print JSON")
    .action(async (options: DataOptions & { json?: boolean }) => {
      const dir = requireData(options.data);
      const policy = readRetentionPolicy(dir);
      const state = readRetentionState(join(dir, RETENTION_STATE_FILE_NAME));
      const store = await openStore(dir, { readonly: true, ...(options.db ? { db: options.db } : {}) });
      let holds: Awaited<ReturnType<typeof Holds.load>>;
      let size: number;
      let archives: Awaited<ReturnType<typeof archivedRanges>>;
      try {
        holds = await Holds.load(store);
        size = await store.getSize();
        archives = await archivedRanges(store);
      } finally {
        await store.close();
      }
      const status = {
        retention: describeRetention(policy),
        cutoff: new Date(retentionCutoff(policy, Date.now())).toISOString(),
        batchEntries: policy.batchEntries,
        everySeconds: policy.everySeconds,
        examined: state.cursor,
        logSize: size,
        deferred: state.deferred.length,
        requireArchive: policy.requireArchive === true,
        waitingForArchive: state.deferred.filter((d) => d.why === "no-archive").length,
        archives: archives.map((a) => ({
          index: a.index,
          sha256: a.sha256,
          from: new Date(a.from).toISOString(),
          to: new Date(a.to).toISOString(),
          size: a.size,
          records: a.records,
          readers: a.readers,
          operator: a.operator,
          signed: a.signed,
          madeAt: new Date(a.time).toISOString(),
        })),
        ...(existsSync(join(dir, ARCHIVES_FILE_NAME)) ? { ignoredArchivesFile: ARCHIVES_FILE_NAME } : {}),
        expiredEpochs: state.expiredEpochs,
        erasedItems: state.erasedItems,
        ...(state.lastRunAt === undefined ? {} : { lastRunAt: new Date(state.lastRunAt).toISOString() }),
        holds: holds.list().map((h) => ({
          scope: h.patientTag === undefined ? "deployment" : `patient-tag:${h.patientTag}`,
          reference: h.reference,
          placedAt: new Date(h.placedAt).toISOString(),
          placedBy: h.placedBy,
          signed: h.signed,
        })),
      };
      if (options.json) {
        io.out(JSON.stringify(status));
        return;
      }
      io.out(
        `retention: ${status.retention} from each record's time (records before ${status.cutoff} expire)`,
      );
      io.out(
        `expiry: ${status.examined} of ${status.logSize} entries examined, ${status.expiredEpochs} epochs expired (${status.erasedItems} items erased), ${status.deferred} waiting${status.lastRunAt ? `, last run ${status.lastRunAt}` : ", never run"}`,
      );
      io.out(
        status.requireArchive
          ? `archive before deletion: required; ${status.waitingForArchive} epoch(s) past retention wait for a verified archive`
          : "archive before deletion: not required",
      );
      for (const a of status.archives)
        io.out(
          `archive (log entry ${a.index}): records from ${a.from} to ${a.to} (${a.records}, log size ${a.size}), sha256 ${a.sha256}, made ${a.madeAt} by ${a.operator}${a.signed ? "" : " (unsigned)"}`,
        );
      if (status.ignoredArchivesFile)
        io.out(
          `note: ${status.ignoredArchivesFile} (kept by earlier releases) is no longer read: only archives recorded in the log count; make those archives again with custos archive to record them`,
        );
      if (status.holds.length === 0) io.out("legal holds: none");
      for (const hold of status.holds)
        io.out(
          `legal hold on ${hold.scope}: "${hold.reference}" since ${hold.placedAt} by ${hold.placedBy}${hold.signed ? "" : " (unsigned: made before holds were signed)"}`,
        );
    });

  retention
    .command("set")
    .description("set the retention policy (takes effect when the node next starts)")
    .option(...DATA)
    .option("--years <n>", "keep records this many years from their time")
    .option("--days <n>", "keep records this many days from their time")
    .option("--batch <n>", "log entries the expiry job examines per tick")
    .option("--every <seconds>", "how often the node's expiry job ticks (0: never)")
    .option("--require-archive", "expire only what a verified archive (custos archive) holds")
    .option("--no-require-archive", "expire without an archive")
    .action(
      (options: {
        data?: string;
        years?: string;
        days?: string;
        batch?: string;
        every?: string;
        requireArchive?: boolean;
      }) => {
        const dir = requireData(options.data);
        if ((options.years === undefined) === (options.days === undefined))
          throw new UsageError("give exactly one of --years N and --days N");
        const current = readRetentionPolicy(dir);
        const policy = parseRetentionPolicy({
          ...(options.years !== undefined ? { retainYears: parseCount(options.years, "--years") } : {}),
          ...(options.days !== undefined ? { retainDays: parseCount(options.days, "--days") } : {}),
          batchEntries:
            options.batch !== undefined ? parseCount(options.batch, "--batch") : current.batchEntries,
          everySeconds:
            options.every !== undefined ? parseCount(options.every, "--every") : current.everySeconds,
          requireArchive: options.requireArchive ?? current.requireArchive === true,
        });
        writeRetentionPolicy(dir, policy);
        io.out(
          `retention: ${describeRetention(policy)}${policy.requireArchive ? ", only once archived" : ""}; restart the node for it to take effect`,
        );
      },
    );

  retention
    .command("run")
    .description("expire everything past retention now, on a stopped node's data directory")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(async (options: DataOptions) => {
      const dir = requireData(options.data);
      const policy = readRetentionPolicy(dir);
      const deployment = await Deployment.open(
        dir,
        masterKeyFrom(options),
        options.db ? { db: options.db } : {},
      );
      const vault = deployment.vault;
      try {
        const job = new RetentionJob({
          ledger: vault.ledger,
          policy,
          rotate: (tag) => vault.sealer.epochs.rotate(tag),
          statePath: join(dir, RETENTION_STATE_FILE_NAME),
        });
        const results = await job.runToEnd();
        await vault.ledger.checkpoint();
        const held = results.some((r) => r.heldByDeployment);
        const expired = results.reduce((n, r) => n + r.expiredEpochs, 0);
        const erased = results.reduce((n, r) => n + r.erasedItems, 0);
        io.out(
          held
            ? "nothing expired: a legal hold on the whole deployment stands"
            : `expired ${expired} epoch(s), ${erased} item(s) erased; ${job.state.deferred.length} epoch(s) waiting (a newer record or a legal hold)`,
        );
      } finally {
        await deployment.close();
      }
    });

  const hold = program
    .command("hold")
    .description("legal holds: while one stands, expiry and erasure of what it covers are refused");
  for (const action of ["place", "lift"] as const) {
    hold
      .command(action)
      .description(`as an admin, ${action} a legal hold on a patient or on the whole deployment`)
      .requiredOption("--as <bundle>", "the admin's identity bundle")
      .requiredOption("--reference <text>", "the case or matter the hold is for (no personal data)")
      .option("--patient <id>", "the patient held")
      .option("--deployment", "hold the whole deployment")
      .option("--server <url>", "a running node's API address (https://host:port)")
      .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
      .option(...DATA)
      .option(...DB)
      .option(...MASTER)
      .action(
        async (
          options: DataOptions & {
            as: string;
            reference: string;
            patient?: string;
            deployment?: boolean;
            server?: string;
            passphraseFile?: string;
          },
        ) => {
          if ((options.patient === undefined) === (options.deployment !== true))
            throw new UsageError("give exactly one of --patient ID and --deployment");
          const index = await changeHoldVia(options, action);
          const scope = options.patient ? "the patient" : "the whole deployment";
          io.out(
            `${action === "place" ? "placed" : "lifted"} legal hold "${options.reference}" on ${scope} (log entry ${index})`,
          );
        },
      );
  }
  hold
    .command("list")
    .description("the legal holds that stand")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(async (options: DataOptions) => {
      const dir = requireData(options.data);
      const deployment = await Deployment.open(dir, masterKeyFrom(options), {
        readOnly: true,
        ...(options.db ? { db: options.db } : {}),
      });
      try {
        const holds = await standingHolds(deployment);
        if (holds.length === 0) io.out("no legal hold stands");
        for (const h of holds)
          io.out(
            `${h.scope}: "${h.reference}" since ${h.placedAt} by ${h.placedBy}${h.signed ? "" : " (unsigned: made before holds were signed)"}`,
          );
      } finally {
        await deployment.close();
      }
    });
}

async function changeHoldVia(
  options: DataOptions & {
    as: string;
    reference: string;
    patient?: string;
    server?: string;
    passphraseFile?: string;
  },
  action: HoldAction,
): Promise<number> {
  const admin = Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile));
  const request = {
    action,
    reference: options.reference,
    ...(options.patient ? { patient: options.patient } : {}),
  };
  if (options.server) return new AdminClient(options.server, admin).hold(request);
  const deployment = await Deployment.open(
    requireData(options.data),
    masterKeyFrom(options),
    options.db ? { db: options.db } : {},
  );
  try {
    const { index } = await changeHold(deployment, admin, request, Date.now());
    await deployment.vault.ledger.checkpoint();
    return index;
  } finally {
    await deployment.close();
  }
}
