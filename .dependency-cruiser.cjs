// The architecture's two boundary rules, run by `npm run lint` (dependency-cruiser over src/):
//  1. An area is entered through its public surface: from src/A, a module of another area B may be
//     imported only as src/B/index.ts, src/B/SUB/index.ts (a sub-folder's own surface, such as
//     core/merkle, crypto/hpke or ledger/postgres), or src/B/browser.ts (the part of B's surface that
//     runs in a browser, re-exported by its index.ts; the SDK's reader and the portal import that one so
//     the bundle takes no node-only module). Everything else in B is B's internals.
//  2. Imports flow down the layers below (the README's "Layout" states the same order): an area may
//     import only areas of a lower layer, never one of its own layer or above.
// Type-only imports count too: a type is part of the surface it comes from. src/index.ts is no area:
// like an area's index.ts it is a surface (the package's, "custos"), and it names the modules it
// re-exports so that importing the SDK loads the client and not every area behind the client's index.

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

/**
 * The files through which another area may enter an area; the last is the platform seam, which
 * `#platform` (package.json `imports`) resolves to by condition.
 */
const SURFACES = [
  "^src/[^/]+/index\\.ts$",
  "^src/[^/]+/[^/]+/index\\.ts$",
  "^src/[^/]+/browser\\.ts$",
  "^src/core/runtime/(node|browser)\\.ts$",
];

/**
 * Known exceptions, each `{ from: "<path pattern>", reason: "..." }`: modules whose imports the rules
 * skip, with the reason. Empty: the tree keeps both rules.
 */
const KNOWN_EXCEPTIONS = [];

const exceptionPaths = KNOWN_EXCEPTIONS.map((exception) => exception.from);

const upwardRules = LAYERS.flatMap((layer, level) => {
  const notBelow = LAYERS.slice(level).flat();
  return layer.map((area) => ({
    name: "no-upward-import",
    comment:
      `src/${area} sits in layer ${level} (${LAYERS.map((l) => l.join("/")).join(" <- ")}); ` +
      `it may import only areas of a lower layer, not ${notBelow.filter((a) => a !== area).join(", ")}`,
    severity: "error",
    from: { path: `^src/${area}/`, pathNot: exceptionPaths },
    to: { path: `^src/(${notBelow.filter((a) => a !== area).join("|")})/` },
  }));
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-reach-into-internals",
      comment:
        "another area is entered only through src/AREA/index.ts, src/AREA/SUB/index.ts or src/AREA/browser.ts; " +
        "export what you need from that index.ts and import it from there",
      severity: "error",
      from: { path: "^src/([^/]+)/", pathNot: exceptionPaths },
      to: {
        path: "^src/[^/]+/",
        pathNot: ["^src/$1/", ...SURFACES],
      },
    },
    ...upwardRules,
    {
      name: "no-unresolvable-import",
      comment: "an import the rules cannot follow would escape them; fix the path",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    includeOnly: "^src/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      extensions: [".ts", ".js"],
      conditionNames: ["node", "import", "default"],
    },
    reporterOptions: { text: { highlightFocused: false } },
  },
};
