// The screenshots in docs/portal/, taken from the real portal on a real node: the demo's deployment
// (test/portal/portal-demo.ts: the demo's story, both witnesses and `custos serve --portal` as
// processes, the settings from `custos portal config`), read with Debian's Chromium at a desktop and a
// phone size as a patient, an audit company, a patient whose trail an attacker edited, and the
// privacy office (its key audit).
//
//   npm run screenshots            (builds first; writes docs/portal/*.png)
//   npx tsx scripts/portal-docs-screenshots.ts --out DIR

import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium, type Page } from "playwright-core";
import {
  CHROMIUM,
  chromiumArgs,
  PASSPHRASE,
  ROOT,
  startDemo,
  stopProcesses,
} from "../test/portal/portal-demo.js";

const SIZES = [
  { name: "desktop", width: 1280, height: 900 },
  { name: "phone", width: 390, height: 844 },
] as const;

/** Who signs in, what shows they are ready, and where the screenshot starts. */
const VIEWS = [
  { name: "patient", who: "MRN1002", ready: '[data-testid="own-reads"]', state: "ok" },
  { name: "auditor", who: "northwind-assurance", ready: '[data-testid="per-user-table"]', state: "forked" },
  { name: "tamper", who: "MRN1001", ready: '[data-testid="tamper-notice"]', state: "tampered" },
  {
    name: "privacy-office",
    who: "privacy-office",
    ready: '[data-testid="key-audit-table"]',
    state: "unverified",
  },
] as const;

async function signIn(page: Page, url: string, dir: string, who: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Identity bundle file").setInputFiles(join(dir, `${who}.custos-id`));
  await page.getByLabel("Passphrase").fill(PASSPHRASE);
  await page.getByTestId("sign-in-button").click();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: "string", default: join(ROOT, "docs/portal") } } });
  const out = values.out!;
  if (!existsSync(join(ROOT, "dist/portal/index.html")))
    throw new Error("the portal is not built: npm run build");
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "custos-screenshots-"));
  const processes: ChildProcess[] = [];
  try {
    const demo = await startDemo(join(work, "demo"), processes);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: chromiumArgs(demo.fingerprint),
    });
    try {
      for (const size of SIZES) {
        const context = await browser.newContext({
          viewport: { width: size.width, height: size.height },
          locale: "en-GB",
          timezoneId: "America/New_York",
          deviceScaleFactor: 1,
        });
        const page = await context.newPage();
        await page.goto(demo.portal);
        await page.getByTestId("sign-in-heading").waitFor();
        await page.waitForFunction(() => document.querySelector("h1")?.textContent?.includes("Hospital"));
        await page.screenshot({ path: join(out, `sign-in-${size.name}.png`) });
        for (const view of VIEWS) {
          await signIn(page, demo.portal, demo.dir, view.who);
          await page.waitForSelector(view.ready, { timeout: 120_000 });
          await page.waitForSelector(`[data-testid="verification-status"][data-state="${view.state}"]`, {
            timeout: 120_000,
          });
          await page.evaluate(() => window.scrollTo(0, 0));
          await page.screenshot({ path: join(out, `${view.name}-${size.name}.png`) });
          process.stdout.write(`${join(out, `${view.name}-${size.name}.png`)}\n`);
          await page.getByTestId("sign-out").click();
          await page.getByTestId("sign-in-heading").waitFor();
        }
        await context.close();
      }
    } finally {
      await browser.close();
    }
  } finally {
    await stopProcesses(processes);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
