// The portal opens an archive in Debian's Chromium (playwright-core), without signing in and without
// sending it anywhere: on the demo's deployment (portal-demo.ts), the privacy office re-wraps keys for
// an audit company with `custos archive --as` while the node is stopped, the node and both witnesses
// run, and `custos archive` makes the archive beside the running node once the witnesses cosigned.
// The page must show exactly the records `custos read --archive` prints for the same bundle, say what
// was verified, and refuse the same archive with one byte changed, naming the failed check.

import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";
import {
  BIN,
  CHROMIUM,
  chromiumArgs,
  type Demo,
  PASSPHRASE,
  ROOT,
  SETTINGS,
  startDemo,
  stopProcesses,
} from "./portal-demo.js";

const HOUR = 3_600_000;
// The demo's week of records ends an hour before it runs; the attacker's edit is one of Alice's
// newest records (within the last two days): the range stops short of it.
const FROM = new Date(Math.floor((Date.now() - 8 * 24 * HOUR) / HOUR) * HOUR).toISOString();
const TO = new Date(Math.floor((Date.now() - 50 * HOUR) / HOUR) * HOUR).toISOString();
const READER = "acme-audit";

let demo: Demo;
const processes: ChildProcess[] = [];
let browser: Browser;
const temp = tempDir("custos-portal-archive-");
let archiveFile: string;
let tamperedFile: string;
let logKey: string;
let witnessKeys: string[];

function custos(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, CUSTOS_BUNDLE_PASSPHRASE: PASSPHRASE },
    encoding: "utf8",
    timeout: 120_000,
  });
}

const bundle = (id: string) => join(demo?.dir ?? join(temp.dir, "demo"), `${id}.custos-id`);

function witnessedSize(dir: string): number {
  const file = join(dir, "node", "witnessed-checkpoint.txt");
  return existsSync(file) ? Number(readFileSync(file, "utf8").split("\n")[1]) : 0;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: apt-get install -y chromium`);
  if (!existsSync(join(ROOT, "dist/portal/index.html")))
    throw new Error("the portal is not built: run npm run build first");
  const dir = join(temp.dir, "demo");
  let rewrapped = 0;
  demo = await startDemo(dir, processes, {
    beforeServe: () => {
      // The audit company holds keys for its own patients only: the privacy office re-wraps the
      // others' for it (this appends to the log, so the node is stopped).
      const made = custos([
        "archive",
        "--data",
        join(dir, "node"),
        "--master-key-file",
        join(dir, "master.key"),
        "--from",
        FROM,
        "--to",
        TO,
        "--for",
        `auditor/${READER}`,
        "--as",
        join(dir, "privacy-office.custos-id"),
        "--out",
        join(dir, "rewrapped.custos-archive"),
        "--json",
      ]);
      if (made.status !== 0) throw new Error(`custos archive --as failed:\n${made.stdout}${made.stderr}`);
      rewrapped = (JSON.parse(made.stdout) as { size: number }).size;
    },
  });
  // The running node sends its checkpoint to both witnesses; the archive is made once they cosigned.
  for (let i = 0; i < 300 && witnessedSize(dir) < rewrapped; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  expect(witnessedSize(dir)).toBeGreaterThanOrEqual(rewrapped);
  archiveFile = join(dir, "acme.custos-archive");
  const made = custos([
    "archive",
    "--data",
    join(dir, "node"),
    "--master-key-file",
    join(dir, "master.key"),
    "--from",
    FROM,
    "--to",
    TO,
    "--for",
    `auditor/${READER}`,
    "--out",
    archiveFile,
    // The demo's node is serving this log: a read-only archive beside it (what a regulator is handed;
    // not one retention counts, which needs the node stopped).
    "--no-record",
  ]);
  if (made.status !== 0) throw new Error(`custos archive failed:\n${made.stdout}${made.stderr}`);
  logKey = (JSON.parse(readFileSync(bundle(READER), "utf8")) as { log: { verifierKey: string } }).log
    .verifierKey;
  witnessKeys = ["acme-audit", "northwind-assurance"].map(
    (company) =>
      (
        JSON.parse(
          custos(["witness", "show", "--data", join(dir, `${company}-witness`), "--json"]).stdout,
        ) as { verifierKey: string }
      ).verifierKey,
  );
  // One byte of the body changed (framing intact: the body is length-delimited).
  const bytes = readFileSync(archiveFile);
  const bodyStart = bytes.indexOf(0x0a, bytes.indexOf(0x0a) + 1) + 1;
  const at = bodyStart + Math.floor((bytes.length - bodyStart) / 2);
  bytes[at] = bytes[at]! ^ 0x01;
  tamperedFile = join(dir, "tampered.custos-archive");
  writeFileSync(tamperedFile, bytes);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: chromiumArgs(demo.fingerprint),
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stopProcesses(processes);
  await temp.cleanup();
});

interface Requested {
  method: string;
  path: string;
}

/** Opens `file` in a fresh page with the reader's bundle; returns the page and every request it made. */
async function openArchive(file: string, who = READER): Promise<{ page: Page; requests: Requested[] }> {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    timezoneId: "America/New_York",
    locale: "en-GB",
  });
  const page = await context.newPage();
  const requests: Requested[] = [];
  page.on("request", (request) => {
    requests.push({ method: request.method(), path: new URL(request.url()).pathname });
  });
  await page.goto(demo.portal);
  await page.getByTestId("open-archive").click();
  await page.getByTestId("archive-open-heading").waitFor();
  await page.getByLabel("Archive file").setInputFiles(file);
  await page.getByLabel("Your identity bundle file").setInputFiles(bundle(who));
  await page.getByLabel("Passphrase").fill(PASSPHRASE);
  await page.getByTestId("open-archive-button").click();
  await page.locator('[data-testid="verification-status"]').waitFor({ timeout: 60_000 });
  return { page, requests };
}

/** Nothing but the page, its files and its open settings were fetched: the archive never left it. */
function expectNothingSent(requests: readonly Requested[]): void {
  expect(requests.length).toBeGreaterThan(0);
  for (const r of requests) {
    expect(r.method).toBe("GET");
    expect(r.path).toMatch(/^\/(assets\/[\w.-]+|portal\/config\.json|favicon\.ico)?$/);
  }
}

describe("the portal opens an archive", () => {
  it("shows, verified in the page, exactly the records custos read --archive opens with the same bundle", async () => {
    const verified = custos([
      "verify-archive",
      archiveFile,
      "--log-key",
      logKey,
      "--witness-key",
      ...witnessKeys,
      "--json",
    ]);
    expect(verified.status).toBe(0);
    const summary = (JSON.parse(verified.stdout) as { summary: { records: number; size: number } }).summary;
    const read = custos([
      "read",
      "--archive",
      archiveFile,
      "--log-key",
      logKey,
      "--as",
      bundle(READER),
      "--json",
    ]);
    expect(read.stderr).toBe("");
    const cli = (
      JSON.parse(read.stdout) as {
        records: { index: number; patientId: string; userId: string; action: string; time: string }[];
      }
    ).records;
    // The re-wrapped keys let the audit company open every record of the range, not only its patients'.
    expect(cli.length).toBe(summary.records);
    expect(new Set(cli.map((r) => r.patientId)).size).toBeGreaterThan(3);

    const { page, requests } = await openArchive(archiveFile);
    const status = page.getByTestId("verification-status");
    await expect.poll(() => status.getAttribute("data-state")).toBe("ok");
    expect(await status.getAttribute("data-size")).toBe(String(summary.size));
    expect(await status.textContent()).toContain(
      `This archive is authentic and unaltered: signed with the log's key from your identity bundle, confirmed by ${SETTINGS.witnesses["acme-audit"]} and ${SETTINGS.witnesses["northwind-assurance"]}.`,
    );
    const checks = page.getByTestId("archive-checks");
    for (const check of ["signature", "checkpoints", "cosignatures", "inclusion", "contents", "range"])
      expect(await checks.locator(`li[data-check="${check}"]`).getAttribute("data-checked")).toBe("true");
    expect(await checks.locator('li[data-check="inclusion"]').textContent()).toContain(
      `${summary.records} access records`,
    );
    expect(await checks.locator('li[data-check="limits"]').textContent()).toMatch(/left out/);
    expect(await page.getByTestId("signed-in-as").textContent()).toMatch(/Reading an archive as acme-audit/);

    await page.screenshot({ path: join(ROOT, "test-artifacts/portal/archive-desktop.png"), fullPage: false });
    const table = page.getByTestId("access-table");
    expect(await table.getAttribute("data-rows")).toBe(String(cli.length));
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("export-json").click(),
    ]);
    const exported = JSON.parse(readFileSync(await download.path(), "utf8")) as {
      accesses: { logIndex: number; patientId: string; userId: string; action: string; time: string }[];
    };
    const key = (r: { patientId: string; userId: string; action: string; time: string }) =>
      `${r.patientId} ${r.userId} ${r.action} ${r.time}`;
    expect(new Map(exported.accesses.map((r) => [r.logIndex, key(r)]))).toEqual(
      new Map(cli.map((r) => [r.index, key(r)])),
    );
    expectNothingSent(requests);
    await page.getByTestId("close-archive").click();
    await page.getByTestId("sign-in-heading").waitFor();
    await page.context().close();
  }, 180_000);

  it("refuses the archive with one byte changed, naming the failed check, and shows nothing as verified", async () => {
    const cli = custos(["verify-archive", tamperedFile, "--log-key", logKey, "--json"]);
    expect(cli.status).toBe(1);
    expect(cli.stdout).toContain("ARCHIVE_SIGNATURE");

    const { page, requests } = await openArchive(tamperedFile);
    const status = page.getByTestId("verification-status");
    expect(await status.getAttribute("data-state")).toBe("tampered");
    expect(await status.getAttribute("class")).not.toMatch(/\bok\b/);
    const problem = page.getByTestId("verification-problem").locator('li[data-code="ARCHIVE_SIGNATURE"]');
    expect(await problem.textContent()).toMatch(
      /The archive's signature by the log does not match the file: The archive was altered after it was signed/,
    );
    expect(await page.getByTestId("tamper-notice").isVisible()).toBe(true);
    expect(await page.getByTestId("tamper-reference").textContent()).toMatch(
      /^Archive SHA-256 [0-9a-f]{16}…/,
    );
    expect(await page.getByTestId("tamper-not-shown").textContent()).toContain("tampered.custos-archive");
    expect(await page.getByTestId("access-table").count()).toBe(0);
    expect(await page.getByTestId("archive-checks").count()).toBe(0);
    expect(await page.locator(".verification-status.ok").count()).toBe(0);
    await page.screenshot({
      path: join(ROOT, "test-artifacts/portal/archive-tampered.png"),
      fullPage: false,
    });
    expectNothingSent(requests);
    await page.context().close();
  }, 120_000);
});
