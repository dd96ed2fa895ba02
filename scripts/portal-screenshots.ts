// Screenshots the portal as a person sees it, on a laptop and a phone-sized screen: the sign-in
// page, then (with a bundle and passphrase) the signed-in view. Uses Debian's Chromium through
// playwright-core (no browser download). Prints the page's console errors, CSP violations included.
//
//   npx tsx scripts/portal-screenshots.ts --url https://localhost:8443/ --bundle alice.bundle.json \
//     --passphrase '...' [--out test-artifacts/portal] [--serve dist/portal]
//
// --serve DIR serves a built portal over plain HTTP on a free local port instead of --url (the page
// alone, without a node behind it).

import { createReadStream, existsSync, mkdirSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SIZES = [
  { name: "laptop", width: 1280, height: 800 },
  { name: "phone", width: 375, height: 740 },
] as const;
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".svg": "image/svg+xml",
};
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'";

function serve(dir: string): Promise<{ server: Server; url: string }> {
  const root = resolve(dir);
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    let file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || statSync(file).isDirectory())
      file = join(root, "index.html");
    response.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-security-policy": CSP,
    });
    createReadStream(file).pipe(response);
  });
  return new Promise((done) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      done({ server, url: `http://127.0.0.1:${port}/` });
    }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      serve: { type: "string" },
      bundle: { type: "string" },
      passphrase: { type: "string" },
      out: { type: "string", default: "test-artifacts/portal" },
    },
  });
  if (!values.url && !values.serve) throw new Error("give --url of a running portal or --serve DIR");
  const served = values.serve ? await serve(values.serve) : undefined;
  const url = served?.url ?? values.url!;
  const out = values.out!;
  mkdirSync(out, { recursive: true });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    for (const size of SIZES) {
      const context = await browser.newContext({
        viewport: { width: size.width, height: size.height },
        ignoreHTTPSErrors: true,
      });
      const page = await context.newPage();
      page.on("console", (message) => {
        if (message.type() === "error") console.error(`[${size.name}] console: ${message.text()}`);
      });
      page.on("pageerror", (error) => console.error(`[${size.name}] page error: ${error.message}`));
      await page.goto(url);
      await page.getByTestId("sign-in-heading").waitFor();
      await page.screenshot({ path: join(out, `sign-in-${size.name}.png`), fullPage: true });
      if (values.bundle && values.passphrase !== undefined) {
        await page.locator("#bundle-file").setInputFiles(values.bundle);
        await page.getByLabel("Passphrase").fill(values.passphrase);
        await page.getByRole("button", { name: "Sign in" }).click();
        const signedIn = page.locator('[data-testid$="-view-heading"]');
        const refused = page.getByTestId("sign-in-error");
        await signedIn.or(refused).first().waitFor({ timeout: 120_000 });
        if (await refused.isVisible()) {
          console.error(`[${size.name}] sign-in refused: ${await refused.innerText()}`);
        } else {
          await page.locator(".loading").first().waitFor({ state: "detached", timeout: 120_000 });
          const view = (await signedIn.getAttribute("data-testid"))?.replace("-heading", "") ?? "view";
          await page.screenshot({ path: join(out, `${view}-${size.name}.png`), fullPage: true });
          console.log(`[${size.name}] ${await page.getByTestId("verification-status").innerText()}`);
        }
      }
      await context.close();
    }
  } finally {
    await browser.close();
    served?.server.close();
  }
  console.log(`screenshots in ${out}`);
}

main().catch((error: unknown) => {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
