import { execFile } from "node:child_process";
import { appendFileSync, cpSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";

// The boundary rules of scripts/check-boundaries.mjs (run by `npm run lint`): another area is entered only
// through its index.ts (or a sub-folder's index.ts, or its browser.ts), and imports flow down the
// README's layers; the package root (src/index.ts) picks only modules an area's index.ts re-exports, no
// area imports it, and what it loads at run time loads no store driver. The rules run here as lint runs
// them, on the real tree and on copies with planted violations, so a rule that stopped matching (a
// resolver change, a bad pattern) fails a test.

const ROOT = resolve(import.meta.dirname, "../..");
const CHECK = join(ROOT, "scripts/check-boundaries.mjs");
const run = promisify(execFile);

async function cruise(cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CHECK, "."], {
      cwd,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

function copyTree(dir: string): void {
  for (const name of ["src", "tsconfig.json", "package.json"]) {
    cpSync(join(ROOT, name), join(dir, name), { recursive: true });
  }
}

describe("area boundaries", () => {
  const copy = tempDir("custos-boundaries-");
  const rootCopy = tempDir("custos-boundaries-root-");
  afterAll(() => {
    copy.cleanup();
    rootCopy.cleanup();
  });

  it("the tree keeps both rules", async () => {
    const { code, output } = await cruise(ROOT);
    expect(output).toContain("no dependency violations found");
    expect(code).toBe(0);
  }, 180_000);

  it("fails on an upward import and on an import into another area's internals, naming each", async () => {
    copyTree(copy.dir);
    // ledger sits below records: even through records' public surface this import points upward.
    writeFileSync(
      join(copy.dir, "src/ledger/planted-upward.ts"),
      'import { Vault } from "../records/index.js";\n\nexport const planted = Vault;\n',
    );
    // records may use the ledger, but only through src/ledger/index.ts, not its data-dir module.
    writeFileSync(
      join(copy.dir, "src/records/planted-internals.ts"),
      'import { openStore } from "../ledger/data-dir.js";\n\nexport const planted = openStore;\n',
    );

    const { code, output } = await cruise(copy.dir);
    expect(code).not.toBe(0);
    expect(output).toContain("no-upward-import: src/ledger/planted-upward.ts → src/records/index.ts");
    expect(output).toContain(
      "no-reach-into-internals: src/records/planted-internals.ts → src/ledger/data-dir.ts",
    );
    expect(output).toContain("2 dependency violations");
  }, 180_000);

  it("holds the package root to its rule: picks only what areas publish, loads no driver, imported by none", async () => {
    copyTree(rootCopy.dir);
    // client/client-state.ts is not re-exported by src/client/index.ts: the package root may not publish it.
    // The identity area's surface is allowed, but Deployment brings the stores (better-sqlite3, pg).
    appendFileSync(
      join(rootCopy.dir, "src/index.ts"),
      'export { ClientState } from "./client/client-state.js";\nexport { Deployment } from "./identity/index.js";\n',
    );
    // No area imports the package root: it sits above every layer.
    writeFileSync(
      join(rootCopy.dir, "src/core/planted-root.ts"),
      'import { CustosClient } from "../index.js";\n\nexport const planted = CustosClient;\n',
    );

    const { code, output } = await cruise(rootCopy.dir);
    expect(code).not.toBe(0);
    expect(output).toContain("no-reach-into-internals: src/index.ts → src/client/client-state.ts");
    expect(output).toMatch(
      /no-driver-in-package-surface: src\/index\.ts loads better-sqlite3 \(imported by src\/ledger\//,
    );
    expect(output).toMatch(
      /no-driver-in-package-surface: src\/index\.ts loads pg \(imported by src\/ledger\//,
    );
    expect(output).toContain("no-upward-import: src/core/planted-root.ts → src/index.ts");
    expect(output).not.toContain("src/index.ts → src/client/custos-client.ts");
  }, 180_000);
});
