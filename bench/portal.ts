// The browser portal with 10,000 entries: a patient with a 10,000-access history signs in in Debian's
// Chromium (playwright-core, no download) against a real `custos serve`; the page fetches every
// page, verifies the inclusion proofs, the trail's hash chain and each content hash, unwraps and decrypts each record
// (the SDK's own code, on @noble), and renders. Measured: sign-in to all rows shown, filtering and
// paging the loaded rows, and the page's JavaScript heap.

import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { portalCertificateFingerprint } from "../src/identity/portal-certificate.js";
import { accessRecord, createBenchDeployment, HOT_PATIENT, PASSPHRASE } from "./service-deployment.js";
import { percentile } from "./stats.js";
import type { BenchRow } from "./types.js";

const CHROMIUM = process.env.CUSTOS_CHROMIUM ?? "/usr/bin/chromium";

export async function benchPortal(scale: number): Promise<BenchRow[]> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(
      `portal benchmark skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)\n`,
    );
    return [];
  }
  const entries = Math.max(500, Math.round(10_000 * scale));
  const deployment = await createBenchDeployment();
  let node: Awaited<ReturnType<typeof deployment.start>> | undefined;
  let browser: Browser | undefined;
  try {
    await deployment.ingestLocally(
      (function* () {
        for (let k = 0; k < entries; k++) yield accessRecord(k, HOT_PATIENT, "portal");
      })(),
      5_000,
      2,
    );
    node = await deployment.start(["--portal", "127.0.0.1:0", "--rate", "1000000"]);
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
        // Trust exactly the portal's self-signed certificate.
        `--ignore-certificate-errors-spki-list=${portalCertificateFingerprint(deployment.data)}`,
      ],
    });
    const url = `https://127.0.0.1:${node!.portalPort}/`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.getByLabel("Identity bundle file").setInputFiles(deployment.bundleFile("patient"));
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    const table = page.getByTestId("access-table");
    const t0 = performance.now();
    await page.getByTestId("sign-in-button").click();
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="access-table"]')?.getAttribute("data-rows") === String(n),
      entries,
      { timeout: 300_000, polling: 50 },
    );
    const loadSeconds = (performance.now() - t0) / 1000;
    if ((await page.getByTestId("verification-problem").count()) > 0)
      throw new Error(
        `the page reports a verification problem: ${await page.getByTestId("verification-problem").textContent()}`,
      );

    // Filtering and paging the loaded rows, timed in the page: from the input event to the next
    // animation frame after the view re-rendered (Playwright's own actionability checks excluded).
    const action = await page.getByLabel("Action").first().elementHandle();
    const filterMs: number[] = [];
    for (const choice of ["print", "query", "copy", "change", "", "delete", ""]) {
      const before = await table.getAttribute("data-rows");
      filterMs.push(
        await action!.evaluate(async (element, value) => {
          const select = element as HTMLSelectElement;
          const t = performance.now();
          select.value = value;
          select.dispatchEvent(new Event("input", { bubbles: true }));
          select.dispatchEvent(new Event("change", { bubbles: true }));
          await new Promise((resolve) => requestAnimationFrame(resolve));
          return performance.now() - t;
        }, choice),
      );
      if ((await table.getAttribute("data-rows")) === before && choice !== "")
        throw new Error(`filtering by "${choice}" did not change the table`);
    }
    const next = await page.getByRole("button", { name: "Next page" }).first().elementHandle();
    const position = page.getByTestId("pager-position").first();
    const pageMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const before = await position.textContent();
      pageMs.push(
        await next!.evaluate(async (button) => {
          const t = performance.now();
          (button as HTMLButtonElement).click();
          await new Promise((resolve) => requestAnimationFrame(resolve));
          return performance.now() - t;
        }),
      );
      if ((await position.textContent()) === before) throw new Error("the next page did not show");
    }
    const heap = await page.evaluate(
      () => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0,
    );
    await context.close();
    const n = entries.toLocaleString("en-US");
    return [
      {
        name: `portal: sign in to ${n} verified, decrypted rows shown`,
        value: Number(loadSeconds.toFixed(2)),
        unit: "s",
        goal: "<= 10 s",
        met: loadSeconds <= 10,
      },
      {
        name: `portal: filter ${n} loaded rows, p95`,
        value: Number(percentile(filterMs, 95).toFixed(1)),
        unit: "ms",
        goal: "<= 100 ms",
        met: percentile(filterMs, 95) <= 100,
      },
      {
        name: `portal: next page of ${n} loaded rows, p95`,
        value: Number(percentile(pageMs, 95).toFixed(1)),
        unit: "ms",
        goal: "<= 100 ms",
        met: percentile(pageMs, 95) <= 100,
      },
      {
        name: `portal: page JavaScript heap with ${n} rows`,
        value: Math.round(heap / 2 ** 20),
        unit: "MiB",
      },
    ];
  } finally {
    await browser?.close();
    await node?.stop();
    await deployment.cleanup();
  }
}
