import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";

const BIN = fileURLToPath(new URL("../../bin/custos.js", import.meta.url));

/** Runs the CLI with its standard output closed by the reader before it writes (as `| head` does). */
function runWithClosedStdout(
  args: readonly string[],
  options: { readonly stdin?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.env ? { env: options.env } : {}),
    });
    child.stdout.destroy();
    child.stdin.end(options.stdin);
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

describe("custos with its output piped into a reader that stops early", () => {
  it("ends quietly with status 0 instead of a stack trace on EPIPE", async () => {
    for (const args of [["--help"], ["log", "--help"], ["--version"]]) {
      const { code, stderr } = await runWithClosedStdout(args);
      expect(stderr, `custos ${args.join(" ")}`).toBe("");
      expect(code, `custos ${args.join(" ")}`).toBe(0);
    }
  });

  it("ends quietly when a long output (an index per appended entry) meets the closed pipe", async () => {
    const root = tempDir("custos-broken-pipe-");
    try {
      const env = { ...process.env, CUSTOS_MASTER_KEY: Buffer.alloc(32, 3).toString("base64") };
      const data = join(root.dir, "log");
      const init = spawnSync(
        process.execPath,
        [BIN, "log", "init", "--data", data, "--origin", "pipe.example/log"],
        {
          env,
          encoding: "utf8",
        },
      );
      expect(init.status, init.stderr).toBe(0);
      // Far more than a pipe's buffer (64 KiB) of output: one index per line.
      const entries = Array.from({ length: 30_000 }, (_, i) => `entry ${i}`).join("\n");
      const { code, stderr } = await runWithClosedStdout(["log", "append", "--data", data], {
        stdin: `${entries}\n`,
        env,
      });
      expect(stderr).toBe("");
      expect(code).toBe(0);
    } finally {
      root.cleanup();
    }
  }, 60_000);
});
