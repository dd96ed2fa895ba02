// Builds the browser portal into dist/portal/, served by `custos serve` under a strict CSP
// (script-src 'self', style-src 'self'): no inline scripts or styles, hashed assets only.
// The page imports the SDK's TypeScript from ../src with `.js` specifiers; Vite resolves them to `.ts`.

import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "./",
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  // custos-source: the platform seam (package.json "imports" #platform) from the sources, browser side.
  resolve: { conditions: ["custos-source", "browser", "module", "import", "default"] },
  build: {
    outDir: fileURLToPath(new URL("../dist/portal", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    // Data URIs for fonts or scripts would fall outside the CSP; keep every asset a file.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
    // One bundle on purpose: sign-in already needs the verifier, X.509 and record code (~160 kB gzip).
    chunkSizeWarningLimit: 1024,
  },
});
