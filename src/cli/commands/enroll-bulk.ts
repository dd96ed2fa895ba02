// `custos enroll --bulk FILE.csv [--dry-run] [--force]`: onboarding at hospital scale, into a stopped
// node's data directory (--data) or through a running node (--server URL --as ADMIN_BUNDLE, POST
// /v1/admin/bulk-enrollments), both with src/identity/bulk-enroll.ts's semantics: counts before, a
// progress bar, counts after; a re-run after an interruption enrolls only what is missing.

import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { SingleBar } from "cli-progress";
import type { AdminClient, BulkEnrollmentReply } from "../../client/index.js";
import { MAX_PATIENTS_PER_GRANT } from "../../core/entry/index.js";
import { CustosError } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";
import {
  BULK_BATCH,
  type BulkCounts,
  type BulkRow,
  bulkCsvRows,
  checkBulkRows,
  planBulk,
  registryCounts,
  runBulk,
} from "../../identity/index.js";
import type { Io } from "../io.js";
import { parseCount } from "../options.js";
import { adminClient } from "./admin-remote.js";
import { bundlePassphrase, nodeHoldsLog } from "./identity.js";
import { type VaultOptions, withDeployment } from "./records.js";
import { unlockBundle } from "./unlock.js";

export interface BulkOptions extends VaultOptions {
  bulk: string;
  dryRun?: boolean;
  force?: boolean;
  out?: string;
  as?: string;
  days?: string;
  passphraseFile?: string;
  server?: string;
}

const describe = (c: BulkCounts) =>
  `${c.patients} patient(s), ${c.auditors} audit compan${c.auditors === 1 ? "y" : "ies"} enrolled; ${c.grantedPairs} of the file's grants in force`;

/** The "to do" line, the same offline and through a node. */
function toDo(counts: {
  enroll: number;
  alreadyEnrolled: number;
  replace: number;
  otherKeys: number;
  grant: number;
  alreadyGranted: number;
}): string {
  const keys =
    counts.replace > 0
      ? `, replace the keys of ${counts.replace} (enrolled with other keys)`
      : counts.otherKeys > 0
        ? `, leave ${counts.otherKeys} enrolled with other keys than the file's (--force replaces them)`
        : "";
  return `to do: enroll ${counts.enroll} (${counts.alreadyEnrolled} already enrolled)${keys}, grant ${counts.grant} (${counts.alreadyGranted} already in force)`;
}

/** Progress on stderr: a bar on a terminal, otherwise a line per tenth (so a log shows how far it got). */
function progress(io: Io): { update: (done: number, total: number) => void; stop: () => void } {
  const bar = process.stderr.isTTY
    ? new SingleBar({ stream: process.stderr, format: "enrolling [{bar}] {value}/{total} {eta_formatted}" })
    : undefined;
  let started = false;
  let printed = 0;
  return {
    update(done, total) {
      if (bar) {
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(done);
      } else if (done === total || done - printed >= Math.max(1, total / 10)) {
        io.err(`enrolled ${done}/${total}`);
        printed = done;
      }
    },
    stop: () => bar?.stop(),
  };
}

function readBulkRows(path: string): (BulkRow & { line: number })[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CustosError("NOT_FOUND", `cannot read ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
  return bulkCsvRows(text);
}

export async function enrollBulk(io: Io, options: BulkOptions): Promise<void> {
  const rows = readBulkRows(options.bulk);
  // The whole file is checked before anything is written or sent (a bad line changes nothing).
  const file = checkBulkRows(rows, (line) => `line ${line}`);
  if (options.server) return enrollBulkRemote(io, options, rows, file);
  const admin = options.as ? unlockBundle(options.as, options.passphraseFile) : undefined;
  const days = options.days ? parseCount(options.days, "--days") : undefined;
  // Beside a running node the log has another writer: the admin goes through it (--server).
  await withDeployment(options, async (deployment) => {
    io.out(`${options.bulk}: ${file.identities.length} identities, ${file.grants.length} grant(s)`);
    io.out(`before: ${describe(registryCounts(deployment, file))}`);
    const plan = planBulk(deployment, file, { force: options.force === true });
    const grantCount = [...plan.grants.values()].reduce((n, p) => n + p.length, 0);
    io.out(
      toDo({
        enroll: plan.enroll.length,
        alreadyEnrolled: plan.alreadyEnrolled,
        replace: plan.replace.length,
        otherKeys: plan.otherKeys,
        grant: grantCount,
        alreadyGranted: plan.alreadyGranted,
      }),
    );
    if (options.dryRun) {
      io.out("dry run: nothing written");
      return;
    }
    const needsBundles = plan.enroll.some((i) => i.keys === undefined);
    if (needsBundles && options.out) mkdirSync(options.out, { recursive: true, mode: 0o700 });
    const shown = progress(io);
    await runBulk(deployment, plan, {
      ...(needsBundles ? { passphrase: bundlePassphrase(options.passphraseFile) } : {}),
      ...(options.out ? { outDir: options.out } : {}),
      ...(admin ? { admin } : {}),
      ...(days ? { days } : {}),
      onProgress: shown.update,
    });
    shown.stop();
    io.out(`after: ${describe(registryCounts(deployment, file))}`);
  }).catch((error: unknown) => {
    if (error instanceof CustosError && error.code === "STORE_BUSY") throw nodeHoldsLog();
    throw error;
  });
}

/** Splits rows into requests of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A new bundle file for an identity the node makes: reserved (empty, 0600) before the node is asked,
 * so a path that cannot be written fails before anything is enrolled; an empty file left by a run cut
 * off between reserving and enrolling is taken over. Removed again if the node refuses.
 */
async function intoBundleFile(path: string, produce: () => Promise<string>): Promise<void> {
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const empty = code === "EEXIST" && statSync(path).size === 0;
    if (!empty)
      throw new CustosError(
        code === "EEXIST" ? "STORE_EXISTS" : "CONFIG",
        code === "EEXIST"
          ? `refusing to overwrite ${path}: it already exists`
          : `cannot write ${path}: ${code}`,
      );
  }
  try {
    writeFileAtomic(path, await produce(), { mode: 0o600 });
  } catch (error) {
    rmSync(path, { force: true });
    throw error;
  }
}

/**
 * `custos enroll --bulk FILE.csv --server URL --as ADMIN_BUNDLE`: the file goes to the node in requests
 * of BULK_BATCH rows (each request's enrollments one atomic append), identities before grants. A dry
 * run over the whole file first gives the counts before and what is to do; rows without public keys
 * are enrolled one at a time (the node makes the bundle, written to --out), and the grants the node
 * lists as missing are signed here with the admin's key (the node cannot forge a grant).
 */
async function enrollBulkRemote(
  io: Io,
  options: BulkOptions,
  rows: readonly (BulkRow & { line: number })[],
  file: ReturnType<typeof checkBulkRows>,
): Promise<void> {
  const client = adminClient(options);
  const days = options.days ? parseCount(options.days, "--days") : undefined;
  const force = options.force === true;
  const send = (part: readonly BulkRow[], dryRun: boolean): Promise<BulkEnrollmentReply> =>
    client.bulkEnroll(
      part.map(({ kind, id, signingKey, encryptionKey, auditor }) => ({
        kind,
        id,
        ...(signingKey ? { signingKey } : {}),
        ...(encryptionKey ? { encryptionKey } : {}),
        ...(auditor ? { auditor } : {}),
      })),
      { dryRun, force, ...(days !== undefined ? { days } : {}) },
    );
  const identityParts = chunks(
    rows.filter((r) => r.kind !== "grant"),
    BULK_BATCH,
  );
  const grantParts = chunks(
    rows.filter((r) => r.kind === "grant"),
    BULK_BATCH,
  );
  io.out(`${options.bulk}: ${file.identities.length} identities, ${file.grants.length} grant(s)`);

  // The plan: a dry run over the whole file.
  let before: BulkCounts | undefined;
  let grantedBefore = 0;
  const todo = { enroll: 0, alreadyEnrolled: 0, replace: 0, otherKeys: 0, grant: 0, alreadyGranted: 0 };
  let withoutKeys = 0;
  let grantBatches = 0;
  for (const part of [...identityParts, ...grantParts]) {
    const reply = await send(part, true);
    before ??= reply.before;
    grantedBefore += reply.before.grantedPairs;
    todo.enroll += reply.identities.enrolled + reply.identities.withoutKeys.length;
    todo.alreadyEnrolled += reply.identities.alreadyEnrolled;
    todo.replace += reply.identities.replaced;
    todo.otherKeys += reply.identities.otherKeys;
    withoutKeys += reply.identities.withoutKeys.length;
    for (const grant of reply.grants.toSign) {
      todo.grant += grant.patients.length;
      grantBatches += Math.ceil(grant.patients.length / MAX_PATIENTS_PER_GRANT);
    }
    todo.alreadyGranted += reply.grants.alreadyInForce;
  }
  if (before === undefined) before = (await send([], true)).before;
  io.out(`before: ${describe({ ...before, grantedPairs: grantedBefore })}`);
  io.out(toDo(todo));
  if (options.dryRun) {
    io.out("dry run: nothing written");
    return;
  }
  if (withoutKeys > 0 && !options.out)
    throw new CustosError("BAD_ARGUMENT", "rows without public keys need --out DIR for their bundles");
  const passphrase = withoutKeys > 0 ? bundlePassphrase(options.passphraseFile) : undefined;
  if (withoutKeys > 0) mkdirSync(options.out!, { recursive: true, mode: 0o700 });

  const shown = progress(io);
  const total = todo.enroll + todo.replace + grantBatches;
  let done = 0;
  for (const part of identityParts) {
    const reply = await send(part, false);
    done += reply.identities.enrolled + reply.identities.replaced;
    if (reply.identities.enrolled + reply.identities.replaced > 0) shown.update(done, total);
    for (const { role, id } of reply.identities.withoutKeys) {
      await intoBundleFile(join(options.out!, `${role}-${id}.custos-id`), async () => {
        const enrolled = await client.enroll({
          role,
          id,
          passphrase: passphrase!,
          ...(days !== undefined ? { days } : {}),
        });
        return `${JSON.stringify(enrolled.bundle, null, 2)}\n`;
      });
      shown.update(++done, total);
    }
  }
  for (const part of grantParts) {
    const reply = await send(part, false);
    await signGrants(client, reply, () => shown.update(++done, total));
  }
  shown.stop();
  // After: the node's counts, and of the file's grants those in force now.
  let after: BulkCounts | undefined;
  let grantedAfter = 0;
  for (const part of grantParts) {
    const reply = await send(part, true);
    after ??= reply.before;
    grantedAfter += reply.before.grantedPairs;
  }
  if (after === undefined) after = (await send([], true)).before;
  io.out(`after: ${describe({ ...after, grantedPairs: grantedAfter })}`);
}

/** Signs and posts the grants a reply lists as missing, MAX_PATIENTS_PER_GRANT patients per entry. */
async function signGrants(
  client: AdminClient,
  reply: BulkEnrollmentReply,
  onEach: () => void,
): Promise<void> {
  for (const { auditor, patients } of reply.grants.toSign) {
    for (const part of chunks(patients, MAX_PATIENTS_PER_GRANT)) {
      await client.grant({ auditor, patients: part });
      onEach();
    }
  }
}
