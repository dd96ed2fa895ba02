// The "before" of a before/after figure: the sources of the commit issue 25's work started from,
// extracted once into a temp directory (git archive), so a bench can import the old code beside the
// new and measure both in the same run, on the same machine load. The old tree resolves its
// dependencies and the platform seam (`#platform`, dist/core/runtime) from this worktree's
// node_modules and dist, which `npm run bench` builds first.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** main when issue 25's read-side work began. */
export const BASELINE_COMMIT = "8004eb98c0d1fb3a17fe09c59e9a120456b331fd";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

function baselineDir(): string {
  const dir = join(tmpdir(), `custos-bench-baseline-${BASELINE_COMMIT.slice(0, 12)}`);
  if (existsSync(join(dir, "src"))) return dir;
  const partial = `${dir}.${process.pid}`;
  mkdirSync(partial, { recursive: true });
  const archive = execFileSync("git", ["-C", ROOT, "archive", BASELINE_COMMIT, "src", "package.json"], {
    maxBuffer: 1 << 30,
  });
  execFileSync("tar", ["-x", "-C", partial], { input: archive });
  symlinkSync(join(ROOT, "node_modules"), join(partial, "node_modules"));
  symlinkSync(join(ROOT, "dist"), join(partial, "dist"));
  renameSync(partial, dir);
  return dir;
}

/** Imports a module of the baseline's sources, e.g. "src/client/trail-page.ts". */
export async function importBaseline<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(baselineDir(), path)).href)) as T;
}
