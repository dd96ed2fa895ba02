import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/custos.js", import.meta.url));

/** Runs the CLI with its standard output closed by the reader before it writes (as `| head` does). */
function runWithClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
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
});
