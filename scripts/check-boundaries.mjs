#!/usr/bin/env node
// The architecture's two boundary rules, run by `npm run lint` over src/ (no dependency: the platform
// reads the files, a few patterns find the imports):
//  1. An area is entered through its public surface: from src/A, a module of another area B may be
//     imported only as src/B/index.ts, src/B/SUB/index.ts (a sub-folder's own surface, such as
//     core/merkle, crypto/hpke or ledger/postgres), or src/B/browser.ts (the part of B's surface that
//     runs in a browser, re-exported by its index.ts; the SDK's reader and the portal import that one so
//     the bundle takes no node-only module). Everything else in B is B's internals.
//  2. Imports flow down the layers below (the README's "Layout" states the same order): an area may
//     import only areas of a lower layer, never one of its own layer or above.
// Type-only imports count too: a type is part of the surface it comes from. src/index.ts is no area:
// like an area's index.ts it is a surface (the package's, "custos"). A relative import that names no
// file is an error too (it would escape the rules).
// Usage: node scripts/check-boundaries.mjs [ROOT]; exit 1 and one line per violation when any.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/** Lowest first; the areas of one layer do not import one another. */
const LAYERS = [
  ["core"],
  ["crypto"],
  ["ledger"],
  ["records"],
  ["identity"],
  ["atna", "import", "witness"],
  ["client", "service"],
  ["backup", "fhir-gateway", "mirror"],
  ["node"],
  ["cli"],
];

/** The files through which another area may enter an area (the last: the `#platform` seam's targets). */
const SURFACES = [
  /^src\/[^/]+\/index\.ts$/,
  /^src\/[^/]+\/[^/]+\/index\.ts$/,
  /^src\/[^/]+\/browser\.ts$/,
  /^src\/core\/runtime\/(node|browser)\.ts$/,
];

/** package.json `imports`: what each `#name` resolves to, by condition. */
const PACKAGE_IMPORTS = { "#platform": ["src/core/runtime/node.ts", "src/core/runtime/browser.ts"] };

const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
];

const levelOf = new Map(LAYERS.flatMap((layer, level) => layer.map((area) => [area, level])));

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

function specifiers(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|\s)\/\/.*$/gm, "$1");
  return IMPORT_PATTERNS.flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1]));
}

/** The repository-relative paths an import names, or undefined when it names no file. */
function resolveImport(root, from, specifier) {
  if (specifier in PACKAGE_IMPORTS) return PACKAGE_IMPORTS[specifier];
  if (!specifier.startsWith(".")) return []; // a package or node: module, outside the rules
  const base = resolve(dirname(from), specifier);
  const candidates = [
    base.replace(/\.js$/, ".ts"),
    base.replace(/\.js$/, ".tsx"),
    base,
    join(base, "index.ts"),
  ];
  const found = candidates.find((path) => existsSync(path) && statSync(path).isFile());
  return found === undefined ? undefined : [relative(root, found).split(sep).join("/")];
}

const areaOf = (path) => /^src\/([^/]+)\//.exec(path)?.[1];

export function checkBoundaries(root) {
  const violations = [];
  for (const file of sourceFiles(join(root, "src"))) {
    const from = relative(root, file).split(sep).join("/");
    const fromArea = areaOf(from);
    for (const specifier of specifiers(readFileSync(file, "utf8"))) {
      const targets = resolveImport(root, file, specifier);
      if (targets === undefined) {
        violations.push(`no-unresolvable-import: ${from} → ${specifier}`);
        continue;
      }
      for (const to of targets) {
        const toArea = areaOf(to);
        if (fromArea === undefined || toArea === undefined || toArea === fromArea) continue;
        if (!SURFACES.some((surface) => surface.test(to)))
          violations.push(`no-reach-into-internals: ${from} → ${to}`);
        const [a, b] = [levelOf.get(fromArea), levelOf.get(toArea)];
        if (a !== undefined && b !== undefined && b >= a)
          violations.push(`no-upward-import: ${from} → ${to}`);
      }
    }
  }
  return violations;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const violations = checkBoundaries(resolve(process.argv[2] ?? "."));
  for (const line of violations) console.error(`  error ${line}`);
  if (violations.length > 0) {
    console.error(`\nx ${violations.length} dependency violations`);
    process.exit(1);
  }
  console.log("✔ no dependency violations found");
}
