// The SDK as a user gets it: `npm pack` of this repository, the tarball installed in a new project,
// both entry points imported by a real Node process, and the examples of docs/sdk.md run as written
// (the second against a real `custos serve`). Needs `npm run build` first (the package ships dist/).

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { tempDir } from "../helpers/temp.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const temp = tempDir("custos-package-");
const project = join(temp.dir, "project");
let installed: string;

/** The fenced ```js blocks of docs/sdk.md, in order. */
function examples(): string[] {
  const text = readFileSync(join(REPO, "docs/sdk.md"), "utf8");
  return [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function node(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, args, {
    cwd: project,
    env: { PATH: process.env.PATH, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

beforeAll(() => {
  if (!existsSync(join(REPO, "dist/index.js")) || !existsSync(join(REPO, "dist/core/index.js"))) {
    throw new Error("dist/index.js or dist/core/index.js is missing: run `npm run build` first");
  }
  const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", temp.dir], {
    cwd: REPO,
    encoding: "utf8",
  });
  const tarball = join(temp.dir, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "sdk-user", private: true, type: "module" }),
  );
  // Install scripts are skipped on purpose: the SDK must not need better-sqlite3's native addon
  // (only the node's storage does), so a user without a compiler can still use it.
  execFileSync(
    "npm",
    ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline", tarball],
    { cwd: project, encoding: "utf8", timeout: 300_000 },
  );
  installed = join(project, "node_modules/custos");
}, 360_000);

afterAll(() => temp.cleanup());

describe("the packed SDK", () => {
  it("installs from its tarball and both entry points import in a new Node process", () => {
    const script = `
      import * as sdk from "custos";
      import * as core from "custos/core";
      const names = ["CustosClient", "TrailReader", "VerificationError", "Identity", "readBundle",
        "verifyInclusion", "verifyConsistency", "signNote", "openNote", "leafHash", "rootFromLeafHashes",
        "AuditRecordSchema", "CustosError", "ERROR_CODES"];
      const coreNames = names.slice(5);
      const missing = [...names.filter((n) => !(n in sdk)), ...coreNames.filter((n) => !(n in core)).map((n) => "core." + n)];
      const error = new sdk.CustosError("BAD_PROOF", "x");
      console.log(JSON.stringify({ missing, sameClass: error instanceof core.CustosError,
        codes: sdk.ERROR_CODES.includes("BAD_PROOF"), client: "CustosClient" in core }));
    `;
    const run = node(["--input-type=module", "-e", script]);
    expect(run.status, run.out).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ missing: [], sameClass: true, codes: true, client: false });
    // The types the package promises exist too.
    expect(existsSync(join(installed, "dist/index.d.ts"))).toBe(true);
    expect(existsSync(join(installed, "dist/core/index.d.ts"))).toBe(true);
  });

  it("keeps custos/core free of node: imports, so browsers can bundle it", () => {
    const seen = new Set<string>();
    const platform = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s*"([^"]+)"|import\s*"([^"]+)"/g)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith(".")) walk(resolve(dirname(file), spec));
        else if (spec.startsWith("node:")) platform.add(`${file}: ${spec}`);
      }
    };
    walk(join(installed, "dist/core/index.js"));
    expect(seen.size).toBeGreaterThan(10);
    expect([...platform]).toEqual([]);
  });

  it("runs the opening example of docs/sdk.md as written", () => {
    writeFileSync(join(project, "verify.mjs"), examples()[0]!);
    const run = node(["verify.mjs"]);
    expect(run.status, run.out).toBe(0);
    expect(run.out).toBe(
      "entry 1 is in the log: true\na forged entry is in the log: false\nan altered checkpoint is refused: BAD_SIGNATURE\n",
    );
  });

  describe("against a real node", () => {
    let env: TestDeployment;
    beforeAll(async () => {
      env = await createTestDeployment({
        people: [
          ["node", "n1"],
          ["ehr-source", "emr"],
          ["patient", "P7"],
          ["custodian", "privacy"],
        ],
      });
      await env.start();
    }, 120_000);
    afterAll(async () => env?.cleanup());

    it("runs the trail example of docs/sdk.md as written", async () => {
      const { CustosClient } = await import("../../src/client/custos-client.js");
      const emr = new CustosClient({
        url: `https://127.0.0.1:${env.apiPort}`,
        identity: env.identity("ehr-source/emr"),
      });
      const results = await emr.submit([
        { time: "2026-11-02T09:15:00Z", patientId: "P7", userId: "dr-lee", action: "query" },
        { time: "2026-11-02T10:40:00Z", patientId: "P7", userId: "nurse-kim", action: "print" },
      ]);
      await emr.waitForCheckpoint(Math.max(...results.map((r) => r.index)) + 1);

      writeFileSync(join(project, "trail.mjs"), examples()[1]!);
      const run = node(["trail.mjs"], {
        CUSTOS_BUNDLE: join(env.root, "P7.custos-id"),
        CUSTOS_BUNDLE_PASSPHRASE: PASS,
        CUSTOS_URL: `https://127.0.0.1:${env.apiPort}`,
      });
      expect(run.status, run.out).toBe(0);
      expect(run.out).toBe(
        "2026-11-02T10:40:00.000Z nurse-kim print\n2026-11-02T09:15:00.000Z dr-lee query\n",
      );
      expect(existsSync(join(project, "custos-state.json"))).toBe(true);
    }, 120_000);
  });
});
