// The portal in real browsers: Debian's Chromium (playwright-core) and Firefox ESR (puppeteer-core)
// against a real `custos serve` and both audit companies' `custos witness serve`, on the demo's data
// (with the operator's refused fork and the attacker's edit of one of Alice's records). What a
// patient and an audit company see is compared with what the CLI, reading the same node over mutual
// TLS, returns. Screenshots of each view land in test-artifacts/portal/.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import puppeteer, { type Browser as FirefoxBrowser, type Page as FirefoxPage } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/deployment.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin/custos.js");
const CHROMIUM = process.env.CUSTOS_CHROMIUM ?? "/usr/bin/chromium";
const FIREFOX = process.env.CUSTOS_FIREFOX ?? "/usr/bin/firefox-esr";
const ARTIFACTS = join(ROOT, "test-artifacts/portal");
const AXE = join(ROOT, "node_modules/axe-core/axe.min.js");
const PASSPHRASE = "demo passphrase, not for real use";

interface Demo {
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
async function startDemo(dir: string): Promise<Demo> {
  const story = spawnSync(process.execPath, [BIN, "demo", "--dir", dir, "--records", "400"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  if (story.status !== 0) throw new Error(`the demo failed:\n${story.stdout}${story.stderr}`);
  const victim = /ciphertext of entry (\d+) changed/.exec(story.stdout)?.[1];
  if (!victim) throw new Error(`unexpected demo output:\n${story.stdout}`);
  const processes: ChildProcess[] = [];
  const masterKey = ["--master-key-file", join(dir, "master.key")];
  const witnessFlags: string[] = [];
  for (const company of ["acme-audit", "northwind-assurance"]) {
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
  }
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
function cliQuery(demo: Demo, who: string): { index: number; patientId: string; time: string }[] {
  const result = spawnSync(
    process.execPath,
    [BIN, "query", "--server", demo.api, "--as", join(demo.dir, `${who}.custos-id`), "--json"],
    { env: { ...process.env, CUSTOS_BUNDLE_PASSPHRASE: PASSPHRASE }, encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`custos query failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { records: { index: number; patientId: string; time: string }[] })
    .records;
}

let demo: Demo;
let browser: Browser;
let firefox: FirefoxBrowser;
const temp = tempDir("custos-portal-e2e-");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Debian's Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CUSTOS_CHROMIUM)`,
    );
  }
  if (!existsSync(FIREFOX)) {
    throw new Error(
      `the browser tests need Debian's Firefox ESR at ${FIREFOX}: apt-get install -y firefox-esr (or set CUSTOS_FIREFOX)`,
    );
  }
  if (!existsSync(join(ROOT, "dist/portal/index.html")))
    throw new Error("the portal is not built: run npm run build first");
  mkdirSync(ARTIFACTS, { recursive: true });
  demo = await startDemo(join(temp.dir, "demo"));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Trust exactly the portal's self-signed certificate, by the fingerprint the demo printed.
      `--ignore-certificate-errors-spki-list=${demo.fingerprint}`,
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await firefox?.close();
  for (const child of demo?.processes ?? []) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
  await temp.cleanup();
});

async function signIn(page: Page, who: string, passphrase = PASSPHRASE): Promise<void> {
  await page.goto(demo.portal);
  await page.getByLabel("Identity bundle file").setInputFiles(join(demo.dir, `${who}.custos-id`));
  await page.getByLabel("Passphrase").fill(passphrase);
  await page.getByTestId("sign-in-button").click();
}

async function exportedIndexes(
  page: Page,
): Promise<{ logIndex: number; patientId: string; userId: string }[]> {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("export-json").first().click(),
  ]);
  const path = await download.path();
  return (
    JSON.parse(readFileSync(path, "utf8")) as {
      accesses: { logIndex: number; patientId: string; userId: string }[];
    }
  ).accesses;
}

describe("the portal in Chromium", () => {
  it("shows a patient exactly their own accesses, decrypted and verified against the witnessed log", async () => {
    const expected = cliQuery(demo, "MRN1002");
    expect(expected.length).toBeGreaterThan(10);
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    await signIn(page, "MRN1002");
    await expect
      .poll(() => page.getByTestId("patient-view-heading").isVisible(), { timeout: 60_000 })
      .toBe(true);
    const status = page.getByTestId("verification-status");
    await expect.poll(async () => (await status.textContent()) ?? "", { timeout: 60_000 }).toMatch(/2 of 2/);
    expect(await page.getByTestId("verification-problem").count()).toBe(0);
    // The first page of the timeline is the newest entries, with the log index of each.
    const shown = await page
      .getByTestId("access-table")
      .locator("[data-index]")
      .evaluateAll((rows) => rows.map((row) => Number((row as HTMLElement).dataset.index)));
    expect(shown.length).toBeGreaterThan(0);
    // Newest first: the page's rows are the CLI's newest ones (equal times may tie in either order).
    const time = new Map(expected.map((r) => [r.index, Date.parse(r.time)]));
    const times = shown.map((index) => time.get(index));
    expect(times.every((t) => t !== undefined)).toBe(true);
    expect(times).toEqual([...times].sort((a, b) => b! - a!));
    expect(Math.min(...(times as number[]))).toBeGreaterThanOrEqual(
      time.get(expected[shown.length - 1]!.index)!,
    );
    // Everything shown, exported, is exactly what the CLI reads: the same entries, all Bogdan's.
    const exported = await exportedIndexes(page);
    expect(exported.map((r) => r.logIndex).sort((a, b) => a - b)).toEqual(
      expected.map((r) => r.index).sort((a, b) => a - b),
    );
    expect(new Set(exported.map((r) => r.patientId))).toEqual(new Set(["MRN1002"]));
    // "Who looked at my trail": the patient's own reads (the CLI's above, this sign-in) are one line,
    // "You viewed your trail N times"; the table above it holds only others' reads and refusals.
    const own = page.getByTestId("own-reads");
    await expect.poll(() => own.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(Number(await own.getAttribute("data-count"))).toBeGreaterThanOrEqual(1);
    expect(await own.locator("summary").textContent()).toMatch(
      /^You viewed your trail [\d,]+ times?, most recently on /,
    );
    const othersReads = await page
      .getByTestId("query-history-table")
      .locator('[data-kind="query"]')
      .allTextContents();
    expect(othersReads.filter((row) => row.includes("patient/MRN1002"))).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "patient.png"), fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.screenshot({ path: join(ARTIFACTS, "patient-phone.png"), fullPage: true });
    await context.close();
  });

  it("shows an audit company only its granted patients, with its summaries", async () => {
    const expected = cliQuery(demo, "northwind-assurance");
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    await signIn(page, "northwind-assurance");
    await expect
      .poll(() => page.getByTestId("auditor-view-heading").isVisible(), { timeout: 60_000 })
      .toBe(true);
    await expect
      .poll(async () => (await page.getByTestId("verification-status").textContent()) ?? "", {
        timeout: 60_000,
      })
      .toMatch(/2 of 2/);
    const exported = await exportedIndexes(page);
    expect(new Set(exported.map((r) => r.patientId))).toEqual(new Set(["MRN1003", "MRN1004", "MRN1005"]));
    expect(exported.map((r) => r.logIndex).sort((a, b) => a - b)).toEqual(
      expected.map((r) => r.index).sort((a, b) => a - b),
    );
    const patients = (await page.getByTestId("patients-table").textContent()) ?? "";
    for (const granted of ["MRN1003", "MRN1004", "MRN1005"]) expect(patients).toContain(granted);
    for (const other of ["MRN1001", "MRN1002"]) expect(patients).not.toContain(other);
    expect(await page.getByTestId("summaries").isVisible()).toBe(true);
    // The operator's fork in the demo, found by the node's gossip with the witnesses: the alert and
    // both notes, each checked in the page to carry the log's own signature.
    const alert = page.getByTestId("alert").first();
    await expect.poll(() => alert.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await alert.getByTestId("alert-evidence").count()).toBe(2);
    expect(await alert.getByTestId("evidence-signed").count()).toBe(2);
    expect(await page.getByTestId("fork-alert-warning").isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "auditor.png"), fullPage: true });
    await context.close();
  });

  it("shows an audit company the patients that verify and names, in red, the edited entry of the one that does not", async () => {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    await signIn(page, "acme-audit");
    const problem = page.getByTestId("verification-problem");
    await expect.poll(() => problem.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await problem.textContent()).toContain(`entry ${demo.victim}`);
    await expect
      .poll(async () => Number((await page.getByTestId("access-table").getAttribute("data-rows")) ?? 0), {
        timeout: 60_000,
      })
      .toBeGreaterThan(0);
    // Bogdan's and Chiara's accesses are shown; nothing of Alice's, whose trail holds the edited entry.
    const exported = await exportedIndexes(page);
    expect(new Set(exported.map((r) => r.patientId))).toEqual(new Set(["MRN1002", "MRN1003"]));
    const alice = page.getByTestId("patients-table").locator('[data-error="true"]');
    expect(await alice.count()).toBe(1);
    // The node names granted patients by their blind tag only; Alice's row names the failed entry.
    expect(await alice.textContent()).toContain(`entry ${demo.victim}`);
    await page.screenshot({ path: join(ARTIFACTS, "auditor-tampered.png"), fullPage: true });
    await context.close();
  });

  it("refuses a wrong passphrase with a clear message, and nothing is signed in", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, "MRN1002", "not the passphrase");
    const error = page.getByTestId("sign-in-error");
    await expect.poll(() => error.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await error.getAttribute("data-code")).toBe("WRONG_PASSPHRASE");
    expect((await error.textContent())?.toLowerCase()).toContain("passphrase");
    expect(await page.getByTestId("signed-in-as").count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "wrong-passphrase.png"), fullPage: true });
    await context.close();
  });

  it("shows a red warning naming the entry an attacker edited in the store", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, "MRN1001");
    const problem = page.getByTestId("verification-problem");
    await expect.poll(() => problem.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await problem.textContent()).toContain(`entry ${demo.victim}`);
    await page.screenshot({ path: join(ARTIFACTS, "tampered.png"), fullPage: true });
    await context.close();
  });
});

// Firefox through WebDriver BiDi (puppeteer-core driving Debian's firefox-esr, nothing downloaded).
// Firefox has no switch to trust one certificate by fingerprint, so this profile accepts the demo's
// self-signed one; the Chromium tests above pin it.
async function firefoxSignIn(who: string): Promise<FirefoxPage> {
  firefox ??= await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    acceptInsecureCerts: true,
    extraPrefsFirefox: {
      "app.update.enabled": false,
      "network.captive-portal-service.enabled": false,
      "browser.safebrowsing.malware.enabled": false,
      "browser.safebrowsing.phishing.enabled": false,
    },
  });
  const page = await firefox.newPage();
  await page.goto(demo.portal);
  const input = await page.waitForSelector("#bundle-file");
  await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(
    join(demo.dir, `${who}.custos-id`),
  );
  await page.type("#passphrase", PASSPHRASE);
  await page.click('[data-testid="sign-in-button"]');
  return page;
}

describe("the portal in Firefox", () => {
  it("shows a patient exactly their own accesses, decrypted and verified against the witnessed log", async () => {
    const expected = cliQuery(demo, "MRN1002");
    const page = await firefoxSignIn("MRN1002");
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="access-table"]')?.getAttribute("data-rows") === String(n),
      { timeout: 60_000 },
      expected.length,
    );
    const status = await page.$eval('[data-testid="verification-status"]', (e) => e.textContent ?? "");
    expect(status).toMatch(/2 of 2/);
    expect(await page.$('[data-testid="verification-problem"]')).toBeNull();
    const shown = await page.$$eval('[data-testid="access-table"] [data-index]', (rows) =>
      rows.map((row) => Number((row as HTMLElement).dataset.index)),
    );
    const readable = new Set(expected.map((r) => r.index));
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.every((index) => readable.has(index))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "firefox-patient.png"), fullPage: true });
    await page.close();
  });

  it("shows the red warning naming the entry an attacker edited", async () => {
    const page = await firefoxSignIn("MRN1001");
    const problem = await page.waitForSelector('[data-testid="verification-problem"]', { timeout: 60_000 });
    expect(await problem!.evaluate((e) => e.textContent)).toContain(`entry ${demo.victim}`);
    await page.screenshot({ path: join(ARTIFACTS, "firefox-tampered.png"), fullPage: true });
    await page.close();
  });
});

// Accessibility, checked by axe-core (WCAG 2.x A and AA rules, contrast included) on every view, and
// the sign-in and the pager used with the keyboard alone. The context bypasses the page's CSP only
// so that the checker's own script can be injected.
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as { axe: { run: (context: unknown, options: unknown) => Promise<unknown> } }
    ).axe;
    return (await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    })) as { violations: { id: string; impact: string; nodes: { target: string[] }[] }[] };
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe("the portal's accessibility", () => {
  it("has no serious or critical WCAG A/AA violations on the sign-in, patient and audit views", async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(demo.portal);
    await page.getByTestId("sign-in-heading").waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel("Identity bundle file").setInputFiles(join(demo.dir, "MRN1002.custos-id"));
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByTestId("sign-in-button").click();
    await page.getByTestId("access-table").waitFor({ timeout: 60_000 });
    expect(await axeViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await axeViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByTestId("sign-out").click();
    await page
      .getByLabel("Identity bundle file")
      .setInputFiles(join(demo.dir, "northwind-assurance.custos-id"));
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByTestId("sign-in-button").click();
    await page.getByTestId("access-table").waitFor({ timeout: 60_000 });
    await page.getByTestId("summaries").waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await context.close();
  });

  it("signs in and pages through the timeline with the keyboard alone", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(demo.portal);
    await page.getByLabel("Identity bundle file").setInputFiles(join(demo.dir, "MRN1002.custos-id"));
    await page.getByLabel("Passphrase").focus();
    await page.keyboard.type(PASSPHRASE);
    await page.keyboard.press("Enter");
    const position = page.getByTestId("pager-position").first();
    await position.waitFor({ timeout: 60_000 });
    const first = await position.textContent();
    // Tab to the timeline's Next page button, then press it with the keyboard.
    const next = page.getByRole("button", { name: "Next page" }).first();
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await next.evaluate((button) => button === document.activeElement);
    }
    expect(reached).toBe(true);
    await page.keyboard.press("Enter");
    await expect.poll(() => position.textContent()).not.toBe(first);
    await context.close();
  });
});
