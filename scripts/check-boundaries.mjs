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
//  3. The package root (src/index.ts, the SDK's surface "custos") sits above every layer: no area imports
//     it. It is the one aggregator that may pick single modules of an area, but only modules the area's
//     own index.ts re-exports (it publishes nothing an area keeps internal), and its import closure loads
//     no store driver or server (DRIVERS). Why not the areas' index.ts: client/index.ts and
//     identity/index.ts carry the deployment, its stores and the admin client, so `import "custos"` would
//     load better-sqlite3 and pg; the SDK's surface is the reader, the client and the bundle only.
// Type-only imports count too: a type is part of the surface it comes from. A relative import that names
// no file is an error too (it would escape the rules).
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
  /^src\/index\.ts$/,
];

/** Packages the SDK's surface (src/index.ts) must not load: store drivers, the HSM binding, the server. */
const DRIVERS = ["better-sqlite3", "pg", "pkcs11js", "fastify"];
const PACKAGE_ROOT = "src/index.ts";

/** package.json `imports`: what each `#name` resolves to, by condition. */
const PACKAGE_IMPORTS = { "#platform": ["src/core/runtime/node.ts", "src/core/runtime/browser.ts"] };

const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
];

/** The package root's files (src/index.ts): above every layer. */
const ROOT_AREA = "(package root)";
const levelOf = new Map([
  ...LAYERS.flatMap((layer, level) => layer.map((area) => [area, level])),
  [ROOT_AREA, LAYERS.length],
]);

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

const areaOf = (path) =>
  /^src\/([^/]+)\//.exec(path)?.[1] ?? (/^src\/[^/]+$/.test(path) ? ROOT_AREA : undefined);

/** Specifiers of the imports that load a module at run time (`import type`, `{ type A, type B }` erased). */
function runtimeSpecifiers(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|\s)\/\/.*$/gm, "$1");
  const typeOnly = (clause) =>
    /^type\s/.test(clause) ||
    (/^\{[\s\S]*\}$/.test(clause) &&
      clause
        .slice(1, -1)
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name !== "")
        .every((name) => name.startsWith("type ")));
  const statics = [...code.matchAll(/\b(?:import|export)\s([^;]*?)\sfrom\s*["']([^"']+)["']/g)]
    .filter((m) => !typeOnly(m[1].trim()))
    .map((m) => m[2]);
  return [
    ...statics,
    ...IMPORT_PATTERNS.slice(1).flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1])),
  ];
}

/** A package import's name (`@scope/name` or `name`), or undefined for a relative or `#` import. */
function packageName(specifier) {
  if (specifier.startsWith(".") || specifier.startsWith("#") || specifier.startsWith("node:"))
    return undefined;
  return specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");
}

/** The modules an area's index.ts re-exports from: what the package root may pick one by one. */
function reexported(root, area) {
  const index = join(root, "src", area, "index.ts");
  if (!existsSync(index)) return new Set();
  const text = readFileSync(index, "utf8");
  return new Set(specifiers(text).flatMap((specifier) => resolveImport(root, index, specifier) ?? []));
}

/** Rule 3's second half: what the package root loads at run time, followed through, loads no DRIVERS. */
function driversOfPackageRoot(root) {
  const start = join(root, PACKAGE_ROOT);
  if (!existsSync(start)) return [];
  const found = [];
  const seen = new Set([start]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    for (const specifier of runtimeSpecifiers(readFileSync(file, "utf8"))) {
      const name = packageName(specifier);
      if (name !== undefined && DRIVERS.includes(name))
        found.push(
          `no-driver-in-package-surface: ${PACKAGE_ROOT} loads ${name} (imported by ${relative(root, file).split(sep).join("/")})`,
        );
      for (const to of resolveImport(root, file, specifier) ?? []) {
        const path = join(root, to);
        if (!seen.has(path)) {
          seen.add(path);
          queue.push(path);
        }
      }
    }
  }
  return found;
}

export function checkBoundaries(root) {
  const violations = [];
  const picked = new Map();
  const mayPick = (area, to) => {
    if (!picked.has(area)) picked.set(area, reexported(root, area));
    return picked.get(area).has(to);
  };
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
        const surface = SURFACES.some((pattern) => pattern.test(to));
        if (!surface && !(fromArea === ROOT_AREA && mayPick(toArea, to)))
          violations.push(`no-reach-into-internals: ${from} → ${to}`);
        const [a, b] = [levelOf.get(fromArea), levelOf.get(toArea)];
        if (a !== undefined && b !== undefined && b >= a)
          violations.push(`no-upward-import: ${from} → ${to}`);
      }
    }
  }
  violations.push(...driversOfPackageRoot(root));
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
