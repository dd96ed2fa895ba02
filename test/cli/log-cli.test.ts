import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, utf8 } from "../../src/core/bytes.js";
import { encodeDataEntry } from "../../src/core/entry/index.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../../src/core/merkle/index.js";
import { tempDir } from "../helpers/temp.js";
import { runCli } from "./run-cli.js";

let root: { dir: string; cleanup: () => void };
let data: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  root = tempDir("custos-cli-");
  data = join(root.dir, "log");
  env = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") };
});
afterAll(() => root.cleanup());

describe("custos log and verify, as a user runs them", () => {
  it("creates a log", () => {
    const result = runCli(["log", "init", "--data", data, "--origin", "cli.custos.example/log"], { env });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("verifier key: cli.custos.example/log+");
    expect(existsSync(join(data, "custos.db"))).toBe(true);
  });

  it("refuses to create a second log in the same directory", () => {
    const result = runCli(["log", "init", "--data", data], { env });
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim()).toMatch(/^error: .*already holds a Custos log$/);
  });

  it("appends lines from stdin and prints their indexes", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n");
    const result = runCli(["log", "append", "--data", data], { env, input: `${lines}\n` });
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });

  it("rejects NDJSON with a bad line and appends nothing", () => {
    const result = runCli(["log", "append", "--data", data, "--format", "ndjson"], {
      env,
      input: '{"a":1}\nnot json\n',
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe("error: line 2 is not valid JSON; nothing was appended");
    const ok = runCli(["log", "append", "--data", data, "--format", "ndjson", "--json"], {
      env,
      input: '{"a":1}\n',
    });
    expect(JSON.parse(ok.stdout).index).toBe(100);
  });

  it("refuses to append without a master key and says how to provide one", () => {
    const result = runCli(["log", "append", "--data", data], { input: "x\n" });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("CUSTOS_MASTER_KEY");
    expect(result.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("proves an entry in C2SP tlog-proof form and as JSON that verifies", () => {
    const text = runCli(["log", "prove", "--data", data, "--index", "42"]);
    expect(text.status).toBe(0);
    expect(text.stdout.startsWith("c2sp.org/tlog-proof@v1\nindex 42\n")).toBe(true);
    const json = JSON.parse(runCli(["log", "prove", "--data", data, "--index", "42", "--json"]).stdout);
    const leaf = leafHash(encodeDataEntry(utf8("line 42")));
    expect(json.leafHash).toBe(Buffer.from(leaf).toString("base64"));
    expect(verifyInclusion(leaf, 42, json.size, json.proof.map(fromBase64), fromBase64(json.rootHash))).toBe(
      true,
    );
  });

  it("prints a consistency proof that verifies", () => {
    const json = JSON.parse(
      runCli(["log", "consistency", "--data", data, "--from", "7", "--to", "101", "--json"]).stdout,
    );
    expect(
      verifyConsistency(
        7,
        101,
        json.proof.map(fromBase64),
        fromBase64(json.oldRoot),
        fromBase64(json.newRoot),
      ),
    ).toBe(true);
  });

  it("gives one-line errors for bad arguments", () => {
    for (const args of [
      ["log", "prove", "--data", data, "--index", "-1"],
      ["log", "prove", "--data", data, "--index", "abc"],
      ["log", "prove", "--data", data, "--index", "5000"],
      ["log", "consistency", "--data", data, "--from", "9", "--to", "3"],
      ["verify", "--data", join(root.dir, "nowhere")],
      ["log", "frobnicate"],
    ]) {
      const result = runCli(args, { env });
      expect(result.status, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/^error: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("prints help for every command", () => {
    for (const args of [["--help"], ["log", "--help"], ["log", "append", "--help"], ["verify", "--help"]]) {
      const result = runCli(args);
      expect(result.status, args.join(" ")).toBe(0);
      expect(result.stdout).toContain("Usage: custos");
    }
  });

  it("verifies a clean log with exit 0, and an edited one with exit 1 naming the entry", () => {
    const clean = runCli(["verify", "--data", data]);
    expect(clean.status).toBe(0);
    expect(clean.stdout).toContain("OK: no tampering found");

    const db = new Database(join(data, "custos.db"));
    db.prepare("UPDATE entries SET data = ? WHERE idx = 17").run(encodeDataEntry(utf8("line 17 edited")));
    db.close();
    const tampered = runCli(["verify", "--data", data, "--json"]);
    expect(tampered.status).toBe(1);
    const report = JSON.parse(tampered.stdout);
    expect(report.ok).toBe(false);
    expect(report.findings[0]).toMatchObject({ code: "ENTRY_MODIFIED", firstIndex: 17, lastIndex: 17 });
    const words = runCli(["verify", "--data", data]);
    expect(words.stdout).toContain("entry 17 was modified");
  });

  it("reports a corrupt database file with a one-line error", () => {
    const bad = join(root.dir, "corrupt");
    runCli(["log", "init", "--data", bad], { env });
    writeFileSync(join(bad, "custos.db"), "this is not a database");
    const result = runCli(["verify", "--data", bad]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: /);
  });
});
