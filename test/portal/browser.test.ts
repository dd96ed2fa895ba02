// The portal in real browsers: Debian's Chromium (playwright-core) and Firefox ESR (puppeteer-core)
// against a real `custos serve` and both audit companies' `custos witness serve`, on the demo's data
// (with the operator's refused fork and the attacker's edit of one of Alice's records), with the
// deployment's settings from `custos portal config` (portal-demo.ts). What a patient and an audit
// company see is compared with what the CLI, reading the same node over mutual TLS, returns; days are
// counted in the deployment's zone while the browsers run in another. Screenshots land in
// test-artifacts/portal/.

import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import puppeteer, { type Browser as FirefoxBrowser, type Page as FirefoxPage } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";
import {
  ARTIFACTS,
  AXE,
  CHROMIUM,
  chromiumArgs,
  cliQuery,
  type Demo,
  FIREFOX,
  PASSPHRASE,
  ROOT,
  SETTINGS,
  startDemo,
  stopProcesses,
} from "./portal-demo.js";

/** The browsers' own zone: far from the deployment's, so a day counted in the wrong zone shows. */
const BROWSER_ZONE = "America/New_York";
const CONFIRMED = `This list is complete and unaltered, confirmed by ${SETTINGS.witnesses["acme-audit"]} and ${SETTINGS.witnesses["northwind-assurance"]}.`;
const RAW_CODES = /\b(TREAT|ETREAT|HPAYMT|HRESCH|HOPERAT|TAMPERED_ENTRY|BAD_PROOF)\b|#\d+/;

let demo: Demo;
const processes: ChildProcess[] = [];
let browser: Browser;
let firefox: FirefoxBrowser;
const temp = tempDir("custos-portal-e2e-");

beforeAll(async () => {
  for (const [path, pkg] of [
    [CHROMIUM, "chromium"],
    [FIREFOX, "firefox-esr"],
  ] as const) {
    if (!existsSync(path))
      throw new Error(`the browser tests need Debian's ${pkg} at ${path}: apt-get install -y ${pkg}`);
  }
  if (!existsSync(join(ROOT, "dist/portal/index.html")))
    throw new Error("the portal is not built: run npm run build first");
  mkdirSync(ARTIFACTS, { recursive: true });
  demo = await startDemo(join(temp.dir, "demo"), processes);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: chromiumArgs(demo.fingerprint),
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await firefox?.close();
  await stopProcesses(processes);
  await temp.cleanup();
});

function newContext(options: Parameters<Browser["newContext"]>[0] = {}): Promise<BrowserContext> {
  return browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    timezoneId: BROWSER_ZONE,
    locale: "en-GB",
    ...options,
  });
}

async function signIn(page: Page, who: string, passphrase = PASSPHRASE): Promise<void> {
  await page.goto(demo.portal);
  await page.getByLabel("Identity bundle file").setInputFiles(join(demo.dir, `${who}.custos-id`));
  await page.getByLabel("Passphrase").fill(passphrase);
  await page.getByTestId("sign-in-button").click();
}

interface Exported {
  logIndex: number;
  patientId: string;
  userId: string;
  userName?: string;
  userRole?: string;
  department?: string;
}

async function exportedRows(page: Page): Promise<Exported[]> {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("export-json").first().click(),
  ]);
  return (
    JSON.parse(readFileSync(await download.path(), "utf8")) as {
      accesses: Exported[];
    }
  ).accesses;
}

/** A calendar day in the deployment's zone, computed here independently of the page's code. */
const dayIn = (time: string | number) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: SETTINGS.timeZone }).format(new Date(time));

/** Accesses per day in the deployment's zone, from the CLI's records: what the chart must draw. */
function countsPerDay(records: readonly { time: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(dayIn(r.time), (counts.get(dayIn(r.time)) ?? 0) + 1);
  return counts;
}

/** Whole days from the first record's day to the last's, inclusive, in the deployment's zone. */
function daySpan(records: readonly { time: string }[]): number {
  const days = [...countsPerDay(records).keys()].sort();
  return Math.round((Date.parse(days[days.length - 1]!) - Date.parse(days[0]!)) / 86_400_000) + 1;
}

/** The chart's numbers table, read from the page: day (in the deployment's zone) -> total. */
const CHART_TABLE = `(() => [...document.querySelectorAll('[data-testid="access-chart"] tr[data-start]')].map((tr) => [tr.getAttribute("data-start"), Number(tr.getAttribute("data-total"))]))()`;

function chartDays(rows: [string, number][]): Map<string, number> {
  return new Map(rows.map(([start, total]) => [dayIn(start), total]));
}

/** The zone's short name as the page writes it for en-GB (e.g. "GMT+13" for Auckland in December). */
function zoneName(time: string): string {
  return (
    new Intl.DateTimeFormat("en-GB", { timeZone: SETTINGS.timeZone, timeZoneName: "short" })
      .formatToParts(new Date(time))
      .find((p) => p.type === "timeZoneName")?.value ?? ""
  );
}

describe("the portal in Chromium", () => {
  it("shows a patient their accesses in plain words, days and times in the deployment's zone, and their own reads collapsed", async () => {
    const expected = cliQuery(demo, "MRN1002");
    expect(expected.length).toBeGreaterThan(10);
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, "MRN1002");
    await expect
      .poll(() => page.getByTestId("patient-view-heading").isVisible(), { timeout: 60_000 })
      .toBe(true);
    const status = page.getByTestId("verification-status");
    await expect
      .poll(async () => (await status.textContent()) ?? "", { timeout: 60_000 })
      .toContain(CONFIRMED);
    expect(await status.getAttribute("data-state")).toBe("ok");
    expect(await page.getByTestId("verification-problem").count()).toBe(0);
    expect(await page.getByTestId("hospital-name").textContent()).toBe(SETTINGS.hospital);
    // The technical details (checkpoint, quorum, the signed note) on request only.
    await status.getByRole("button", { name: "Technical details" }).click();
    expect(await page.getByTestId("verification-details").textContent()).toMatch(
      /cosigned by 2 of 2 witnesses/,
    );

    const table = page.getByTestId("access-table");
    await expect
      .poll(() => table.getAttribute("data-rows"), { timeout: 60_000 })
      .toBe(String(expected.length));
    const shown = await table
      .locator("[data-index]")
      .evaluateAll((rows) => rows.map((row) => Number((row as HTMLElement).dataset.index)));
    const time = new Map(expected.map((r) => [r.index, r.time]));
    // Newest first; every time written with the deployment's zone.
    const times = shown.map((index) => Date.parse(time.get(index)!));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const firstTime = (await table.locator("tbody tr").first().locator("time").textContent()) ?? "";
    expect(firstTime.endsWith(zoneName(time.get(shown[0]!)!))).toBe(true);
    // Plain words: what was done and why, no codes or entry numbers outside the details.
    const visible = await table.evaluate((t) => (t as HTMLElement).innerText);
    expect(visible).not.toMatch(RAW_CODES);
    expect(visible).toMatch(/Viewed your record|Changed your record|Added to your record/);
    const purposes = await table
      .getByTestId("access-purpose")
      .evaluateAll((els) => els.map((e) => [e.getAttribute("data-purpose-kind"), e.textContent ?? ""]));
    expect(purposes.length).toBeGreaterThan(0);
    for (const [kind, text] of purposes) {
      if (kind === "research") expect(text).toMatch(/^Research/);
      if (kind === "payment") expect(text).toMatch(/^Payment/);
      expect(text).toMatch(/for /);
    }
    // The codes are in each row's details.
    const details = table.locator("tbody tr").first().locator("details");
    await details.locator("summary").click();
    expect(await details.textContent()).toContain(`#${shown[0]}`);

    // The chart: one bar per calendar day in the deployment's zone (not the browser's), today's too.
    const chart = page.getByTestId("access-chart");
    expect(await chart.getAttribute("data-unit")).toBe("day");
    expect(await chart.getAttribute("data-zone")).toBe(SETTINGS.timeZone);
    expect(Number(await chart.getAttribute("data-buckets"))).toBe(daySpan(expected));
    expect(chartDays(await page.evaluate<[string, number][]>(CHART_TABLE))).toEqual(countsPerDay(expected));

    // Loose search: part of a user ID, in another case, finds that user's accesses.
    const exported = await exportedRows(page);
    expect(exported.map((r) => r.logIndex).sort((a, b) => a - b)).toEqual(
      expected.map((r) => r.index).sort((a, b) => a - b),
    );
    // Names: each row on screen names the professional, their role and department where the record
    // does (the demo's EHR names all but radiology.ito), the user ID otherwise.
    const byIndex = new Map(exported.map((r) => [r.logIndex, r]));
    const whos = await table
      .locator("tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [
          Number((tr as HTMLElement).dataset.index),
          (tr.querySelector('[data-testid="access-who"]') as HTMLElement).innerText,
        ]),
      );
    expect(whos.length).toBeGreaterThan(0);
    for (const [index, who] of whos as [number, string][]) {
      const record = byIndex.get(index)!;
      if (record.userName) {
        expect(who).toContain(record.userName);
        expect(who).toContain(`${record.userRole}, ${record.department}`);
      } else expect(who).toBe(record.userId);
    }
    expect(exported.some((r) => r.userName === "Dr Ngozi Okafor")).toBe(true);
    // Loose search: part of a name, in another case, finds that person's accesses (by name or ID).
    await page.getByLabel("Search names and IDs").fill("OKAFOR");
    const matching = exported.filter((r) =>
      `${r.userId} ${r.userName ?? ""}`.toLowerCase().includes("okafor"),
    ).length;
    expect(matching).toBeGreaterThan(0);
    await expect.poll(() => table.getAttribute("data-rows")).toBe(String(matching));
    await page.getByRole("button", { name: "Clear filters" }).click();

    // "Who looked at my trail": the patient's own reads are one line; the table holds only others'.
    const own = page.getByTestId("own-reads");
    await expect.poll(() => own.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(Number(await own.getAttribute("data-count"))).toBeGreaterThanOrEqual(1);
    expect(await own.locator(":scope > summary").textContent()).toMatch(
      /^You viewed your trail [\d,]+ times?, most recently on /,
    );
    const othersReads = await page
      .getByTestId("query-history-table")
      .locator('[data-kind="query"]')
      .allTextContents();
    expect(othersReads.filter((row) => row.includes("You"))).toEqual([]);
    // The page's counts agree: the at-a-glance line counts what the table holds.
    expect(await page.getByTestId("at-a-glance").textContent()).toContain(`${expected.length} accesses`);
    await page.screenshot({ path: join(ARTIFACTS, "patient.png"), fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.screenshot({ path: join(ARTIFACTS, "patient-phone.png"), fullPage: true });
    await context.close();
  });

  it("opens an audit company's dashboard on its summaries, in one state, and takes a note with an acknowledgement", async () => {
    const expected = cliQuery(demo, "northwind-assurance");
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, "northwind-assurance");
    await expect
      .poll(() => page.getByTestId("auditor-view-heading").isVisible(), { timeout: 60_000 })
      .toBe(true);
    const alert = page.getByTestId("alert").first();
    await expect.poll(() => alert.isVisible(), { timeout: 60_000 }).toBe(true);
    // The open fork alert makes the one state "forked": never a green mark beside the red warning.
    const status = page.getByTestId("verification-status");
    await expect.poll(() => status.getAttribute("data-state"), { timeout: 60_000 }).toBe("forked");
    expect(await page.locator(".verification-status.ok").count()).toBe(0);
    expect(await page.getByTestId("fork-alert-warning").isVisible()).toBe(true);
    // Summaries come first, before the table of all accesses.
    const headings = await page.locator("main h2").allTextContents();
    expect(headings.indexOf("Summaries")).toBe(0);
    expect(headings.indexOf("Summaries")).toBeLessThan(headings.indexOf("All accesses"));
    await page.getByTestId("summaries").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("working-hours").textContent()).toContain(
      `Monday to Friday, 08:00 to 18:00 (${SETTINGS.timeZone} time)`,
    );
    const exported = await exportedRows(page);
    expect(new Set(exported.map((r) => r.patientId))).toEqual(new Set(["MRN1003", "MRN1004", "MRN1005"]));
    expect(exported.map((r) => r.logIndex).sort((a, b) => a - b)).toEqual(
      expected.map((r) => r.index).sort((a, b) => a - b),
    );
    // The demo's refused request (acme-audit asking for Dawit Bekele, MRN1004) names its patient: the
    // refusal is filed under the tag of MRN1004's trail, whose verified records name him.
    const refusal = page.getByTestId("refusals-table").locator('tr[data-kind="refusal"]').first();
    await expect.poll(() => refusal.getAttribute("data-patient"), { timeout: 60_000 }).toBe("MRN1004");
    expect(await refusal.textContent()).toContain("acme-audit");
    // The alert's evidence, checked in the page, and witnesses named by their organisation.
    expect(await alert.getByTestId("evidence-signed").count()).toBe(2);
    // An acknowledgement takes a note.
    const id = await alert.getAttribute("data-alert-id");
    await alert.getByRole("button", { name: `Acknowledge alert ${id}` }).click();
    expect(await alert.getByRole("alert").textContent()).toContain("Write a note first");
    await alert.getByLabel(/^Note/).fill("Compared both checkpoints with Acme; reported to the hospital.");
    await alert.getByRole("button", { name: `Acknowledge alert ${id}` }).click();
    await expect.poll(() => page.getByTestId("fork-alert-warning").count(), { timeout: 30_000 }).toBe(0);
    await page.getByLabel("Show acknowledged alerts too").check();
    await expect
      .poll(async () => (await page.getByTestId("ack-note").first().textContent()) ?? "", { timeout: 30_000 })
      .toContain("reported to the hospital");
    await page.screenshot({ path: join(ARTIFACTS, "auditor.png"), fullPage: true });
    await context.close();
  });

  it("names an audit company's tampered patient from its own patient list and says what is still shown", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, "acme-audit");
    const notice = page.getByTestId("tamper-notice");
    await expect.poll(() => notice.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await page.getByTestId("tamper-reference").textContent()).toContain(`Entry ${demo.victim}`);
    const list = join(temp.dir, "acme-patients.csv");
    writeFileSync(
      list,
      "patient id,name\nMRN1001,Alice Martin\nMRN1002,Bogdan Petrov\nMRN1003,Chiara Rossi\n",
    );
    await page.getByTestId("patient-list-file").setInputFiles(list);
    const alice = page.getByTestId("patients-table").locator('[data-patient="MRN1001"]');
    await expect.poll(() => alice.getAttribute("data-error"), { timeout: 60_000 }).toBe("true");
    expect(await alice.textContent()).toContain("Alice Martin");
    expect(await alice.textContent()).toContain(`entry ${demo.victim}`);
    await expect
      .poll(async () => (await page.getByTestId("tamper-not-shown").textContent()) ?? "", { timeout: 30_000 })
      .toContain("Alice Martin (MRN1001)");
    const exported = await exportedRows(page);
    expect(new Set(exported.map((r) => r.patientId))).toEqual(new Set(["MRN1002", "MRN1003"]));
    await page.screenshot({ path: join(ARTIFACTS, "auditor-tampered.png"), fullPage: true });
    await context.close();
  });

  it("names the hospital on sign-in, says what to do with a lost file, and refuses a wrong passphrase clearly", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(demo.portal);
    await expect
      .poll(async () => (await page.getByTestId("sign-in-heading").textContent()) ?? "")
      .toContain(SETTINGS.hospital);
    await page.getByText("Lost your file or forgot the passphrase?").click();
    expect(await page.getByTestId("sign-in-contact").textContent()).toContain(SETTINGS.privacyEmail);
    await signIn(page, "MRN1002", "not the passphrase");
    const error = page.getByTestId("sign-in-error");
    await expect.poll(() => error.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await error.getAttribute("data-code")).toBe("BAD_PASSPHRASE");
    expect((await error.textContent())?.toLowerCase()).toContain("passphrase");
    expect(await page.getByTestId("signed-in-as").count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "wrong-passphrase.png"), fullPage: true });
    await context.close();
  });

  it("tells a patient whose trail was tampered with what it means, whom to contact and what to quote, without a retry", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, "MRN1001");
    const notice = page.getByTestId("tamper-notice");
    await expect.poll(() => notice.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await page.getByTestId("verification-status").getAttribute("data-state")).toBe("tampered");
    expect(await page.locator(".verification-status.ok").count()).toBe(0);
    // The checkpoint joins the reference once a reply verified against one (the history's, here).
    await expect
      .poll(async () => (await page.getByTestId("tamper-reference").textContent()) ?? "", { timeout: 60_000 })
      .toMatch(new RegExp(`^Entry ${demo.victim}, checkpoint [\\d,]+ \\(`));
    expect(await page.getByTestId("privacy-contact").textContent()).toContain(SETTINGS.privacyEmail);
    expect(await page.getByRole("button", { name: "Try again" }).count()).toBe(0);
    // The internal code only in the (closed) technical details.
    expect(await notice.evaluate((n) => (n as HTMLElement).innerText)).not.toMatch(RAW_CODES);
    expect(await page.getByTestId("verification-problem").textContent()).toContain(`Entry ${demo.victim}`);
    // What can still be shown safely is: who read the trail, checked on its own.
    await expect.poll(() => page.getByTestId("own-reads").isVisible(), { timeout: 60_000 }).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "tampered.png"), fullPage: true });
    await context.close();
  });

  it("gives an administrator the alerts and the key audit, and the privacy office the key audit", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, "it-admin");
    await expect
      .poll(async () => (await page.getByTestId("office-view-heading").textContent()) ?? "", {
        timeout: 60_000,
      })
      .toBe("Alerts for administrators");
    await expect.poll(() => page.getByTestId("alert").first().isVisible(), { timeout: 60_000 }).toBe(true);
    await expect.poll(() => page.getByTestId("key-audit-table").isVisible(), { timeout: 60_000 }).toBe(true);
    await page.getByTestId("sign-out").click();
    await signIn(page, "privacy-office");
    await expect
      .poll(async () => (await page.getByTestId("office-view-heading").textContent()) ?? "", {
        timeout: 60_000,
      })
      .toBe("Privacy office");
    expect(await page.getByTestId("office-what").textContent()).toContain("custos.security-events");
    // The key audit: the demo's grants to each audit company, patients by tag only, one party's events.
    const keyAudit = page.getByTestId("key-audit-table");
    await expect.poll(() => keyAudit.isVisible(), { timeout: 60_000 }).toBe(true);
    const grants = await keyAudit.locator('tr[data-kind="grant"]').allInnerTexts();
    expect(grants.some((g) => g.includes("acme-audit (audit company)"))).toBe(true);
    expect(await keyAudit.innerText()).not.toMatch(/MRN\d+/);
    await page.getByLabel(/^Party/).fill("auditor/acme-audit");
    await page.getByRole("button", { name: "Show", exact: true }).click();
    await expect
      .poll(async () => (await page.getByTestId("key-audit-summary").textContent()) ?? "", {
        timeout: 60_000,
      })
      .toContain("concerning acme-audit (audit company)");
    const kinds = await keyAudit
      .locator("tbody tr")
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-kind")));
    expect(kinds).toContain("grant");
    expect(kinds).toContain("enrollment");
    await page.screenshot({ path: join(ARTIFACTS, "privacy-office.png"), fullPage: true });
    await context.close();
  });
});

// Firefox through WebDriver BiDi (puppeteer-core driving Debian's firefox-esr, nothing downloaded).
// Firefox has no switch to trust one certificate by fingerprint, so this profile accepts the demo's
// self-signed one; the Chromium tests above pin it. Its zone is set apart from the deployment's too.
async function firefoxSignIn(who: string): Promise<FirefoxPage> {
  firefox ??= await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    acceptInsecureCerts: true,
    env: { ...process.env, TZ: BROWSER_ZONE },
    extraPrefsFirefox: {
      "app.update.enabled": false,
      "network.captive-portal-service.enabled": false,
      "browser.safebrowsing.malware.enabled": false,
      "browser.safebrowsing.phishing.enabled": false,
      "intl.locale.requested": "en-GB",
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

const text = (page: FirefoxPage, testId: string) =>
  page.$eval(`[data-testid="${testId}"]`, (e) => (e as HTMLElement).innerText);

/** axe-core's serious and critical WCAG A/AA findings, its script evaluated in the page (CSP allows no injection). */
async function firefoxAxe(page: FirefoxPage): Promise<string[]> {
  await page.evaluate(readFileSync(AXE, "utf8"));
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<unknown> } }).axe;
    const result = (await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    })) as { violations: { id: string; impact: string; nodes: { target: string[] }[] }[] };
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  return violations;
}

describe("the portal in Firefox", () => {
  it("shows a patient their accesses in plain words and the deployment's days, own reads collapsed, with no accessibility violations", async () => {
    const expected = cliQuery(demo, "MRN1002");
    const page = await firefoxSignIn("MRN1002");
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="access-table"]')?.getAttribute("data-rows") === String(n),
      { timeout: 60_000 },
      expected.length,
    );
    await page.waitForSelector('[data-testid="verification-status"][data-state="ok"]', { timeout: 60_000 });
    expect(await text(page, "verification-status")).toContain(CONFIRMED);
    expect(await page.$('[data-testid="verification-problem"]')).toBeNull();
    expect(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone)).toBe(BROWSER_ZONE);
    const table = await text(page, "access-table");
    expect(table).not.toMatch(RAW_CODES);
    expect(table).toMatch(/Viewed your record|Changed your record|Added to your record/);
    const first = await page.$eval('[data-testid="access-table"] tbody tr', (tr) => ({
      time: tr.getAttribute("data-time") ?? "",
      shown: tr.querySelector("time")?.textContent ?? "",
    }));
    expect(first.shown.endsWith(zoneName(first.time))).toBe(true);
    expect(await page.$eval('[data-testid="access-chart"]', (c) => c.getAttribute("data-zone"))).toBe(
      SETTINGS.timeZone,
    );
    expect(chartDays(await (page.evaluate(CHART_TABLE) as Promise<[string, number][]>))).toEqual(
      countsPerDay(expected),
    );
    // Names in words, found by a loose search (part of a name, in another case): every row left is
    // Dr Okafor's, named with her role and department.
    await page.type('[data-testid="access-filters"] input[name="user"]', "OKAFOR");
    await page.waitForFunction(
      (total) => {
        const table = document.querySelector('[data-testid="access-table"]');
        const rows = [...(table?.querySelectorAll("tbody tr") ?? [])];
        return (
          Number(table?.getAttribute("data-rows")) < total &&
          rows.length > 0 &&
          rows.every((row) => {
            const who = row.querySelector('[data-testid="access-who"]');
            return (
              who?.textContent?.includes("Dr Ngozi Okafor") && who.querySelector(".who-role")?.textContent
            );
          })
        );
      },
      { timeout: 30_000 },
      expected.length,
    );
    await page.click('[data-testid="access-filters"] .actions button');
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="access-table"]')?.getAttribute("data-rows") === String(n),
      { timeout: 30_000 },
      expected.length,
    );
    await page.waitForSelector('[data-testid="own-reads"]', { timeout: 60_000 });
    expect(await page.$eval('[data-testid="own-reads"] > summary', (s) => s.textContent ?? "")).toMatch(
      /^You viewed your trail [\d,]+ times?/,
    );
    expect(await firefoxAxe(page)).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "firefox-patient.png"), fullPage: true });
    await page.close();
  });

  it("shows the tamper page with the contact and the reference, and no retry", async () => {
    const page = await firefoxSignIn("MRN1001");
    await page.waitForSelector('[data-testid="tamper-notice"]', { timeout: 60_000 });
    expect(await text(page, "tamper-reference")).toContain(`Entry ${demo.victim}`);
    expect(await text(page, "privacy-contact")).toContain(SETTINGS.privacyEmail);
    expect(await text(page, "tamper-notice")).not.toMatch(RAW_CODES);
    const buttons = await page.$$eval("button", (bs) => bs.map((b) => b.textContent ?? ""));
    expect(buttons).not.toContain("Try again");
    expect(await firefoxAxe(page)).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "firefox-tampered.png"), fullPage: true });
    await page.close();
  });

  it("opens an audit company's dashboard on its summaries in the deployment's hours, naming a refused request's patient", async () => {
    const page = await firefoxSignIn("northwind-assurance");
    await page.waitForSelector('[data-testid="summaries"]', { timeout: 60_000 });
    const headings = await page.$$eval("main h2", (hs) => hs.map((h) => h.textContent ?? ""));
    expect(headings[0]).toBe("Summaries");
    expect(await text(page, "working-hours")).toContain(
      `Monday to Friday, 08:00 to 18:00 (${SETTINGS.timeZone} time)`,
    );
    // One state: "forked" while a fork alert is open for this company (Chromium's test above may have
    // acknowledged it), and then no green mark beside the red warning.
    await page.waitForSelector('[data-testid="verification-status"]:not([data-state="pending"])', {
      timeout: 60_000,
    });
    const warned = (await page.$('[data-testid="fork-alert-warning"]')) !== null;
    expect(await page.$eval('[data-testid="verification-status"]', (s) => s.getAttribute("data-state"))).toBe(
      warned ? "forked" : "ok",
    );
    if (warned) expect(await page.$(".verification-status.ok")).toBeNull();
    const refusal = await page.waitForSelector(
      '[data-testid="refusals-table"] tr[data-kind="refusal"][data-patient="MRN1004"]',
      { timeout: 60_000 },
    );
    expect(await refusal!.evaluate((tr) => tr.textContent ?? "")).toContain("acme-audit");
    expect(await firefoxAxe(page)).toEqual([]);
    await page.close();
  });

  it("names an audit company's patients from its own list, the tampered one included", async () => {
    const page = await firefoxSignIn("acme-audit");
    await page.waitForSelector('[data-testid="patients-table"]', { timeout: 60_000 });
    const list = join(temp.dir, "acme-patients-firefox.csv");
    writeFileSync(list, "MRN1001,Alice Martin\nMRN1002,Bogdan Petrov\nMRN1003,Chiara Rossi\n");
    const input = await page.waitForSelector('[data-testid="patient-list-file"]');
    await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(list);
    await page.waitForSelector('[data-patient="MRN1001"][data-error="true"]', { timeout: 60_000 });
    expect(await page.$eval('[data-patient="MRN1001"]', (tr) => tr.textContent ?? "")).toContain(
      "Alice Martin",
    );
    expect(await firefoxAxe(page)).toEqual([]);
    await page.close();
  });

  it("gives the privacy office the key audit, patients by tag only", async () => {
    const page = await firefoxSignIn("privacy-office");
    await page.waitForSelector('[data-testid="key-audit-table"] tr[data-kind="grant"]', { timeout: 60_000 });
    const grants = await page.$$eval('[data-testid="key-audit-table"] tr[data-kind="grant"]', (trs) =>
      trs.map((tr) => (tr as HTMLElement).innerText),
    );
    expect(grants.some((g) => g.includes("northwind-assurance (audit company)"))).toBe(true);
    expect(await text(page, "key-audit-table")).not.toMatch(/MRN\d+/);
    expect(await firefoxAxe(page)).toEqual([]);
    await page.close();
  });
});

// Accessibility in Chromium, checked by axe-core (WCAG 2.x A and AA rules, contrast included) on every
// view, and the sign-in and the pager used with the keyboard alone. The context bypasses the page's CSP
// only so that the checker's own script can be injected.
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
  it("has no serious or critical WCAG A/AA violations on the sign-in, patient, tamper and audit views", async () => {
    const context = await newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.goto(demo.portal);
    await page.getByTestId("sign-in-heading").waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel("Identity bundle file").setInputFiles(join(demo.dir, "MRN1002.custos-id"));
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByTestId("sign-in-button").click();
    await page.getByTestId("access-table").waitFor({ timeout: 60_000 });
    await page.locator("tbody tr details summary").first().click();
    expect(await axeViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await axeViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 900 });
    for (const [who, ready] of [
      ["MRN1001", "tamper-notice"],
      ["northwind-assurance", "summaries"],
    ] as const) {
      await page.getByTestId("sign-out").click();
      await page.getByLabel("Identity bundle file").setInputFiles(join(demo.dir, `${who}.custos-id`));
      await page.getByLabel("Passphrase").fill(PASSPHRASE);
      await page.getByTestId("sign-in-button").click();
      await page.getByTestId(ready).waitFor({ timeout: 60_000 });
      expect(await axeViolations(page)).toEqual([]);
    }
    await context.close();
  });

  it("signs in and pages through the timeline with the keyboard alone", async () => {
    const context = await newContext();
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
    for (let i = 0; i < 250 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await next.evaluate((button) => button === document.activeElement);
    }
    expect(reached).toBe(true);
    await page.keyboard.press("Enter");
    await expect.poll(() => position.textContent()).not.toBe(first);
    await context.close();
  });
});
