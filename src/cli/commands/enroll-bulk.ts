// `custos enroll --bulk FILE.csv [--dry-run]`: onboarding at hospital scale into a stopped node's data
// directory (src/identity/bulk-enroll.ts): counts before, a progress bar, counts after; a re-run after
// an interruption enrolls only what is missing.

import { mkdirSync, readFileSync } from "node:fs";
import { SingleBar } from "cli-progress";
import { CustosError } from "../../core/index.js";
import { type BulkCounts, parseBulkCsv, planBulk, registryCounts, runBulk } from "../../identity/index.js";
import type { Io } from "../io.js";
import { parseCount } from "../options.js";
import { bundlePassphrase } from "./identity.js";
import { type VaultOptions, withDeployment } from "./records.js";
import { unlockBundle } from "./unlock.js";

export interface BulkOptions extends VaultOptions {
  bulk: string;
  dryRun?: boolean;
  out?: string;
  as?: string;
  days?: string;
  passphraseFile?: string;
}

const describe = (c: BulkCounts) =>
  `${c.patients} patient(s), ${c.auditors} audit compan${c.auditors === 1 ? "y" : "ies"} enrolled; ${c.grantedPairs} of the file's grants in force`;

export async function enrollBulk(io: Io, options: BulkOptions): Promise<void> {
  let text: string;
  try {
    text = readFileSync(options.bulk, "utf8");
  } catch (error) {
    throw new CustosError(
      "NOT_FOUND",
      `cannot read ${options.bulk}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
  const file = parseBulkCsv(text);
  const admin = options.as ? unlockBundle(options.as, options.passphraseFile) : undefined;
  const days = options.days ? parseCount(options.days, "--days") : undefined;
  await withDeployment(options, async (deployment) => {
    io.out(`${options.bulk}: ${file.identities.length} identities, ${file.grants.length} grant(s)`);
    io.out(`before: ${describe(registryCounts(deployment, file))}`);
    const plan = planBulk(deployment, file);
    const grantCount = [...plan.grants.values()].reduce((n, p) => n + p.length, 0);
    io.out(
      `to do: enroll ${plan.enroll.length} (${plan.alreadyEnrolled} already enrolled), grant ${grantCount} (${plan.alreadyGranted} already in force)`,
    );
    if (options.dryRun) {
      io.out("dry run: nothing written");
      return;
    }
    const needsBundles = plan.enroll.some((i) => i.keys === undefined);
    if (needsBundles && options.out) mkdirSync(options.out, { recursive: true, mode: 0o700 });
    const bar = process.stderr.isTTY
      ? new SingleBar({ stream: process.stderr, format: "enrolling [{bar}] {value}/{total} {eta_formatted}" })
      : undefined;
    let started = false;
    let printed = 0;
    await runBulk(deployment, plan, {
      ...(needsBundles ? { passphrase: bundlePassphrase(options.passphraseFile) } : {}),
      ...(options.out ? { outDir: options.out } : {}),
      ...(admin ? { admin } : {}),
      ...(days ? { days } : {}),
      onProgress: (done, total) => {
        if (bar) {
          if (!started) bar.start(total, 0);
          started = true;
          bar.update(done);
        } else if (done === total || done - printed >= Math.max(1, total / 10)) {
          // Without a terminal: a line per tenth, so a log shows how far a run got.
          io.err(`enrolled ${done}/${total}`);
          printed = done;
        }
      },
    });
    bar?.stop();
    io.out(`after: ${describe(registryCounts(deployment, file))}`);
  });
}
