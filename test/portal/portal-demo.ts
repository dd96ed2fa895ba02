// A real deployment for the portal's browser tests and its documentation screenshots: the demo's
// story (its data, identities, the operator's refused fork and the attacker's edit of one of Alice's
// records), then both audit companies' `custos witness serve` and the hospital's `custos serve` with its
// portal as real processes, requiring both witnesses' cosignatures. The deployment's settings for the
// page (hospital, time zone, working hours, privacy contact, witness organisations) are set with
// `custos portal config`, as an operator would.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../helpers/deployment.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = join(ROOT, "bin/custos.js");
export const CHROMIUM = process.env.CUSTOS_CHROMIUM ?? "/usr/bin/chromium";
export const FIREFOX = process.env.CUSTOS_FIREFOX ?? "/usr/bin/firefox-esr";
export const ARTIFACTS = join(ROOT, "test-artifacts/portal");
export const AXE = join(ROOT, "node_modules/axe-core/axe.min.js");
export const PASSPHRASE = "demo passphrase, not for real use";

/** What the deployment tells people; far from UTC, so days in its zone differ from a UTC browser's. */
export const SETTINGS = {
  hospital: "St Mary's Hospital",
  timeZone: "Pacific/Auckland",
  workingHours: "08:00-18:00",
  workingDays: "mon-fri",
  privacyName: "St Mary's Privacy Office",
  privacyEmail: "privacy@stmary.example",
  privacyPhone: "+64 9 555 0100",
  witnesses: { "acme-audit": "Acme Audit", "northwind-assurance": "Northwind Assurance Ltd" },
} as const;

export interface Demo {
  dir: string;
  portal: string;
  api: string;
  fingerprint: string;
  victim: number;
  processes: ChildProcess[];
}

/** Spawns a custos command and resolves once its output contains `ready`. */
async function spawnUntil(args: string[], ready: string, processes: ChildProcess[]): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, CUSTOS_BUNDLE_PASSPHRASE: PASSPHRASE },
    stdio: ["ignore", "pipe", "pipe"],
  });
  processes.push(child);
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const deadline = Date.now() + 60_000;
  while (!out.includes(ready)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`custos ${args[0]} did not start:\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return out;
}

/**
 * The demo's story (its data, identities, the operator's refused fork and the attacker's edit), then
 * the deployment it leaves run as real processes: both audit companies' `custos witness serve` and
 * the hospital's `custos serve` with its portal, requiring both witnesses' cosignatures.
 */
export async function startDemo(
  dir: string,
  processes: ChildProcess[] = [],
  options: {
    /** Runs on the demo's stopped node, before the witnesses and the node start (e.g. a writing CLI step). */
    beforeServe?: (dir: string) => void;
  } = {},
): Promise<Demo> {
  const story = spawnSync(process.execPath, [BIN, "demo", "--dir", dir, "--records", "400"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  if (story.status !== 0) throw new Error(`the demo failed:\n${story.stdout}${story.stderr}`);
  const victim = /ciphertext of entry (\d+) changed/.exec(story.stdout)?.[1];
  if (!victim) throw new Error(`unexpected demo output:\n${story.stdout}`);
  options.beforeServe?.(dir);
  const masterKey = ["--master-key-file", join(dir, "master.key")];
  const witnessFlags: string[] = [];
  const witnessNames: string[] = [];
  for (const company of ["acme-audit", "northwind-assurance"] as const) {
    const data = join(dir, `${company}-witness`);
    const show = spawnSync(process.execPath, [BIN, "witness", "show", "--data", data, "--json"], {
      encoding: "utf8",
    });
    const key = (JSON.parse(show.stdout) as { verifierKey: string }).verifierKey;
    const port = await freePort();
    await spawnUntil(
      [
        "witness",
        "serve",
        "--data",
        data,
        ...masterKey,
        "--identity",
        join(dir, `${company}-witness.custos-id`),
        "--listen",
        `127.0.0.1:${port}`,
      ],
      "serving on",
      processes,
    );
    witnessFlags.push("--witness", `https://127.0.0.1:${port}=${key}`);
    witnessNames.push("--witness-name", `${key}=${SETTINGS.witnesses[company]}`);
  }
  const config = spawnSync(
    process.execPath,
    [
      BIN,
      "portal",
      "config",
      "--data",
      join(dir, "node"),
      "--hospital",
      SETTINGS.hospital,
      "--time-zone",
      SETTINGS.timeZone,
      "--working-hours",
      SETTINGS.workingHours,
      "--working-days",
      SETTINGS.workingDays,
      "--privacy-name",
      SETTINGS.privacyName,
      "--privacy-email",
      SETTINGS.privacyEmail,
      "--privacy-phone",
      SETTINGS.privacyPhone,
      ...witnessNames,
    ],
    { encoding: "utf8" },
  );
  if (config.status !== 0) throw new Error(`custos portal config failed:\n${config.stderr}`);
  const [api, portal] = [await freePort(), await freePort()];
  const out = await spawnUntil(
    [
      "serve",
      "--data",
      join(dir, "node"),
      ...masterKey,
      "--identity",
      join(dir, "node-1.custos-id"),
      "--listen",
      `127.0.0.1:${api}`,
      "--portal",
      `127.0.0.1:${portal}`,
      ...witnessFlags,
      "--quorum",
      "2",
    ],
    "portal (login)",
    processes,
  );
  const fingerprint = /portal certificate SHA-256 SPKI \(base64\): (\S+)/.exec(out)?.[1];
  if (!fingerprint) throw new Error(`custos serve printed no portal certificate fingerprint:\n${out}`);
  return {
    dir,
    portal: `https://127.0.0.1:${portal}/`,
    api: `https://127.0.0.1:${api}`,
    fingerprint,
    victim: Number(victim),
    processes,
  };
}

/** What the CLI, over mutual TLS, says this identity may read: the ground truth for the page. */
export function cliQuery(demo: Demo, who: string): { index: number; patientId: string; time: string }[] {
  const result = spawnSync(
    process.execPath,
    [BIN, "query", "--server", demo.api, "--as", join(demo.dir, `${who}.custos-id`), "--json"],
    { env: { ...process.env, CUSTOS_BUNDLE_PASSPHRASE: PASSPHRASE }, encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`custos query failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { records: { index: number; patientId: string; time: string }[] })
    .records;
}

/** Stops every process the deployment started (pass the array given to startDemo, even if it failed). */
export async function stopProcesses(processes: readonly ChildProcess[]): Promise<void> {
  for (const child of processes) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

/** Chromium's switches for a headless run that trusts exactly the portal's certificate. */
export function chromiumArgs(fingerprint: string): string[] {
  return [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--ignore-certificate-errors-spki-list=${fingerprint}`,
  ];
}
