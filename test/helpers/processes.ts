// Real `custos` processes for fault tests: each started process is tracked so a test can kill -9 it at
// any point and, in afterAll, kill every one still running whatever happened. Waits are conditions
// with deadlines, never fixed sleeps.

import { type ChildProcess, spawn } from "node:child_process";
import { BIN } from "./deployment.js";

export interface CustosProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once the output contains `text`; rejects if the process exits first or time runs out. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** True once the process has exited (or was killed). */
  readonly exited: boolean;
  /** Sends `signal` and resolves once the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface ProcessGroup {
  start(name: string, args: readonly string[], env: NodeJS.ProcessEnv): CustosProcess;
  /** Runs `custos args` to completion without blocking the event loop (load keeps running). */
  run(
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    timeoutMs?: number,
  ): Promise<{ status: number; stdout: string; stderr: string }>;
  /** SIGKILLs every process still running and waits for each to go. */
  killAll(): Promise<void>;
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export function processGroup(): ProcessGroup {
  const children = new Set<ChildProcess>();
  return {
    start(name, args, env) {
      const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
      children.add(child);
      let out = "";
      child.stdout!.on("data", (chunk) => {
        out += chunk;
      });
      child.stderr!.on("data", (chunk) => {
        out += chunk;
      });
      const exited = exitOf(child);
      return {
        name,
        child,
        output: () => out,
        get exited() {
          return child.exitCode !== null || child.signalCode !== null;
        },
        waitFor(text, timeoutMs = 30_000) {
          const seen = () => (typeof text === "string" ? out.includes(text) : text.test(out));
          return new Promise<void>((resolve, reject) => {
            const deadline = Date.now() + timeoutMs;
            const poll = () => {
              if (seen()) resolve();
              else if (child.exitCode !== null || child.signalCode !== null)
                reject(
                  new Error(
                    `${name} exited (${child.exitCode ?? child.signalCode}) before "${text}": ${out}`,
                  ),
                );
              else if (Date.now() > deadline)
                reject(new Error(`${name}: no "${text}" in ${timeoutMs} ms: ${out}`));
              else setTimeout(poll, 25);
            };
            poll();
          });
        },
        async kill(signal) {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      };
    },
    run(args, env, timeoutMs = 120_000) {
      const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
      children.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (chunk) => {
        stdout += chunk;
      });
      child.stderr!.on("data", (chunk) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      return new Promise((resolve) => {
        child.once("close", (code, signal) => {
          clearTimeout(timer);
          children.delete(child);
          resolve({ status: code ?? (signal ? -1 : 0), stdout, stderr });
        });
      });
    },
    async killAll() {
      const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
      for (const child of alive) child.kill("SIGKILL");
      await Promise.all(alive.map(exitOf));
      children.clear();
    },
  };
}

/** Thrown from an `eventually` check when waiting longer cannot help (a process died). */
export class GiveUp extends Error {}

/**
 * Retries `check` until it returns without throwing, or throws its last error after the deadline; a
 * GiveUp is thrown at once.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 30_000,
  pauseMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      if (Date.now() > deadline)
        throw new Error(`${what} (gave up after ${timeoutMs} ms): ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
